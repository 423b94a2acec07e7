"""What the websocket hubs of both dialects share: per-connection send queues.

A hub queues each tick's frames per connection (``pending``, handed to a memory
stream); one writer task per connection sends them. A connection whose queue is
full is a slow consumer and is dropped abruptly, like on the real exchanges; a
clean close goes through the queue so it follows the frames already queued.
"""

from __future__ import annotations

import logging
from typing import Any, Generic, Protocol, TypeVar

import anyio
from aiohttp import WSMsgType, web

log = logging.getLogger("virtuoso.sim.ws")

_FULL = (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError)


class QueuedConn(Protocol):
    """The connection fields the fan-out uses (each hub's connection has more)."""

    id: int
    ws: web.WebSocketResponse
    send: Any  # anyio MemoryObjectSendStream[list[bytes] | None]
    transport: Any  # asyncio.Transport | None, to drop the connection abruptly
    pending: list[bytes]
    closing: bool


C = TypeVar("C", bound=QueuedConn)


class FanOut(Generic[C]):
    """Queueing, writing and closing for a hub's connections (``conns`` by id)."""

    conns: dict[int, C]
    messages_sent: int

    def _drop(self, conn: C) -> None:
        """Forget ``conn`` and its subscriptions (each hub knows its own)."""
        raise NotImplementedError

    def _command(self, conn: C, raw: str) -> None:
        """Handle one text frame from the client (each dialect its own protocol)."""
        raise NotImplementedError

    async def _pump(self, conn: C, recv: Any) -> None:
        """Send the queued frames while reading the client's, until it goes away."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._writer, conn, recv)
            async for msg in conn.ws:
                if msg.type == WSMsgType.TEXT:
                    self._command(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
            tg.cancel_scope.cancel()

    async def _writer(self, conn: C, recv: Any) -> None:
        ws = conn.ws
        async for batch in recv:
            if batch is None:
                await ws.close(code=1001, message=b"simulated close")
                return
            try:
                for frame in batch:
                    await ws.send_frame(frame, WSMsgType.TEXT)
            except (ConnectionError, RuntimeError):
                return
            self.messages_sent += len(batch)

    def _flush(self, conn: C) -> None:
        if conn.pending and not conn.closing:
            frames, conn.pending = conn.pending, []
            try:
                conn.send.send_nowait(frames)
            except _FULL:
                log.info("dropping slow websocket client %s", conn.id)
                self._abort(conn)

    def _abort(self, conn: C) -> None:
        conn.closing = True
        self._drop(conn)
        if conn.transport is not None:
            conn.transport.close()

    def _close(self, conn: C) -> None:
        if conn.closing:
            return
        conn.closing = True
        conn.pending = []
        try:
            conn.send.send_nowait(None)
        except _FULL:
            self._abort(conn)

    def send(self, batches: list[tuple[C, list[bytes]]]) -> None:
        """Queue prepared frames to each connection's writer (gone ones are skipped)."""
        for conn, frames in batches:
            if conn.closing or conn.id not in self.conns:
                continue
            conn.pending.extend(frames)
            self._flush(conn)

    async def close_all(self) -> None:
        for conn in list(self.conns.values()):
            with anyio.move_on_after(1):
                await conn.ws.close(code=1001, message=b"server shutdown")
