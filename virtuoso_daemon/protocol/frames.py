"""The control-socket protocol: frames and codecs (what travels on the wire).

:mod:`virtuoso_daemon.protocol` (this package) is the one part of the daemon the TUI
imports (plus :mod:`virtuoso_daemon.core.messages` for payload types): frames and
codecs here, the error types in :mod:`.errors`, line framing and socket I/O in
:mod:`.stream`, and :class:`~.client.ControlClient` in :mod:`.client`.
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

import logging
from typing import Any

import msgspec

from virtuoso_daemon.core.messages import AnyMessage, Message

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
