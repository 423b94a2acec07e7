"""The control-socket protocol: the one part of the daemon a client (the TUI,
``virtuoso-ctl``, scripts) imports. Frames and codecs (:mod:`.frames`), errors
(:mod:`.errors`), line framing and socket I/O (:mod:`.stream`), the client
(:mod:`.client`)."""

from virtuoso_daemon.core.config import default_socket_path
from virtuoso_daemon.protocol.client import ControlClient, RawConnection, request
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
    BYE_TOPIC,
    DROPPED_TOPIC,
    HELLO_TOPIC,
    MAX_LINE,
    PROTOCOL_VERSION,
    Bye,
    Dropped,
    ErrorCode,
    ErrorInfo,
    ErrorReply,
    Event,
    Hello,
    Reply,
    Request,
    RequestId,
    decode_event_data,
    encode_frame,
    encode_frame_into,
)
from virtuoso_daemon.protocol.stream import LineBuffer, raw_socket, receive_some, send_all

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
    "RawConnection",
    "Reply",
    "Request",
    "RequestId",
    "decode_event_data",
    "default_socket_path",
    "encode_frame",
    "encode_frame_into",
    "raw_socket",
    "receive_some",
    "request",
    "send_all",
]
