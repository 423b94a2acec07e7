"""Who is on the other end: ``SO_PEERCRED`` and the policy for accepting a client.

The socket file's mode (0600 in a 0700 directory) already keeps other users out; this
check is the second lock, and the only one when the file's permissions were widened by
mistake. Allowed: the daemon's own uid, root (who can bypass any check on this host
anyway), and members of ``daemon.socket_group`` when one is configured.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import struct
from dataclasses import dataclass

_UCRED = struct.Struct("3i")  # struct ucred { pid_t pid; uid_t uid; gid_t gid; }


@dataclass(frozen=True)
class PeerCred:
    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> PeerCred:
    """The connecting process's pid/uid/gid as the kernel recorded them at connect."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return PeerCred(pid, uid, gid)


def resolve_group(name: str) -> int | None:
    """The gid of ``daemon.socket_group`` ("" = none); an unknown group is an error."""
    if not name:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        if name.isdigit():
            return int(name)
        raise ValueError(f"daemon.socket_group: no such group {name!r}") from None


def _user_groups(uid: int, primary: int) -> set[int]:
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        return {primary}
    return set(os.getgrouplist(user, primary))


@dataclass(frozen=True)
class PeerPolicy:
    """Which peers may talk to the daemon."""

    uid: int
    group: int | None = None

    @classmethod
    def for_this_process(cls, group: int | None = None) -> PeerPolicy:
        return cls(os.geteuid(), group)

    def allows(self, peer: PeerCred) -> bool:
        if peer.uid in (self.uid, 0):
            return True
        if self.group is None:
            return False
        return peer.gid == self.group or self.group in _user_groups(peer.uid, peer.gid)

    def refusal(self, peer: PeerCred) -> str:
        who = f"uid {peer.uid} (pid {peer.pid})"
        extra = f" or members of group {self.group}" if self.group is not None else ""
        return f"{who} may not use this socket: only uid {self.uid}{extra}"
