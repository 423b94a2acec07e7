"""How the TUI talks to the daemon: a small client interface and its socket adapter.

The app never touches a socket itself. It is handed a :class:`DaemonClient` (the real
:class:`SocketClient` from the CLI; a fake in the snapshot tests) and only ever calls
``connect``, ``request``, ``subscribe``/``unsubscribe``, ``events`` and ``close``.
Losing the daemon is an ordinary event, not a crash: every call raises
:class:`Disconnected` once the connection is gone, and ``connect`` may be called again
to attach to a restarted daemon (the app's live loop does that with backoff, see
:mod:`tui.live`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from virtuoso_daemon import protocol


@dataclass(frozen=True, slots=True)
class Event:
    """One subscription event: the topic and its payload as the protocol decoded it
    (a :mod:`~virtuoso_daemon.core.messages` struct; plain data only for a payload
    whose type this client does not know)."""

    topic: str
    data: Any


class ClientError(Exception):
    """The daemon answered a request with an error (``code`` is machine-readable)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Disconnected(ClientError):
    """The daemon cannot be reached, or the connection to it was lost."""

    def __init__(self, message: str) -> None:
        super().__init__("disconnected", message)


@runtime_checkable
class DaemonClient(Protocol):
    """What the app needs from a connection to the daemon.

    * ``connect`` opens (or re-opens) the connection and returns the daemon's
      :class:`~virtuoso_daemon.protocol.Hello` (version, commands, topics ...); raises
      :class:`Disconnected` when no daemon answers.
    * ``request`` sends one command and returns its result; raises :class:`ClientError`
      for an error answer and :class:`Disconnected` when the connection is lost.
    * ``subscribe`` adds topics to this connection's event stream (tickers and other
      keyed topics optionally throttled and conflated by the daemon; filters such as
      ``exchange``, ``symbols``, ``level`` narrow them). Subscribing to a topic again
      replaces its previous filter. ``unsubscribe`` removes topics.
    * ``events`` yields every event of the connection in arrival order, typed, and raises
      :class:`Disconnected` when the connection is lost.
    * ``close`` closes the connection; safe to call twice. ``connect`` and ``close``
      are called from the same task (the live loop's).
    """

    @property
    def address(self) -> str: ...

    async def connect(self) -> protocol.Hello | None: ...

    async def request(
        self, cmd: str, args: Mapping[str, Any] | None = None, *, timeout: float = 10.0
    ) -> Any: ...

    async def subscribe(
        self, topics: Sequence[str], *, throttle_ms: int | None = None, **filters: Any
    ) -> Any: ...

    async def unsubscribe(self, topics: Sequence[str]) -> Any: ...

    def events(self) -> AsyncIterator[Event]: ...

    async def close(self) -> None: ...


class SocketClient:
    """The real client: :class:`~virtuoso_daemon.protocol.frames.ControlClient` behind this.

    The protocol module does the framing, the greeting and version check, request ids
    and the event buffer; this adapter only maps its errors onto :class:`ClientError` /
    :class:`Disconnected` and lets the app connect again after a loss.
    """

    def __init__(
        self, path: str | Path | None = None, *, timeout: float = 10.0, event_buffer: int = 20_000
    ) -> None:
        self.path = Path(path) if path is not None else protocol.default_socket_path()
        self.timeout = timeout
        self.event_buffer = event_buffer
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: protocol.ControlClient | None = None

    @property
    def address(self) -> str:
        return str(self.path)

    async def connect(self) -> protocol.Hello | None:
        await self.close()
        stack = contextlib.AsyncExitStack()
        try:
            client = await stack.enter_async_context(
                protocol.ControlClient.connect(
                    self.path, timeout=self.timeout, event_buffer=self.event_buffer
                )
            )
        except protocol.ControlError as exc:
            await stack.aclose()
            raise Disconnected(str(exc)) from None
        self._stack, self._client = stack, client
        return client.hello

    def _require(self) -> protocol.ControlClient:
        if self._client is None or self._client.closed:
            raise Disconnected("not connected to the daemon")
        return self._client

    async def request(
        self, cmd: str, args: Mapping[str, Any] | None = None, *, timeout: float = 10.0
    ) -> Any:
        client = self._require()
        try:
            return await client.call(cmd, dict(args or {}), timeout=timeout)
        except protocol.CommandError as exc:  # includes CommandTimeout
            raise ClientError(exc.code, exc.message) from None
        except protocol.ControlError as exc:
            raise Disconnected(str(exc)) from None

    async def subscribe(
        self, topics: Sequence[str], *, throttle_ms: int | None = None, **filters: Any
    ) -> Any:
        args: dict[str, Any] = {"topics": list(topics), **filters}
        if throttle_ms is not None:
            args["throttle_ms"] = throttle_ms
        return await self.request("subscribe", args)

    async def unsubscribe(self, topics: Sequence[str]) -> Any:
        return await self.request("unsubscribe", {"topics": list(topics)})

    async def events(self) -> AsyncIterator[Event]:
        client = self._require()
        try:
            async for ev in client.events():
                yield Event(ev.topic, ev.data)
        except protocol.ControlError as exc:
            raise Disconnected(str(exc)) from None
        raise Disconnected("the connection was closed")

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            with contextlib.suppress(Exception):
                await stack.aclose()
