"""The socket file: a private directory, stale-file recovery, never stealing a live one.

* The directory is created 0700 (0750 with ``daemon.socket_group``). An existing
  directory is tightened only if it is the daemon's own (named ``virtuoso...``, owned by
  this uid); a shared one (``/tmp``) is left alone and the socket's own mode protects it;
  one owned by another user is refused (they could replace the socket file).
* A socket file left by a crashed daemon refuses connections: it is removed and
  replaced. One that accepts a connection belongs to a running daemon: starting fails
  with an error naming that daemon's pid, instead of silently taking its socket.
* On shutdown the file is removed only if it is still the one this process bound.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
from pathlib import Path

from virtuoso_daemon.control.peers import peer_credentials

log = logging.getLogger("virtuoso.control")

MAX_PATH = 107  # sun_path is 108 bytes including the terminating NUL


class SocketSetupError(RuntimeError):
    """The control socket cannot be created at the configured path."""


class SocketInUse(SocketSetupError):
    """Another running daemon is serving the configured socket path."""


def check_path(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_PATH:
        raise SocketSetupError(
            f"control socket path {str(path)!r} is longer than {MAX_PATH} bytes; "
            "set a shorter daemon.socket"
        )


def prepare_directory(directory: Path, group: int | None) -> None:
    mode = 0o750 if group is not None else 0o700
    try:
        if not directory.exists():
            directory.mkdir(parents=True, mode=mode)
            _set_mode(directory, mode, group)
            return
        st = directory.stat()
        if not stat.S_ISDIR(st.st_mode):
            raise SocketSetupError(f"{directory} is not a directory")
        if st.st_uid not in (os.geteuid(), 0):
            # e.g. /tmp/virtuoso-<uid> made first by someone else, who could swap our socket
            raise SocketSetupError(
                f"socket directory {directory} belongs to uid {st.st_uid}, not to this "
                "daemon's user; remove it or choose another daemon.socket"
            )
        ours = st.st_uid == os.geteuid() and directory.name.startswith("virtuoso")
        if ours and not st.st_mode & stat.S_ISVTX:
            _set_mode(directory, mode, group)
        elif st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
            log.warning("socket directory %s is world-writable without the sticky bit", directory)
    except OSError as exc:
        raise SocketSetupError(f"cannot prepare {directory}: {exc.strerror}") from None


def _set_mode(directory: Path, mode: int, group: int | None) -> None:
    if group is not None:
        os.chown(directory, -1, group)
    os.chmod(directory, mode)


def claim(path: Path) -> None:
    """Make ``path`` free to bind: remove a stale socket, refuse a live one (blocking)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise SocketSetupError(f"{path} exists and is not a socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(os.fsencode(path))
    except ConnectionRefusedError:
        log.warning("removing stale control socket %s (left by a daemon that did not stop)", path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    except FileNotFoundError:
        return
    except TimeoutError:
        raise SocketInUse(
            f"control socket {path} is held by a process that does not answer; "
            "another daemon may be starting or stuck"
        ) from None
    except OSError as exc:
        raise SocketSetupError(f"cannot check the existing socket {path}: {exc.strerror}") from None
    else:
        pid = peer_credentials(probe).pid
        raise SocketInUse(
            f"control socket {path} is in use by a running daemon (pid {pid}); "
            "stop it first, or give this one another --socket / daemon.socket"
        )
    finally:
        probe.close()


def identity(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_dev, st.st_ino


def remove_if_ours(path: Path, ident: tuple[int, int] | None) -> None:
    """Unlink the socket file unless another daemon has replaced it since."""
    try:
        if ident is not None and identity(path) == ident:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove control socket %s: %s", path, exc.strerror)
