"""One daemon per state directory: an exclusive ``flock`` on ``<state_dir>/daemon.lock``.

Two daemons writing the same candle files and SQLite history corrupt each other's
view of what was persisted. The lock is held for the life of the process (the kernel
drops it when the process dies, ``kill -9`` included, so there is never a stale lock
to clean up) and the file holds the holder's pid, so the refusal can name it.
Anything else that must not run beside a live daemon (a restore of a backup) asks
:func:`holder` first.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_NAME = "daemon.lock"


class StateDirLocked(Exception):
    """Another live process holds the state directory's lock."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        who = f"pid {pid}" if pid else "pid unknown"
        super().__init__(f"{path.parent} is in use by another daemon ({who})")


class StateLock:
    """The held lock; :meth:`release` (or process exit) gives it up."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def acquire(state_dir: Path) -> StateLock:
    """Take the lock (non-blocking) and write our pid; :class:`StateDirLocked` if held.
    ``OSError`` if the directory cannot hold the file."""
    path = state_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateDirLocked(path, _read_pid(path)) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return StateLock(path, fd)


def holder(state_dir: Path) -> int | None:
    """The pid of the live process holding ``state_dir``'s lock (-1 if it wrote none
    yet), or None if it is free.
    (Within the holding process itself this also answers its own pid.)"""
    path = state_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(path) or -1
    finally:
        os.close(fd)
    return None


def _read_pid(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().strip())
    return None
