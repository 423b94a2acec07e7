"""Client conveniences over :class:`virtuoso_daemon.protocol.frames.ControlClient`.

The client itself lives in :mod:`virtuoso_daemon.protocol.frames`, because that is the one
daemon module the TUI may import. This module adds what scripts, ``virtuoso-ctl``,
the tests and the benchmark want on top: a one-shot :func:`request`, and
:class:`RawConnection`, line-level access that sends any bytes at all (for testing
how the daemon copes with hostile input) and reads frames as plain dicts.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import msgspec

from virtuoso_daemon.protocol.frames import (
    CommandError,
    ConnectionClosed,
    ControlClient,
    DaemonUnreachable,
    LineBuffer,
    default_socket_path,
    raw_socket,
    receive_some,
    send_all,
)

__all__ = [
    "CommandError",
    "ConnectionClosed",
    "ControlClient",
    "DaemonUnreachable",
    "RawConnection",
    "request",
]


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
