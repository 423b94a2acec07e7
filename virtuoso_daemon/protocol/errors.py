"""Errors a control client sees (the daemon's refusals, a lost connection, bad frames)."""

from __future__ import annotations

from virtuoso_daemon.protocol.frames import ErrorCode


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
