"""The daemon process holds against a careless operator: a reload it cannot apply,
start-up configuration errors, a second daemon, repeated signals (issue 16)."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from tests.foundation.daemon_process import DaemonProcess
from tests.harness import free_port, short_tmpdir


def _args(tmp: Path, port: int, *extra: str) -> list[str]:
    return [
        "--port",
        str(port),
        "--socket",
        str(tmp / "ctl.sock"),
        "--state-dir",
        str(tmp / "state"),
        *extra,
    ]


def test_a_sighup_with_a_config_an_actor_refuses_keeps_the_daemon_serving() -> None:
    tmp = short_tmpdir()
    cfg = tmp / "v.toml"
    cfg.write_text("[memcached]\nenabled = false\n")
    d = DaemonProcess(tmp, *_args(tmp, free_port(), "--config", str(cfg)))
    try:
        d.wait_log("ready:")
        cfg.write_text('[memcached]\nenabled = false\nttl = 42\n[beta.windows]\n"1h" = ["2x"]\n')
        d.signal(signal.SIGHUP)
        d.wait_log("config reload rejected, keeping the running config: beta.windows.1h")
        cfg.write_text("[memcached]\nenabled = false\n[store]\ntrades = 0\n")
        d.signal(signal.SIGHUP)
        d.wait_log("store.trades: expected >= 1, got 0")
        cfg.write_text("[memcached]\nenabled = false\nttl = 42\n")
        d.signal(signal.SIGHUP)
        d.wait_log("config reloaded; changed sections: memcached")
        d.signal(signal.SIGTERM)
        assert d.wait() == 0
    finally:
        d.stop()


def _refused(tmp: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    """Start a daemon that must refuse to start; its stderr lines (the log file)."""
    d = DaemonProcess(tmp, *args, env=env)
    try:
        rc = d.wait(30)
    finally:
        d.stop()
    lines = d.log_text().strip().splitlines()
    assert rc != 0, lines
    assert "Traceback" not in d.log_text()
    assert not any("ready:" in line for line in lines)  # refused before READY
    return lines


def test_a_port_in_use_is_one_line_and_a_non_zero_exit_before_ready() -> None:
    tmp = short_tmpdir()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        lines = _refused(tmp, *_args(tmp, port))
    assert lines == [
        f"virtuoso-daemon: cannot start: daemon.port: cannot listen on 127.0.0.1:{port}: "
        "address already in use"
    ]


def test_a_host_that_is_not_this_machines_is_refused_naming_the_key() -> None:
    tmp = short_tmpdir()
    # with a read token: a non-loopback bind needs one (else that is the refusal)
    env = {"VIRTUOSO_API__READ_TOKEN": "r"}
    lines = _refused(tmp, *_args(tmp, free_port(), "--host", "192.0.2.1"), env=env)
    assert len(lines) == 1
    assert lines[0].startswith("virtuoso-daemon: cannot start: daemon.host: cannot listen on")


def test_a_regular_file_at_the_socket_path_is_refused() -> None:
    tmp = short_tmpdir()
    (tmp / "ctl.sock").write_text("not a socket")
    lines = _refused(tmp, *_args(tmp, free_port()))
    assert lines == [
        f"virtuoso-daemon: cannot start: daemon.socket: {tmp / 'ctl.sock'} exists and is not "
        "a socket; refusing to replace it"
    ]
    assert (tmp / "ctl.sock").read_text() == "not a socket"


def test_another_daemons_live_socket_is_refused_naming_its_pid() -> None:
    first_tmp, second_tmp = short_tmpdir(), short_tmpdir()
    first = DaemonProcess(first_tmp, *_args(first_tmp, free_port()))
    try:
        first.wait_log("ready:")
        args = _args(second_tmp, free_port())
        args[args.index("--socket") + 1] = str(first_tmp / "ctl.sock")
        lines = _refused(second_tmp, *args)
        assert len(lines) == 1
        assert lines[0].startswith("virtuoso-daemon: cannot start: daemon.socket: control socket")
        assert f"running daemon (pid {first.pid})" in lines[0]
        first.signal(signal.SIGTERM)
        assert first.wait() == 0  # the first daemon was left alone
    finally:
        first.stop()


def test_an_unwritable_state_directory_is_refused() -> None:
    tmp = short_tmpdir()
    (tmp / "file").write_text("")
    args = _args(tmp, free_port())
    args[args.index("--state-dir") + 1] = str(tmp / "file" / "state")
    lines = _refused(tmp, *args)
    assert len(lines) == 1
    assert lines[0].startswith(
        f"virtuoso-daemon: cannot start: daemon.state_dir: cannot use {tmp / 'file' / 'state'}"
    )


@pytest.mark.parametrize(
    ("flag", "value", "key"),
    [("--host", "999.1.1.1", "daemon.host"), ("--socket", "/tmp/" + "s" * 110, "daemon.socket")],
)
def test_a_bad_setting_given_as_a_flag_is_a_config_error(flag: str, value: str, key: str) -> None:
    tmp = short_tmpdir()
    args = [a for a in _args(tmp, free_port()) if a]
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    d = DaemonProcess(tmp, *args)
    assert d.wait(30) == 2
    lines = d.log_text().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"virtuoso-daemon: config error: {key}: ")


def test_a_second_daemon_on_the_same_state_directory_exits_naming_the_holder() -> None:
    tmp = short_tmpdir()
    first = DaemonProcess(tmp, *_args(tmp, free_port()))
    try:
        first.wait_log("ready:")
        assert (tmp / "state" / "daemon.lock").read_text().strip() == str(first.pid)
        other = short_tmpdir()
        args = _args(other, free_port())
        args[args.index("--state-dir") + 1] = str(tmp / "state")
        lines = _refused(other, *args)
        assert lines == [
            f"virtuoso-daemon: cannot start: daemon.state_dir: {tmp / 'state'} is in use by "
            f"another daemon (pid {first.pid}); stop it first or give this one another "
            "--state-dir"
        ]
        first.signal(signal.SIGTERM)
        assert first.wait() == 0
    finally:
        first.stop()
    # the lock went with the process: the next daemon starts
    again = DaemonProcess(tmp, *_args(tmp, free_port()))
    try:
        again.wait_log("ready:")
    finally:
        again.stop()


def _caught(pid: int) -> int:
    """The signal mask a process catches (``SigCgt`` in /proc), bit n-1 for signal n."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


def test_sighup_is_caught_before_start_up_and_reloads_once_ready() -> None:
    tmp = short_tmpdir()
    d = DaemonProcess(tmp, *_args(tmp, free_port()))
    try:
        deadline = time.monotonic() + 20
        while not _caught(d.pid) & (1 << (signal.SIGHUP - 1)):
            assert time.monotonic() < deadline and d.proc.poll() is None
        d.signal(signal.SIGHUP)  # before the config is even read: caught, not fatal
        assert "starting" not in d.log_text()
        d.wait_log("ready:")
        d.wait_log("config reloaded")
        d.signal(signal.SIGTERM)
        assert d.wait() == 0
    finally:
        d.stop()


# A daemon whose one actor takes its time to save state on shutdown: it logs
# "flushing", waits (shielded) for the test's go-ahead file, then writes its marker.
SLOW_FLUSH_DAEMON = """
import sys, logging, anyio
from pathlib import Path
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.process import run

tmp = Path(sys.argv[1])

class SlowFlush:
    name = "slow_flush"
    def __init__(self, runtime): pass
    async def run(self, *, task_status=anyio.TASK_STATUS_IGNORED):
        task_status.started()
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(20):
                logging.getLogger("test").info("flushing")
                while not (tmp / "go").exists():
                    await anyio.sleep(0.01)
                (tmp / "flushed").write_text("yes")

run.build_specs = lambda runtime: [ActorSpec("slow_flush", SlowFlush)]
from virtuoso_daemon.process import cli
sys.exit(cli.daemon_main(sys.argv[2:]))
"""


def _slow_flush_daemon(tmp: Path) -> DaemonProcess:
    d = DaemonProcess.script(tmp, SLOW_FLUSH_DAEMON, str(tmp), *_args(tmp, free_port()))
    d.wait_log("ready:")
    d.signal(signal.SIGTERM)
    d.wait_log('"msg":"flushing"')
    return d


def test_a_second_sigterm_during_shutdown_does_not_skip_the_final_flush() -> None:
    tmp = short_tmpdir()
    d = _slow_flush_daemon(tmp)
    try:
        d.signal(signal.SIGTERM)
        d.wait_log("received SIGTERM again while shutting down")
        (tmp / "go").write_text("")
        assert d.wait() == 0
        assert (tmp / "flushed").read_text() == "yes"
    finally:
        d.stop()


def test_a_third_sigterm_forces_the_exit() -> None:
    tmp = short_tmpdir()
    d = _slow_flush_daemon(tmp)
    try:
        d.signal(signal.SIGTERM)
        d.wait_log("received SIGTERM again while shutting down")
        d.signal(signal.SIGTERM)
        assert d.wait(10) == 128 + signal.SIGTERM
        assert not (tmp / "flushed").exists()
        assert "exiting now without saving state" in d.log_text()
    finally:
        d.stop()
