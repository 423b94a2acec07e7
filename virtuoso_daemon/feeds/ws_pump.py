"""A cheaper way for ccxt's websocket client to read its socket.

ccxt's ``Client.receive_loop`` (ccxt 4.5) reads one message per asyncio task: it
creates a task for ``connection.receive()``, handles the message in the task's done
callback and schedules itself again with ``call_soon``. When a burst is buffered it
drains all messages *but the last* synchronously, and the last one goes through the
task again. So the first and the last message of every burst each wait three or four
event-loop iterations, and every iteration also runs whatever the other sockets'
bursts cost. Measured on the simulator (82 markets, every stream every 0.25 s):
the last ticker of a chunk reached the feed 35-45 ms after the first, because the
kline and depth drains of the same tick ran in between (see docs/market.md).

:class:`PumpedClient` replaces that loop with one task per connection that awaits
``connection.receive()`` in a plain loop. While messages are buffered the await does
not suspend, so a burst is handled in one step, last message included, and the task
sleeps only when the socket has nothing more. After ``fair_share`` messages in a row
it yields once, so one busy socket cannot hold the event loop for long: a large
share for the latency-critical ticker connections (a whole universe of tickers in
one step), a small one for klines, books and trades (the HTTP API and the tickers
get a turn every few milliseconds of a kline burst).
Everything else (message handling, errors, close, pings) is ccxt's own code: the
loop calls ``handle_message``; on a read error it rejects the client's futures with
a ``NetworkError``, and when the connection is found closed it calls
``on_close(1006)``, exactly as ccxt's loop does.

:func:`install` makes a ccxt exchange instance build its websocket clients as
:class:`PumpedClient` (the class of each new client is switched on creation; the
subclass adds no state that ccxt's constructor would have to set).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ccxt.async_support.base.ws.client import Client
from ccxt.base.errors import NetworkError

log = logging.getLogger("virtuoso.feeds")

#: messages handled in a row before a pump lets other tasks run once
FAIR_SHARE = {"tickers": 512}
DEFAULT_FAIR_SHARE = 16


class PumpedClient(Client):
    """ccxt's websocket client with a one-task read loop (see the module docstring)."""

    def receive_loop(self) -> None:
        # ccxt calls this once the connection is up (and its own callbacks would call
        # it again after every message); start the pump once per connection
        pump = self.__dict__.get("_pump")
        if pump is not None and not pump.done():
            return
        self.__dict__["_pump"] = self.asyncio_loop.create_task(self._pump())

    async def _pump(self) -> None:
        handled = 0
        share = self.__dict__.get("_fair_share", DEFAULT_FAIR_SHARE)
        while not self.closed():
            try:
                message = await self.receive()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # what ccxt's receive loop does with a failed read
                self.reject(NetworkError(str(exc)))
                return
            self.handle_message(message)
            handled += 1
            if handled % share == 0:
                await asyncio.sleep(0)
        # the connection went away without a close frame (ccxt's loop does the same)
        self.on_close(1006)

    async def close(self, code: int = 1000) -> None:
        pump = self.__dict__.get("_pump")
        if pump is not None and not pump.done() and pump is not asyncio.current_task():
            pump.cancel()
        await super().close(code)


def install(ex: Any, kind: str | None = None) -> None:
    """Make ``ex`` (a ccxt.pro exchange instance for data ``kind``) use PumpedClient."""
    make_client = getattr(ex, "client", None)
    if make_client is None or getattr(make_client, "_pumped", False):
        return
    share = FAIR_SHARE.get(kind or "", DEFAULT_FAIR_SHARE)

    def client(url: str) -> Any:
        c = make_client(url)
        if type(c) is Client:
            c.__class__ = PumpedClient
            c.__dict__["_fair_share"] = share
        return c

    client._pumped = True  # type: ignore[attr-defined]
    ex.client = client
