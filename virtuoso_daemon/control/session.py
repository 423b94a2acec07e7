"""One client connection: read requests, run commands, write replies and events.

* Requests are read in 64 KiB chunks and split into lines (at most
  :data:`protocol.MAX_LINE` bytes each; a longer one gets a ``frame_too_large`` reply
  and the connection is closed). A bad line gets an error reply; the session goes on.
* Commands run concurrently (at most :data:`MAX_INFLIGHT` per client, then reading
  pauses); replies carry the request's id.
* Everything outbound goes through one small bounded queue to one writer task, which
  joins whatever is queued into one write. A client that stops reading therefore
  stalls only its own writer and pumps; its subscriptions then drop (counted, told).
* End of input (e.g. ``socat`` after its last line) finishes the commands in flight and
  flushes their replies (bounded by :data:`FLUSH_TIMEOUT`) before closing; a daemon
  shutdown flushes what is queued and says ``_bye``.
"""

from __future__ import annotations

import itertools
import logging
import socket
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from virtuoso_daemon.control.peers import PeerCred
from virtuoso_daemon.control.registry import CommandFailed, CommandSpec, Context, FrameError, codec
from virtuoso_daemon.control.subscriptions import Subscriptions
from virtuoso_daemon.protocol import (
    BYE_TOPIC,
    HELLO_TOPIC,
    MAX_LINE,
    Bye,
    ErrorCode,
    ErrorInfo,
    ErrorReply,
    Event,
    FrameTooLarge,
    LineBuffer,
    Reply,
    encode_frame,
    raw_socket,
    receive_some,
)

if TYPE_CHECKING:
    from virtuoso_daemon.control.server import ControlActor

log = logging.getLogger("virtuoso.control")

MAX_INFLIGHT = 16  # concurrent commands per client
OUT_QUEUE = 16  # queued outbound chunks per client (each up to one event batch)
WRITE_MAX = 256 * 1024  # bytes joined into one write
FLUSH_TIMEOUT = 5.0  # seconds to flush replies after the client's end of input
BYE_TIMEOUT = 0.5  # seconds to flush and say goodbye when the daemon stops


class Session:
    """The state of one connection; see the module docstring for its life cycle."""

    _ids = itertools.count(1)

    def __init__(
        self, server: ControlActor, stream: anyio.abc.SocketStream, peer: PeerCred
    ) -> None:
        self.server = server
        self.stream = stream
        self.sock: socket.socket = raw_socket(stream)
        self.peer = peer
        self.id = next(self._ids)
        self.connected_at = time.time()
        self.subs = Subscriptions(self)
        self.commands = 0
        self.events_sent = 0
        self.peer_gone = False
        self._out_send, self._out_recv = anyio.create_memory_object_stream[bytes](OUT_QUEUE)
        self._inflight = anyio.Semaphore(MAX_INFLIGHT)
        self._tg: anyio.abc.TaskGroup | None = None
        self._writer_done = anyio.Event()
        self._unsent: memoryview | None = None  # a write interrupted part-way

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pid": self.peer.pid,
            "uid": self.peer.uid,
            "connected_at": self.connected_at,
            "commands": self.commands,
            "events_sent": self.events_sent,
            "dropped": self.subs.dropped(),
            "subscriptions": sorted(self.subs.active),
        }

    def spawn(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Run a task for as long as this session lives (subscription pumps)."""
        assert self._tg is not None
        self._tg.start_soon(fn, *args)

    async def send(self, data: bytes) -> None:
        """Queue bytes (whole lines) for the writer; a closing session ignores them."""
        try:
            await self._out_send.send(data)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    async def send_frame(self, frame: Any) -> None:
        await self.send(encode_frame(frame))

    # -- life cycle ---------------------------------------------------------------------

    async def run(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self._writer)
                await self.send_frame(Event(topic=HELLO_TOPIC, data=self.server.hello()))
                abort = await self._serve_requests()
                self.subs.close_all()
                if abort is not None:
                    await self.send_frame(abort)
                self._out_send.close()
                with anyio.move_on_after(FLUSH_TIMEOUT):
                    await self._writer_done.wait()
                tg.cancel_scope.cancel()
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._farewell("shutdown")
            raise
        finally:
            self.subs.close_all()
            self._out_send.close()
            self._out_recv.close()
            with anyio.CancelScope(shield=True):
                await self.stream.aclose()

    async def _serve_requests(self) -> ErrorReply | None:
        """Read until end of input; returns a final error frame if the client must go."""
        lines = LineBuffer(MAX_LINE)
        requests = codec()
        abort: ErrorReply | None = None
        async with anyio.create_task_group() as commands:
            while abort is None:
                try:
                    chunk = await receive_some(self.sock)
                except OSError:  # reset by the peer: the same as its end of input
                    chunk = b""
                if not chunk:
                    break
                try:
                    batch = lines.feed(chunk)
                except FrameTooLarge:
                    self.server.counters["oversized"] += 1
                    commands.cancel_scope.cancel()
                    abort = _error(
                        None,
                        ErrorCode.FRAME_TOO_LARGE,
                        f"a frame is limited to {MAX_LINE} bytes; closing the connection",
                    )
                    break
                for raw in batch:
                    line = raw.strip()
                    if not line:
                        continue
                    try:
                        spec, req = requests.decode(line)
                    except FrameError as exc:
                        self.server.counters["bad_frames"] += 1
                        await self.send_frame(_error(exc.request_id, exc.code, exc.message))
                        continue
                    await self._inflight.acquire()
                    commands.start_soon(self._execute, spec, req, name=f"control:{spec.name}")
        return abort

    async def _execute(self, spec: CommandSpec, req: Any) -> None:
        ctx = Context(self.server.runtime, self, req.id)
        self.commands += 1
        self.server.counters["commands"] += 1
        started = time.perf_counter()
        outcome: str = "ok"
        try:
            try:
                data = encode_frame(Reply(id=req.id, result=await spec.handler(ctx, req.args)))
            except CommandFailed as exc:
                self.server.counters["failed"] += 1
                outcome = exc.code
                data = encode_frame(_error(req.id, exc.code, exc.message))
            except Exception:
                self.server.counters["failed"] += 1
                outcome = ErrorCode.INTERNAL
                log.exception("control command %s failed", spec.name)
                data = encode_frame(
                    _error(
                        req.id,
                        ErrorCode.INTERNAL,
                        f"{spec.name} failed unexpectedly; the daemon log has the details",
                    )
                )
            self.server.recorder(spec.name).observe(outcome, time.perf_counter() - started)
            await self.send(data)
            for fn in ctx._after_reply:
                fn()
        finally:
            self._inflight.release()

    # -- writing ------------------------------------------------------------------------

    async def _writer(self) -> None:
        recv = self._out_recv
        try:
            async for chunk in recv:
                parts, size = [chunk], len(chunk)
                while size < WRITE_MAX:
                    try:
                        more = recv.receive_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                    parts.append(more)
                    size += len(more)
                await self._write(parts[0] if len(parts) == 1 else b"".join(parts))
        except OSError:
            self.peer_gone = True
            assert self._tg is not None
            self._tg.cancel_scope.cancel()
        finally:
            self._writer_done.set()

    async def _write(self, data: bytes) -> None:
        """Write on the raw socket, remembering what is unsent if cancelled part-way."""
        view = self._unsent = memoryview(data)
        while view:
            try:
                view = self._unsent = view[self.sock.send(view) :]
            except BlockingIOError:
                await anyio.wait_writable(self.sock)
        self._unsent = None

    async def _farewell(self, reason: str) -> None:
        """The daemon is stopping: flush what is queued, say ``_bye``, within a deadline."""
        if self.peer_gone:
            return
        parts = [bytes(self._unsent)] if self._unsent else []
        while True:
            try:
                parts.append(self._out_recv.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
        parts.append(encode_frame(Event(topic=BYE_TOPIC, data=Bye(reason=reason))))
        with anyio.move_on_after(BYE_TIMEOUT):
            try:
                await self._write(b"".join(parts))
            except OSError:
                pass


def _error(request_id: Any, code: str, message: str) -> ErrorReply:
    return ErrorReply(id=request_id, error=ErrorInfo(code=code, message=message))
