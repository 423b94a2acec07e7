"""The control actor: a Unix-socket listener serving the line protocol to many clients.

It owns the socket file (see :mod:`.sockfile`), checks each peer's credentials (see
:mod:`.peers`), and runs one :class:`.session.Session` per accepted connection under
its own task group, so a misbehaving client ends only its own session. Counters are
exposed as ``stats.control`` in the status document.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import anyio
import anyio.abc

from virtuoso_daemon.control import commands, sockfile
from virtuoso_daemon.control.logbridge import LogBridge
from virtuoso_daemon.control.peers import PeerCred, PeerPolicy, peer_credentials, resolve_group
from virtuoso_daemon.control.registry import codec
from virtuoso_daemon.control.registry import commands as registered_commands
from virtuoso_daemon.control.session import Session
from virtuoso_daemon.control.subscriptions import TOPICS
from virtuoso_daemon.core.config import Config, socket_path
from virtuoso_daemon.core.metrics import RouteRecorder
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.protocol import (
    MAX_LINE,
    PROTOCOL_VERSION,
    ErrorCode,
    ErrorInfo,
    ErrorReply,
    Hello,
    encode_frame,
    raw_socket,
    send_all,
)

log = logging.getLogger("virtuoso.control")


class ControlActor:
    """Serves ``runtime.socket_path`` until cancelled; removes the socket file on exit."""

    name = "control"
    # [control] is read where it is used (limits apply to the next check)
    config_sections: ClassVar[tuple[str, ...]] = ("daemon", "control")

    def __init__(self, runtime: Runtime) -> None:
        commands.load_all()
        codec()  # build the request decoder once, before the first client
        self.runtime = runtime
        self.path: Path = runtime.socket_path
        self.sessions: set[Session] = set()
        self.counters: Counter[str] = Counter()
        self.queued_bytes = 0  # output queued for all clients (capped by control.total_bytes)
        self.room = anyio.Event()  # set whenever a client's output went out
        self.policy = PeerPolicy.for_this_process()
        self._ident: tuple[int, int] | None = None
        self._group_name = runtime.config.daemon.socket_group
        self._hello: Hello | None = None
        self._recorders: dict[str, RouteRecorder] = {}

    def recorder(self, command: str) -> RouteRecorder:
        """Where the requests of ``command`` are counted and timed (``/metrics``)."""
        rec = self._recorders.get(command)
        if rec is None:
            rec = self._recorders[command] = self.runtime.metrics.route("socket", command)
        return rec

    async def reconfigure(self, config: Config) -> None:
        """The listener keeps its path and group until restart; say so when they change."""
        if socket_path(config) != self.path or config.daemon.socket_group != self._group_name:
            log.warning(
                "control socket path/group changes take effect on restart (serving %s)",
                self.path,
            )

    def hello(self) -> Hello:
        if self._hello is None:
            self._hello = Hello(
                protocol=PROTOCOL_VERSION,
                version=self.runtime.version,
                pid=os.getpid(),
                commands=sorted(registered_commands()),
                topics=sorted(TOPICS),
                max_line=MAX_LINE,
            )
        return self._hello

    def stats(self) -> dict[str, Any]:
        return {
            "socket": str(self.path),
            "clients": len(self.sessions),
            "queued_bytes": self.queued_bytes,
            **{k: self.counters[k] for k in _COUNTERS},
            "events_sent": sum(s.events_sent for s in self.sessions) + self.counters["sent_closed"],
            "events_dropped": sum(s.subs.dropped() for s in self.sessions)
            + self.counters["dropped_closed"],
        }

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        cfg = self.runtime.config.daemon
        group = resolve_group(cfg.socket_group)
        self.policy = PeerPolicy.for_this_process(group)
        sockfile.check_path(self.path)
        sockfile.prepare_directory(self.path.parent, group)
        await anyio.to_thread.run_sync(sockfile.claim, self.path)
        listener = await anyio.create_unix_listener(
            self.path, mode=0o660 if group is not None else 0o600
        )
        bridge = LogBridge(self.runtime.bus)
        try:
            if group is not None:
                os.chown(self.path, -1, group)
            self._ident = sockfile.identity(self.path)
            bridge.install()
            self.runtime.stats["control"] = self.stats
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._accept, listener, tg)
                log.info("control socket listening on %s", self.path)
                task_status.started()
        finally:
            bridge.uninstall()
            with anyio.CancelScope(shield=True):
                await listener.aclose()
            sockfile.remove_if_ours(self.path, self._ident)

    async def _accept(self, listener: anyio.abc.SocketListener, tg: anyio.abc.TaskGroup) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:  # EMFILE and friends: back off, keep serving the others
                log.warning("control socket accept failed: %s", exc)
                await anyio.sleep(0.1)
                continue
            tg.start_soon(self._serve, stream)

    async def _serve(self, stream: anyio.abc.SocketStream) -> None:
        self.counters["connections"] += 1
        try:
            peer = peer_credentials(raw_socket(stream))
        except OSError:
            await stream.aclose()
            return
        if not self.policy.allows(peer):
            self.counters["refused"] += 1
            log.warning("control socket: refused %s", self.policy.refusal(peer))
            await self._refuse(stream, ErrorCode.FORBIDDEN, self.policy.refusal(peer))
            return
        limit = self.runtime.config.control.max_clients
        if sum(not s.closing for s in self.sessions) >= limit and not self._make_room():
            self.counters["busy"] += 1
            await self._refuse(stream, ErrorCode.BUSY, f"too many clients ({limit})")
            return
        session = Session(self, stream, peer)
        self.sessions.add(session)
        log.debug("control client %d connected (pid %d, uid %d)", session.id, peer.pid, peer.uid)
        try:
            await session.run()
        except Exception:  # a bug met by one client ends that client, not the server
            self.counters["session_errors"] += 1
            log.exception("control client %d: session failed", session.id)
        finally:
            self.sessions.discard(session)
            self.counters["sent_closed"] += session.events_sent
            self.counters["dropped_closed"] += session.subs.dropped()
            log.debug("control client %d disconnected", session.id)

    def _make_room(self) -> bool:
        """Close the longest-idle client without a subscription, so an operator can
        always get in (idle connections held by someone else never lock the socket)."""
        idle = [s for s in self.sessions if s.evictable()]
        if not idle:
            return False
        victim = min(idle, key=lambda s: s.last_activity)
        self.counters["evicted"] += 1
        log.info("control socket full: closing the longest-idle client %d", victim.id)
        victim.close("closed to make room for a new client (the socket is at max_clients)")
        return True

    async def _refuse(self, stream: anyio.abc.SocketStream, code: str, message: str) -> None:
        frame = encode_frame(ErrorReply(id=None, error=ErrorInfo(code=code, message=message)))
        with anyio.move_on_after(0.5, shield=True):
            try:
                await send_all(raw_socket(stream), frame)
            except OSError:
                pass
        with anyio.CancelScope(shield=True):
            await stream.aclose()

    def peers(self) -> list[PeerCred]:
        return [s.peer for s in self.sessions]


_COUNTERS = (
    "connections",
    "refused",
    "busy",
    "commands",
    "failed",
    "bad_frames",
    "oversized",
    "session_errors",
    "idle_closed",
    "evicted",
    "stalled",
)
