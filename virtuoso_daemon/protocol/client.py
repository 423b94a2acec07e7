"""A control-socket client: :class:`ControlClient`, plus what scripts want on top.

``virtuoso-ctl``, the TUI, the tests and the benchmarks use :class:`ControlClient`
(request/reply with ids, subscriptions, the greeting and version check). On top: a
one-shot :func:`request`, and :class:`RawConnection`, line-level access that sends
any bytes at all (for testing how the daemon copes with hostile input) and reads
frames as plain dicts.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import msgspec

from virtuoso_daemon.core.config import default_socket_path
from virtuoso_daemon.protocol.errors import (
    CommandError,
    CommandTimeout,
    ConnectionClosed,
    ControlError,
    DaemonUnreachable,
    FrameTooLarge,
    ProtocolError,
)
from virtuoso_daemon.protocol.frames import (
    HELLO_TOPIC,
    PROTOCOL_VERSION,
    ErrorInfo,
    Event,
    Hello,
    Request,
    _any_decoder,
    _event_decoder,
    _frame_decoder,
    _ServerFrame,
    decode_event_data,
    encode_frame,
)
from virtuoso_daemon.protocol.stream import LineBuffer, raw_socket, receive_some, send_all

log = logging.getLogger("virtuoso.protocol")


# --- client ---------------------------------------------------------------------------


@dataclass(eq=False)
class _Pending:
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Any = None
    error: ControlError | None = None


class ControlClient:
    """An anyio client: concurrent calls matched by id, events on an async iterator.

    Use it as ``async with ControlClient.connect(path) as client:``, or, when the
    connection must outlive one block or be closed from another task (an app's
    reconnect loop), ``client = await ControlClient.open(path)``, run
    ``client.run()`` in a task, and ``await client.aclose()``. ``call`` may be used
    from several tasks at once. Events (``subscribe`` first) are read with
    ``async for event in client.events()``; if they are not consumed, the bounded
    event buffer fills, reading stops, and the daemon starts dropping (and counting,
    and telling with ``_dropped``) this client's events rather than slowing down.
    When the daemon goes away, pending calls and ``events()`` raise
    :class:`ConnectionClosed`.
    """

    def __init__(
        self, stream: anyio.abc.SocketStream, *, timeout: float = 10.0, event_buffer: int = 10_000
    ) -> None:
        self._stream = stream
        self._sock = raw_socket(stream)
        self.timeout = timeout
        self.hello: Hello | None = None
        self._lines = LineBuffer()
        self._backlog: list[bytes] = []
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._send_lock = anyio.Lock()
        self._events_send, self._events_recv = anyio.create_memory_object_stream[Event](
            event_buffer
        )
        self._closed: ControlError | None = None
        self._closing = False
        self._stream_closed = False
        self.server_error: ErrorInfo | None = None  # a connection-level error (id null)

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        path: str | Path | None = None,
        *,
        timeout: float = 10.0,
        event_buffer: int = 10_000,
    ) -> AsyncIterator[ControlClient]:
        """Connect, check the greeting, and read frames in a task for the body's duration."""
        client = await cls.open(path, timeout=timeout, event_buffer=event_buffer)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.run)
                try:
                    yield client
                finally:
                    client._closing = True
                    tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # run() never raises, so this is the body's own exception: hand it back as
            # it was raised (``except CommandError`` around the block must still work)
            if len(group.exceptions) == 1:
                raise group.exceptions[0]  # noqa: B904 (re-raised as is, cause kept)
            raise
        finally:
            await client.aclose()

    @classmethod
    async def open(
        cls,
        path: str | Path | None = None,
        *,
        timeout: float = 10.0,
        event_buffer: int = 10_000,
    ) -> ControlClient:
        """Connect and check the greeting; then run :meth:`run` in a task of your choice
        (e.g. a TUI worker) and :meth:`aclose` when done. :meth:`connect` does all that."""
        sock = Path(path) if path is not None else default_socket_path()
        try:
            with anyio.fail_after(timeout):
                stream = await anyio.connect_unix(sock)
        except TimeoutError:
            raise DaemonUnreachable(f"{sock}: no answer within {timeout:g}s") from None
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise DaemonUnreachable(f"{sock}: {reason} (is the daemon running?)") from None
        client = cls(stream, timeout=timeout, event_buffer=event_buffer)
        try:
            try:
                with anyio.fail_after(timeout):
                    client.hello = await client._read_hello(sock)
            except TimeoutError:
                raise DaemonUnreachable(f"{sock}: no greeting within {timeout:g}s") from None
            if client.hello.protocol != PROTOCOL_VERSION:
                raise DaemonUnreachable(
                    f"{sock}: daemon speaks protocol {client.hello.protocol}, "
                    f"this client {PROTOCOL_VERSION}"
                )
        except BaseException:
            await client.aclose()
            raise
        return client

    async def run(self) -> None:
        """Read replies and events until the connection ends (or :meth:`aclose`)."""
        await self._reader()

    async def aclose(self) -> None:
        """Close the connection (from any task); pending calls raise ConnectionClosed."""
        self._closing = True
        self._close(ConnectionClosed("client closed the connection"))
        self._events_recv.close()
        if not self._stream_closed:
            self._stream_closed = True
            anyio.notify_closing(self._sock)  # wakes a run() waiting in another task
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()

    # -- reading -------------------------------------------------------------------

    async def _read_hello(self, sock: Path) -> Hello:
        while not self._backlog:
            try:
                chunk = await receive_some(self._sock)
            except OSError:
                chunk = b""
            if not chunk:
                raise DaemonUnreachable(f"{sock}: the daemon closed the connection")
            try:
                self._backlog = [line for line in self._lines.feed(chunk) if line.strip()]
            except FrameTooLarge:
                raise DaemonUnreachable(f"{sock}: not a virtuoso control socket") from None
        try:
            first = _frame_decoder.decode(self._backlog.pop(0))
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            raise DaemonUnreachable(f"{sock}: not a virtuoso control socket") from None
        if first.error is not None:
            raise DaemonUnreachable(f"{sock}: refused: {first.error.code}: {first.error.message}")
        data = decode_event_data(first.data) if first.topic else None
        if first.topic != HELLO_TOPIC or not isinstance(data, Hello):
            raise DaemonUnreachable(f"{sock}: not a virtuoso control socket")
        return data

    async def _reader(self) -> None:
        reason: ControlError = ConnectionClosed("the daemon closed the connection")
        try:
            for line in self._backlog:
                await self._dispatch(line)
            self._backlog = []
            while True:
                try:
                    chunk = await receive_some(self._sock)
                except OSError:
                    break
                if not chunk:
                    break
                for line in self._lines.feed(chunk):
                    await self._dispatch(line)
        except (ProtocolError, msgspec.DecodeError) as exc:
            reason = ProtocolError(f"bad frame from the daemon: {exc}")
        except anyio.ClosedResourceError:
            pass  # events consumer closed its end: we are shutting down
        if self.server_error is not None:
            reason = ConnectionClosed(f"{self.server_error.code}: {self.server_error.message}")
        self._close(reason)

    async def _dispatch(self, line: bytes) -> None:
        event: Event | None = None
        if line.startswith(b'{"topic":'):  # the server writes events topic-first
            try:
                typed = _event_decoder.decode(line)
                event = Event(topic=typed.topic, data=typed.data)
            except (msgspec.ValidationError, msgspec.DecodeError):
                pass  # an untyped payload: the general path below
        if event is None:
            if not line.strip():
                return
            frame = _frame_decoder.decode(line)
            if frame.topic is None:
                self._reply(frame)
                return
            event = Event(topic=frame.topic, data=decode_event_data(frame.data))
        try:
            self._events_send.send_nowait(event)
        except anyio.WouldBlock:  # the consumer is behind: wait (the daemon drops, not us)
            await self._events_send.send(event)

    def _reply(self, frame: _ServerFrame) -> None:
        pending = self._pending.get(frame.id) if isinstance(frame.id, int) else None
        if frame.ok is False and frame.error is not None:
            if pending is None:
                self.server_error = frame.error
            else:
                pending.error = CommandError(frame.error.code, frame.error.message)
                pending.done.set()
        elif pending is not None:
            pending.result = _any_decoder.decode(frame.result) if len(frame.result) else None
            pending.done.set()

    def _close(self, reason: ControlError) -> None:
        if self._closed is None:
            self._closed = reason
        for pending in self._pending.values():
            if not pending.done.is_set():
                pending.error = self._closed
                pending.done.set()
        self._events_send.close()

    # -- API -----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed is not None

    async def call(
        self,
        cmd: str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Send ``cmd`` and return its result; raises :class:`CommandError` on ``ok: false``.

        Keyword arguments whose value is ``None`` are left out ("not given"); pass
        ``args={...}`` to send an explicit null.
        """
        if self._closed is not None:
            raise self._closed
        payload = {**(args or {}), **{k: v for k, v in kwargs.items() if v is not None}}
        rid = next(self._ids)
        pending = self._pending[rid] = _Pending()
        limit = self.timeout if timeout is None else timeout
        try:
            with anyio.fail_after(limit):
                await self.send_raw(encode_frame(Request(id=rid, cmd=cmd, args=payload)))
                await pending.done.wait()
        except TimeoutError:
            raise CommandTimeout(f"no reply to {cmd!r} within {limit:g}s") from None
        finally:
            self._pending.pop(rid, None)
        if pending.error is not None:
            raise pending.error
        return pending.result

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (tests and tools; frames must end with ``\\n``)."""
        try:
            async with self._send_lock:
                await send_all(self._sock, data)
        except OSError:
            self._close(ConnectionClosed("the daemon closed the connection"))
            raise self._closed or ConnectionClosed("closed") from None

    async def subscribe(
        self, *topics: str, throttle_ms: int | None = None, **filters: Any
    ) -> dict[str, Any]:
        """Subscribe to topics; filters: ``exchange``, ``symbols``, ``timeframes``, ``level``."""
        result: dict[str, Any] = await self.call(
            "subscribe", topics=list(topics), throttle_ms=throttle_ms, **filters
        )
        return result

    async def unsubscribe(self, *topics: str) -> dict[str, Any]:
        """Unsubscribe from ``topics`` (all when none are given)."""
        result: dict[str, Any] = await self.call("unsubscribe", topics=list(topics))
        return result

    async def events(self) -> AsyncIterator[Event]:
        """Every event in arrival order; raises :class:`ConnectionClosed` if the daemon goes."""
        try:
            async for event in self._events_recv:
                yield event
        except anyio.ClosedResourceError:  # aclose() from another task
            return
        if self._closed is not None and not self._closing:
            raise self._closed

    async def event_batches(self, max_batch: int = 1000) -> AsyncIterator[list[Event]]:
        """Events in lists of whatever has arrived (at least one): one loop iteration per
        batch instead of per event, for consumers that render at their own pace."""
        while True:
            try:
                batch = [await self._events_recv.receive()]
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                break
            while len(batch) < max_batch:
                try:
                    batch.append(self._events_recv.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                    break
            yield batch
        if self._closed is not None and not self._closing:
            raise self._closed

    async def next_event(self, timeout: float | None = None) -> Event:
        """The next event (raises ``TimeoutError`` after ``timeout`` seconds)."""
        with anyio.fail_after(self.timeout if timeout is None else timeout):
            try:
                return await self._events_recv.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                raise self._closed or ConnectionClosed("closed") from None


async def request(
    cmd: str,
    args: dict[str, Any] | None = None,
    *,
    path: str | Path | None = None,
    timeout: float = 10.0,
) -> Any:
    """Connect, send one command, return its result (raises like ``ControlClient.call``)."""
    async with ControlClient.connect(path, timeout=timeout) as client:
        return await client.call(cmd, args, timeout=timeout)


class RawConnection:
    """An unvalidated connection: bytes out, frames (plain dicts) in."""

    def __init__(self, stream: anyio.abc.SocketStream, max_line: int) -> None:
        self.stream = stream
        self.sock = raw_socket(stream)
        self._lines = LineBuffer(max_line)
        self._frames: list[bytes] = []
        self.eof = False

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, path: str | Path | None = None, *, max_line: int = 64 << 20
    ) -> AsyncIterator[RawConnection]:
        stream = await anyio.connect_unix(path if path is not None else default_socket_path())
        try:
            yield cls(stream, max_line)
        finally:
            with anyio.CancelScope(shield=True):
                await stream.aclose()

    async def send(self, data: bytes) -> None:
        """Write bytes as they are; ``OSError`` if the daemon has closed the connection."""
        await send_all(self.sock, data)

    async def send_frame(self, frame: Any) -> None:
        await self.send(msgspec.json.encode(frame) + b"\n")

    async def frame(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame; raises :class:`ConnectionClosed` at end of stream."""
        with anyio.fail_after(timeout):
            while not self._frames:
                if self.eof:
                    raise ConnectionClosed("end of stream")
                try:
                    chunk = await receive_some(self.sock)
                except OSError:
                    chunk = b""
                if not chunk:
                    self.eof = True
                    continue
                self._frames += [line for line in self._lines.feed(chunk) if line.strip()]
        value: dict[str, Any] = msgspec.json.decode(self._frames.pop(0))
        return value

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        """Skip frames until one matches (e.g. the reply to one id among events)."""
        with anyio.fail_after(timeout):
            while True:
                frame = await self.frame(timeout)
                if predicate(frame):
                    return frame

    async def reply(self, request_id: Any, timeout: float = 5.0) -> dict[str, Any]:
        return await self.until(lambda f: "ok" in f and f.get("id") == request_id, timeout)

    async def drain_to_eof(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Every frame until the daemon closes the connection."""
        frames: list[dict[str, Any]] = []
        with anyio.fail_after(timeout):
            while True:
                try:
                    frames.append(await self.frame(timeout))
                except ConnectionClosed:
                    return frames
