"""Line framing with a size limit, and non-blocking socket reads and writes."""

from __future__ import annotations

import logging
import socket

import anyio
import anyio.abc
import anyio.lowlevel

from virtuoso_daemon.protocol.errors import FrameTooLarge
from virtuoso_daemon.protocol.frames import MAX_LINE

log = logging.getLogger("virtuoso.protocol")


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
