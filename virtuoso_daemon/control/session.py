"""One client connection: read requests, run commands, write replies and events.

* Requests are read in 64 KiB chunks and split into lines (at most
  :data:`protocol.MAX_LINE` bytes each; a longer one gets a ``frame_too_large`` reply
  and the connection is closed). A bad line gets an error reply; the session goes on.
* Commands run concurrently (at most :data:`MAX_INFLIGHT` per client, then reading
  pauses); replies carry the request's id.
* Everything outbound goes through one queue to one writer task, which joins whatever
  is queued into one write. The queue is bounded in bytes (``control.session_bytes``
  per client, ``control.total_bytes`` over all): replies wait for room; events wait
  up to :data:`EVENT_GRACE` (a burst to a client that reads is not lost), then are
  dropped until there is room again (counted, told with ``_dropped``), so a client
  that does not read holds neither its pumps nor a bus-queue backlog. A client that stops
  reading therefore stalls only its own writer; one that reads nothing for
  ``control.write_timeout`` while output waits is closed (its memory with it).
* A client without a subscription that sends nothing for ``control.idle_timeout`` is
  closed (``_bye``, reason ``idle``); when the socket is full the longest-idle such
  client is closed to make room for a new one (:meth:`Session.evictable`).
* End of input (e.g. ``socat`` after its last line) finishes the commands in flight and
  flushes their replies (bounded by :data:`FLUSH_TIMEOUT`) before closing; a daemon
  shutdown flushes what is queued and says ``_bye``.
"""

from __future__ import annotations

import itertools
import logging
import math
import socket
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from virtuoso_daemon.control.peers import PeerCred
from virtuoso_daemon.control.registry import CommandFailed, CommandSpec, Context, FrameError, codec
from virtuoso_daemon.control.subscriptions import Subscriptions
from virtuoso_daemon.core.config import ControlConfig
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
EVICT_AFTER = 1.0  # seconds idle before a client may be closed to make room (not a newcomer)
EVENT_GRACE = 1.0  # seconds an event batch waits for room before it is dropped
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
        self.queued_bytes = 0  # queued for the writer, not yet written
        self.last_activity = anyio.current_time()  # last frame received or reply sent
        self._close_reason: str | None = None
        self.room = anyio.Event()  # set by the writer when bytes went out
        self._shedding = False  # events are being dropped until there is room
        # bounded in bytes (send/offer), not in chunks
        self._out_send, self._out_recv = anyio.create_memory_object_stream[bytes](math.inf)
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

    @property
    def limits(self) -> ControlConfig:
        return self.server.runtime.config.control

    async def send(self, data: bytes) -> None:
        """Queue bytes (whole lines) for the writer, waiting while this client's queue is
        at ``session_bytes``; a closing session ignores them."""
        while self.queued_bytes and self.queued_bytes + len(data) > self.limits.session_bytes:
            if self.room.is_set():
                self.room = anyio.Event()
            await self.room.wait()
        self._enqueue(data)

    async def send_event(self, data: bytes) -> bool:
        """Queue event bytes within this client's and all clients' byte budgets,
        waiting up to :data:`EVENT_GRACE` for room (none while already dropping);
        False means dropped (the caller counts it)."""
        if not self._over(len(data)):
            self._shedding = False
            self._enqueue(data)
            return True
        if not self._shedding:
            with anyio.move_on_after(EVENT_GRACE):
                while self._over(len(data)):
                    await self._room_for(len(data)).wait()
                self._enqueue(data)
                return True
            self._shedding = True
        return False

    def _over(self, size: int) -> bool:
        """Would ``size`` more bytes pass a budget? (Anything fits an empty queue.)"""
        limits = self.limits
        mine = self.queued_bytes and self.queued_bytes + size > limits.session_bytes
        total = self.server.queued_bytes and self.server.queued_bytes + size > limits.total_bytes
        return bool(mine or total)

    def _room_for(self, size: int) -> anyio.Event:
        """The event set when the budget that is full may have room again."""
        holder: Any = self if self.queued_bytes + size > self.limits.session_bytes else self.server
        if holder.room.is_set():
            holder.room = anyio.Event()
        event: anyio.Event = holder.room
        return event

    def _enqueue(self, data: bytes) -> None:
        try:
            self._out_send.send_nowait(data)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return
        self.queued_bytes += len(data)
        self.server.queued_bytes += len(data)

    def _written(self, size: int) -> None:
        self.queued_bytes -= size
        self.server.queued_bytes -= size
        self.room.set()
        self.server.room.set()

    def inflight(self) -> int:
        return MAX_INFLIGHT - int(self._inflight.value)

    def evictable(self) -> bool:
        """May be closed to make room: no subscription, nothing running, idle a while."""
        return (
            self._close_reason is None
            and not self.subs.active
            and not self.inflight()
            and anyio.current_time() - self.last_activity >= EVICT_AFTER
        )

    @property
    def closing(self) -> bool:
        return self._close_reason is not None

    def close(self, reason: str) -> None:
        """End this session: flush what is queued, say ``_bye`` with ``reason``."""
        if self._close_reason is None and self._tg is not None:
            self._close_reason = reason
            self._tg.cancel_scope.cancel()

    async def send_frame(self, frame: Any) -> None:
        await self.send(encode_frame(frame))

    # -- life cycle ---------------------------------------------------------------------

    async def run(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self._writer)
                tg.start_soon(self._idle_watch)
                await self.send_frame(Event(topic=HELLO_TOPIC, data=self.server.hello()))
                abort = await self._serve_requests()
                self.subs.close_all()
                if abort is not None:
                    await self.send_frame(abort)
                self._out_send.close()
                with anyio.move_on_after(FLUSH_TIMEOUT):
                    await self._writer_done.wait()
                tg.cancel_scope.cancel()
            if self._close_reason is not None:
                with anyio.CancelScope(shield=True):
                    await self._farewell(self._close_reason)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._farewell("shutdown")
            raise
        finally:
            self.subs.close_all()
            self._out_send.close()
            self._out_recv.close()
            self.server.queued_bytes -= self.queued_bytes
            self.queued_bytes = 0
            with anyio.CancelScope(shield=True):
                await self.stream.aclose()

    async def _idle_watch(self) -> None:
        """Close the session once it has been idle for ``control.idle_timeout`` (a
        subscriber or a running command is not idle; the setting is read each time, so
        a reload applies)."""
        while True:
            limit = self.limits.idle_timeout
            if not limit:
                await anyio.sleep(5.0)
                continue
            now = anyio.current_time()
            if self.subs.active or self.inflight():
                self.last_activity = now
            due = self.last_activity + limit
            if now < due:
                await anyio.sleep(due - now)
                continue
            self.server.counters["idle_closed"] += 1
            log.debug("control client %d idle for %gs; closing", self.id, limit)
            self.close(f"idle: nothing received for {limit:g}s (control.idle_timeout)")
            return

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
                self.last_activity = anyio.current_time()
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
            self.last_activity = anyio.current_time()
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
                self._written(size)
        except TimeoutError:  # (an OSError too) the peer read nothing for write_timeout
            self.server.counters["stalled"] += 1
            log.info(
                "control client %d read nothing for %gs with %d bytes waiting; closing",
                self.id,
                self.limits.write_timeout,
                self.queued_bytes,
            )
            self.peer_gone = True  # no farewell: it would not be read either
            assert self._tg is not None
            self._tg.cancel_scope.cancel()
        except OSError:
            self.peer_gone = True
            assert self._tg is not None
            self._tg.cancel_scope.cancel()
        finally:
            self._writer_done.set()

    async def _write(self, data: bytes) -> None:
        """Write on the raw socket, remembering what is unsent if cancelled part-way;
        ``TimeoutError`` when the socket takes nothing for ``control.write_timeout``."""
        view = self._unsent = memoryview(data)
        while view:
            try:
                view = self._unsent = view[self.sock.send(view) :]
            except BlockingIOError:
                with anyio.fail_after(self.limits.write_timeout):
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
            except OSError:  # TimeoutError included
                pass


def _error(request_id: Any, code: str, message: str) -> ErrorReply:
    return ErrorReply(id=request_id, error=ErrorInfo(code=code, message=message))
