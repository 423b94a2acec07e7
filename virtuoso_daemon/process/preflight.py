"""Start-up checks: what would make an actor fail at every start is found before any
actor runs, and reported as one line naming the setting, with a non-zero exit.

Without them a port in use, a regular file or another daemon's socket at the socket
path, or an unwritable state directory made the HTTP or control actor crash-loop
(tracebacks, ~15 s), after which the daemon sent READY without HTTP or control and
exited 0 on SIGTERM: a broken daemon reported as a healthy one.

The checks, in order: the state directory can be written; it is not in use by another
daemon (the lock taken here is held for the life of the process,
:mod:`..core.statelock`); the HTTP address can be listened on; the control socket's
path is free (a stale socket from a crash is removed, a live one refused naming its
daemon's pid). A race (the port taken between the check and the bind) is still
possible; the check is for the operator's mistakes, not for adversaries.
"""

from __future__ import annotations

import errno
import socket
import tempfile
from pathlib import Path

from virtuoso_daemon.control import sockfile
from virtuoso_daemon.control.peers import resolve_group
from virtuoso_daemon.core import statelock
from virtuoso_daemon.core.config import Config, socket_path, state_dir


class PreflightError(Exception):
    """The daemon cannot start as configured; the message is one line naming the key."""


def preflight(config: Config) -> statelock.StateLock:
    """Run every check; returns the state directory's lock, held until released."""
    directory = state_dir(config)
    _check_state_dir(directory)
    try:
        lock = statelock.acquire(directory)
    except statelock.StateDirLocked as exc:
        raise PreflightError(
            f"daemon.state_dir: {directory} is in use by another daemon (pid {exc.pid}); "
            "stop it first or give this one another --state-dir"
        ) from None
    except OSError as exc:
        raise PreflightError(f"daemon.state_dir: cannot lock {directory}: {exc.strerror}") from None
    try:
        d = config.daemon
        _check_listen("daemon", d.host, d.port)
        if d.demo and config.demo.port:
            _check_listen("demo", "127.0.0.1", config.demo.port)
        _check_socket(config)
    except BaseException:
        lock.release()
        raise
    return lock


def _check_state_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise PreflightError(
            f"daemon.state_dir: cannot use {directory}: {exc.strerror or exc}"
        ) from None


def _check_listen(section: str, host: str, port: int) -> None:
    """Bind (as the server will: SO_REUSEADDR, v6 sockets v6-only) every address the
    host resolves to, then let go."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise PreflightError(f"{section}.host: cannot resolve {host!r}: {exc}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                shown = f"[{address[0]}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
                key = "port" if exc.errno == errno.EADDRINUSE else "host"
                reason = (exc.strerror or str(exc)).lower()
                raise PreflightError(
                    f"{section}.{key}: cannot listen on {shown}: {reason}"
                ) from None


def _check_socket(config: Config) -> None:
    path = socket_path(config)
    try:
        group = resolve_group(config.daemon.socket_group)
    except ValueError as exc:
        raise PreflightError(str(exc)) from None
    try:
        sockfile.check_path(path)
        sockfile.prepare_directory(path.parent, group)
        sockfile.claim(path)
    except sockfile.SocketSetupError as exc:
        raise PreflightError(f"daemon.socket: {exc}") from None
    except OSError as exc:
        raise PreflightError(f"daemon.socket: cannot use {path}: {exc.strerror}") from None
