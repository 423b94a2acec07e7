"""The control-socket protocol: frames, codecs, and an anyio client.

This is the one daemon module the TUI imports (plus :mod:`virtuoso_daemon.core.messages` for
payload types), so everything a client needs lives here: the frame types, the
encoder/decoders (built once), the line splitter with its size limit, the error
types, and :class:`ControlClient`.

Wire format: UTF-8 JSON, one object per line (``\\n``; a trailing ``\\r`` and blank lines
are ignored, so ``socat - UNIX-CONNECT:$SOCK`` works by hand), at most :data:`MAX_LINE`
bytes per line::

    client -> server  {"id": 1, "cmd": "status", "args": {}}     (id and args optional)
    server -> client  {"id": 1, "ok": true, "result": ...}
                      {"id": 1, "ok": false, "error": {"code": "...", "message": "..."}}
                      {"topic": "tickers", "data": {"type": "Ticker", ...}}

The server greets every connection with a ``_hello`` event (protocol and daemon
version, commands, topics); a client may also send ``{"cmd": "hello", "args":
{"protocol": 1}}`` to check compatibility. Event payloads are tagged message structs
(``"type"`` names the class), so they decode into :mod:`messages` types. Topics that
start with ``_`` are the protocol's own: ``_hello``, ``_dropped`` (a slow client lost
events), ``_bye`` (the daemon is going away).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import msgspec

from virtuoso_daemon.core.config import default_socket_path
from virtuoso_daemon.core.messages import AnyMessage, Message

__all__ = [
    "BYE_TOPIC",
    "DROPPED_TOPIC",
    "HELLO_TOPIC",
    "MAX_LINE",
    "PROTOCOL_VERSION",
    "Bye",
    "CommandError",
    "CommandTimeout",
    "ConnectionClosed",
    "ControlClient",
    "ControlError",
    "DaemonUnreachable",
    "Dropped",
    "ErrorCode",
    "ErrorInfo",
    "ErrorReply",
    "Event",
    "FrameTooLarge",
    "Hello",
    "LineBuffer",
    "ProtocolError",
    "Reply",
    "Request",
    "default_socket_path",
    "encode_frame",
    "encode_frame_into",
]

log = logging.getLogger("virtuoso.protocol")

PROTOCOL_VERSION = 1
MAX_LINE = 1 << 20  # bytes per frame, either direction; longer closes the connection

HELLO_TOPIC = "_hello"
DROPPED_TOPIC = "_dropped"
BYE_TOPIC = "_bye"

RequestId = int | str | None


class ErrorCode:
    """Stable machine-readable error codes (actors may add their own, e.g. ``not_found``)."""

    BAD_FRAME = "bad_frame"  # not JSON, not an object, bad id/cmd type
    UNKNOWN_COMMAND = "unknown_command"
    BAD_ARGS = "bad_args"  # args failed validation (type, missing, unknown field)
    FRAME_TOO_LARGE = "frame_too_large"  # then the server closes the connection
    FORBIDDEN = "forbidden"  # peer uid/group not allowed; then closed
    BUSY = "busy"  # too many clients; then closed
    PROTOCOL_MISMATCH = "protocol_mismatch"
    NOT_AVAILABLE = "not_available"  # data not (yet) computed / feature not built
    UNAVAILABLE = "unavailable"  # no actor is serving the request right now
    TIMEOUT = "timeout"
    CONFIG_ERROR = "config_error"
    INTERNAL = "internal"  # a bug; details are in the daemon's log, not the reply


# --- frames ---------------------------------------------------------------------------


class Request(msgspec.Struct, frozen=True, kw_only=True):
    """What a client sends. The server decodes it as a union tagged on ``cmd``."""

    id: RequestId = None
    cmd: str
    args: dict[str, Any] = {}


class ErrorInfo(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """A successful response: ``{"id", "ok": true, "result"}``."""

    id: RequestId
    ok: bool = True
    result: Any = None


class ErrorReply(msgspec.Struct, frozen=True, kw_only=True):
    """A failed response: ``{"id", "ok": false, "error": {"code", "message"}}``."""

    id: RequestId
    ok: bool = False
    error: ErrorInfo


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """A subscription event (or one of the protocol's own ``_`` topics)."""

    topic: str
    data: Any


class Hello(Message, frozen=True, kw_only=True):
    """The server's greeting (``_hello`` event) and the ``hello`` command's result."""

    protocol: int
    server: str = "virtuoso"
    version: str
    pid: int
    commands: list[str] = []
    topics: list[str] = []
    max_line: int = MAX_LINE


class Dropped(Message, frozen=True, kw_only=True):
    """``_dropped``: this client was too slow and ``count`` events of ``topic`` were lost."""

    topic: str
    count: int
    total: int


class Bye(Message, frozen=True, kw_only=True):
    """``_bye``: the daemon is closing this connection (``reason``: shutdown, ...)."""

    reason: str


EventData = AnyMessage | Hello | Dropped | Bye

_encoder = msgspec.json.Encoder()


def encode_frame(frame: Any) -> bytes:
    """One frame as a line (JSON + ``\\n``)."""
    return _encoder.encode(frame) + b"\n"


def encode_frame_into(frame: Any, buf: bytearray) -> None:
    """Append one frame line to ``buf`` (batching many events into one write)."""
    _encoder.encode_into(frame, buf, -1)
    buf.append(10)


class _ServerFrame(msgspec.Struct, kw_only=True):
    """Everything the server can send, decoded in one pass; payloads stay raw."""

    id: Any = None
    ok: bool | None = None
    result: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    error: ErrorInfo | None = None
    topic: str | None = None
    data: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


class _TypedEvent(msgspec.Struct):
    """An event line whose payload is a known message: decoded in one pass."""

    topic: str
    data: EventData


_frame_decoder = msgspec.json.Decoder(_ServerFrame)
_event_decoder = msgspec.json.Decoder(_TypedEvent)
_data_decoder: msgspec.json.Decoder[EventData] = msgspec.json.Decoder(EventData)
_any_decoder = msgspec.json.Decoder()


def decode_event_data(raw: bytes | msgspec.Raw) -> Any:
    """A payload as its message type when it has a known ``type`` tag, else plain data."""
    try:
        return _data_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return _any_decoder.decode(raw)


# --- errors ---------------------------------------------------------------------------


class ControlError(Exception):
    """Base of every client-side error."""


class DaemonUnreachable(ControlError):
    """No daemon answers on the socket, or it refused this client (``virtuoso-ctl`` exit 3)."""


class ConnectionClosed(ControlError):
    """The connection ended while a call or subscription was using it."""


class ProtocolError(ControlError):
    """The peer sent something this protocol does not allow."""


class FrameTooLarge(ProtocolError):
    """A line exceeded :data:`MAX_LINE`."""


class CommandError(ControlError):
    """The daemon answered ``ok: false`` (``virtuoso-ctl`` exit 1)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class CommandTimeout(CommandError, TimeoutError):
    """No reply within the client's timeout."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.TIMEOUT, message)


# --- framing --------------------------------------------------------------------------


class LineBuffer:
    """Splits a byte stream into lines, refusing any longer than ``max_line`` bytes.

    Splitting a whole received chunk at once (rather than one ``find`` per line)
    keeps a subscriber reading tens of thousands of events a second cheap.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._partial = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Complete lines in ``data`` (without ``\\n``); raises :class:`FrameTooLarge`."""
        if b"\n" not in data:
            self._partial += data
            if len(self._partial) > self.max_line:
                raise FrameTooLarge(f"frame longer than {self.max_line} bytes")
            return []
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > self.max_line or any(len(x) > self.max_line for x in lines):
            raise FrameTooLarge(f"frame longer than {self.max_line} bytes")
        return lines

    @property
    def pending(self) -> int:
        return len(self._partial)


# --- socket I/O -----------------------------------------------------------------------
#
# Reads and writes go straight to the non-blocking socket, waiting with
# ``anyio.wait_readable``/``wait_writable``. (anyio's UNIX stream registers a bare
# ``Future.set_result`` as its reader callback, which logs ``InvalidStateError`` when a
# pending receive is cancelled just as data arrives: routine here, when a subscriber
# disconnects or the daemon stops.) Each call starts with a checkpoint, so a peer that
# keeps the socket busy cannot starve the event loop.


async def receive_some(sock: socket.socket, max_bytes: int = 65536) -> bytes:
    """What is available now, waiting for some; ``b""`` at end of stream."""
    await anyio.lowlevel.checkpoint()
    while True:
        try:
            return sock.recv(max_bytes)
        except BlockingIOError:
            try:
                await anyio.wait_readable(sock)
            except anyio.ClosedResourceError:  # closed by another task (notify_closing)
                return b""


async def send_all(sock: socket.socket, data: bytes) -> None:
    """Write all of ``data``, waiting for room; ``OSError`` if the peer is gone."""
    await anyio.lowlevel.checkpoint()
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view) :]
        except BlockingIOError:
            try:
                await anyio.wait_writable(sock)
            except anyio.ClosedResourceError:  # closed by another task (notify_closing)
                raise BrokenPipeError("the socket was closed") from None


def raw_socket(stream: anyio.abc.SocketStream) -> socket.socket:
    sock: socket.socket = stream.extra(anyio.abc.SocketAttribute.raw_socket)
    return sock


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
