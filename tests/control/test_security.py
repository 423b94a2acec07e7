"""Who may use the socket, and what happens to the socket file.

Another uid is tested for real: the tests run as root, so the ``other_users`` fixture
creates two system users with ``useradd`` (one in a group made with ``groupadd``) and
removes them afterwards; a stdlib-only client runs as each of them (``user=`` in
``anyio.run_process``). Where ``useradd`` cannot be used (not root, not installed)
those tests are skipped with that reason, and the peer-credential path is still
covered by ``test_the_peer_check_refuses_a_foreign_uid``, which makes the daemon see a
foreign uid on a real connection, and by the policy unit test in ``test_protocol.py``.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from tests.control.helpers import control, control_specs
from tests.harness import running_daemon, short_tmpdir, test_config
from virtuoso_daemon.control import server as server_module
from virtuoso_daemon.control.peers import PeerCred
from virtuoso_daemon.protocol import ControlClient, RawConnection

CHILD = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except OSError as exc:
    print(json.dumps({"connect_errno": exc.errno}))
    sys.exit(0)
try:
    s.sendall(b'{"id": 1, "cmd": "hello"}\n')
    s.shutdown(socket.SHUT_WR)
except OSError:  # refused and closed already: read what was said
    pass
data = b""
while True:
    try:
        chunk = s.recv(65536)
    except OSError:
        break
    if not chunk:
        break
    data += chunk
print(json.dumps({"frames": [json.loads(x) for x in data.splitlines() if x.strip()]}))
"""

SYSTEM_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class OtherUsers:
    outsider: str  # in no special group
    member: str  # in ``group``
    group: str


@pytest.fixture(scope="module")
def other_users() -> Iterator[OtherUsers]:
    if os.geteuid() != 0 or not (shutil.which("useradd") and shutil.which("groupadd")):
        pytest.skip("needs root and useradd/groupadd to create a second user")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"needs {SYSTEM_PYTHON} for the other user's client")
    tag = f"{os.getpid() % 100000}"
    users = OtherUsers(outsider=f"vtout{tag}", member=f"vtmem{tag}", group=f"vtgrp{tag}")
    made: list[list[str]] = []
    try:
        for cmd, undo in [
            (["groupadd", users.group], ["groupdel", users.group]),
            (
                ["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", users.outsider],
                ["userdel", users.outsider],
            ),
            (
                ["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", "-G", users.group, users.member],
                ["userdel", users.member],
            ),
        ]:
            if subprocess.run(cmd, capture_output=True, check=False).returncode != 0:
                pytest.skip(f"cannot create test users: {' '.join(cmd)} failed")
            made.append(undo)
        yield users
    finally:
        for undo in reversed(made):
            subprocess.run(undo, capture_output=True, check=False)


async def _connect_as(user: str, path: Path) -> dict[str, Any]:
    # user= alone would keep root's supplementary groups: give the user exactly its own
    gid = pwd.getpwnam(user).pw_gid
    with anyio.fail_after(20):
        proc = await anyio.run_process(
            [SYSTEM_PYTHON, "-c", CHILD, str(path)],
            user=user,
            group=gid,
            extra_groups=os.getgrouplist(user, gid),
            check=False,
        )
    assert proc.returncode == 0, proc.stderr.decode()
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _open_path_for_others(path: Path) -> None:
    """Let other users reach the socket file, so only the peer check stands in the way."""
    for parent in [path.parent, *path.parent.parents]:
        if parent == Path("/tmp") or parent == Path("/"):
            break
        os.chmod(parent, stat.S_IMODE(os.stat(parent).st_mode) | 0o711)
    os.chmod(path.parent, 0o755)
    os.chmod(path, 0o666)


async def test_the_socket_and_its_directory_are_private() -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        path = d.runtime.socket_path
        sock_stat, dir_stat = os.stat(path), os.stat(path.parent)
    assert stat.S_ISSOCK(sock_stat.st_mode) and stat.S_IMODE(sock_stat.st_mode) == 0o600
    assert stat.S_IMODE(dir_stat.st_mode) == 0o700
    assert sock_stat.st_uid == dir_stat.st_uid == os.geteuid()
    assert not path.exists()  # removed on shutdown


async def test_another_uid_is_refused(other_users: OtherUsers) -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        path = d.runtime.socket_path
        # the file modes alone keep the other user out ...
        assert await _connect_as(other_users.outsider, path) == {"connect_errno": 13}
        # ... and with them widened by mistake, the peer credentials still do
        _open_path_for_others(path)
        result = await _connect_as(other_users.outsider, path)
        (frame,) = result["frames"]
        assert frame["ok"] is False and frame["id"] is None
        assert frame["error"]["code"] == "forbidden"
        assert "may not use this socket" in frame["error"]["message"]
        assert control(d).counters["refused"] == 1
        async with ControlClient.connect(path) as client:  # the owner is still served
            assert (await client.call("status"))["stats"]["control"]["refused"] == 1


async def test_members_of_the_socket_group_are_allowed(other_users: OtherUsers) -> None:
    tmp = short_tmpdir()
    os.chmod(tmp, 0o711)  # mkdtemp's 0700 would stop everyone else before our directory
    cfg = test_config(tmp, daemon={"socket_group": other_users.group})
    async with running_daemon(cfg, control_specs()) as d:
        path = d.runtime.socket_path
        gid = os.stat(path).st_gid
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o750
        assert os.stat(path.parent).st_gid == gid
        member = await _connect_as(other_users.member, path)
        hello, reply = member["frames"]
        assert hello["topic"] == "_hello" and reply == {
            "id": 1,
            "ok": True,
            "result": hello["data"],
        }
        assert await _connect_as(other_users.outsider, path) == {"connect_errno": 13}


async def test_the_peer_check_refuses_a_foreign_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SO_PEERCRED path on a real connection, with the credentials made foreign."""
    real = server_module.peer_credentials

    def foreign(sock: socket.socket) -> PeerCred:
        cred = real(sock)
        assert cred.pid == os.getpid() and cred.uid == os.geteuid()  # the kernel's answer
        return PeerCred(pid=cred.pid, uid=cred.uid + 4242, gid=cred.gid + 4242)

    async with running_daemon(test_config(), control_specs()) as d:
        path = d.runtime.socket_path
        monkeypatch.setattr(server_module, "peer_credentials", foreign)
        async with RawConnection.open(path) as conn:
            frames = await conn.drain_to_eof()
        assert [f["error"]["code"] for f in frames] == ["forbidden"]
        monkeypatch.setattr(server_module, "peer_credentials", real)
        async with ControlClient.connect(path) as client:
            assert (await client.call("hello"))["protocol"] == 1


async def test_a_stale_socket_file_from_a_crash_is_replaced() -> None:
    cfg = test_config()
    path = Path(cfg.daemon.socket)
    path.parent.mkdir(parents=True, mode=0o700)
    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    crashed.bind(str(path))
    crashed.close()  # a listener that died without unlinking its file
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    async with running_daemon(cfg, control_specs()) as d:
        async with ControlClient.connect(path) as client:
            assert (await client.call("status"))["actors"][1]["state"] == "running"
        assert control(d).path == path


def _control_state(d: Any) -> dict[str, Any]:
    return {a["name"]: a for a in d.supervisor.status()}["control"]


async def test_a_live_socket_is_not_stolen() -> None:
    first_cfg = test_config()
    async with running_daemon(first_cfg, control_specs()) as first:
        path = first.runtime.socket_path
        before = os.stat(path).st_ino
        second_cfg = msgspec.structs.replace(
            test_config(supervisor={"intensity": 1, "backoff_initial": 0.01}),
            daemon=msgspec.structs.replace(test_config().daemon, socket=str(path)),
        )
        async with running_daemon(second_cfg, control_specs()) as second:
            state = _control_state(second)
            assert state["state"] == "failed"
            assert f"in use by a running daemon (pid {os.getpid()})" in state["last_error"]
        assert os.stat(path).st_ino == before  # neither replaced nor removed by the loser
        async with ControlClient.connect(path) as client:
            status = await client.call("status")
        assert status["stats"]["control"]["socket"] == str(path)
        assert control(first).counters["connections"] >= 3  # probes + this client


async def test_a_path_that_is_not_a_socket_is_never_replaced() -> None:
    cfg = test_config(supervisor={"intensity": 1, "backoff_initial": 0.01})
    path = Path(cfg.daemon.socket)
    path.parent.mkdir(parents=True, mode=0o700)
    await anyio.Path(path).write_text("precious")
    async with running_daemon(cfg, control_specs()) as d:
        state = _control_state(d)
    assert state["state"] == "failed" and "is not a socket" in state["last_error"]
    assert await anyio.Path(path).read_text() == "precious"


async def test_a_socket_directory_owned_by_another_user_is_refused(
    other_users: OtherUsers,
) -> None:
    cfg = test_config(supervisor={"intensity": 1, "backoff_initial": 0.01})
    directory = Path(cfg.daemon.socket).parent
    directory.mkdir(mode=0o777)
    os.chown(directory, pwd.getpwnam(other_users.outsider).pw_uid, -1)
    async with running_daemon(cfg, control_specs()) as d:
        state = _control_state(d)
    assert state["state"] == "failed" and "belongs to uid" in state["last_error"]
    assert not await anyio.Path(cfg.daemon.socket).exists()
