"""The master scripts (fix.sh, monitor.sh) against a live demo daemon: they are thin
wrappers, so these check the wiring, the output and the exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import REPO, free_port, short_tmpdir
from tests.ops.daemon import DaemonProcess, daemon_process, wait_for

SCRIPTS = REPO / "scripts"
MASTER = ["deploy.sh", "fix.sh", "monitor.sh", "backup.sh"]


def _ctl_wrapper() -> Path:
    """virtuoso-ctl from this checkout (the shared venv's entry point is another tree's)."""
    path = short_tmpdir() / "virtuoso-ctl"
    path.write_text(f'#!/bin/sh\nexec {sys.executable} -m virtuoso_daemon.ctl "$@"\n')
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def daemon() -> Iterator[DaemonProcess]:
    with daemon_process() as d:
        wait_for(lambda: _health_ok(d), timeout=30, what="the first health report")
        yield d


def _health_ok(d: DaemonProcess) -> bool:
    """Not critical, and the feeds' data checks are there (they appear with the first
    data, a sweep after the exchange checks)."""
    proc = _run(d, "monitor.sh", "exchange", "--json")
    if proc.returncode not in (0, 1):
        return False
    checks = json.loads(proc.stdout)["checks"]
    return any(c["name"].startswith("data:") for c in checks)


def _run(d: DaemonProcess | None, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "VIRTUOSO_CTL": str(_ctl_wrapper()),
        "VIRTUOSO_URL": d.base_url if d else f"http://127.0.0.1:{free_port()}",
        "VIRTUOSO_DAEMON__SOCKET": str(d.socket) if d else "/nonexistent/ctl.sock",
    }
    return subprocess.run(
        [str(SCRIPTS / script), *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("script", MASTER)
def test_each_master_script_has_help_and_strict_mode(script: str) -> None:
    text = (SCRIPTS / script).read_text()
    assert "\nset -euo pipefail\n" in text
    proc = subprocess.run([str(SCRIPTS / script), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith(f"usage: {script}")


def test_the_scripts_are_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: scripts/setup.sh --test installs it"
    files = [str(p) for p in [*SCRIPTS.glob("*.sh"), *SCRIPTS.glob("lib/*.sh")]]
    proc = subprocess.run(
        [shellcheck, "-x", *files], capture_output=True, text=True, cwd=SCRIPTS, timeout=60
    )
    assert proc.returncode == 0, proc.stdout


def test_an_unknown_target_is_a_usage_error() -> None:
    proc = _run(None, "fix.sh", "everything")
    assert proc.returncode == 2 and "unknown argument" in proc.stderr


# the monitor tests first: fix.sh reconnects the feeds, and their data checks are gone
# from /health until the feeds are back
def test_monitor_json_exit_code_follows_the_status(daemon: DaemonProcess) -> None:
    proc = _run(daemon, "monitor.sh", "all", "--json")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["area"] for r in rows] == ["health", "api", "cache", "exchange"]
    worst = max({"ok": 0, "warning": 1, "critical": 2}[r["status"]] for r in rows)
    assert proc.returncode == worst
    api = rows[1]
    assert api["probe_ms"] > 0 and [c["name"] for c in api["checks"]] == ["api"]
    assert {c["name"].split(":")[0] for c in rows[3]["checks"]} == {"exchange", "data"}


def test_monitor_human_output_has_one_line_per_area(daemon: DaemonProcess) -> None:
    proc = _run(daemon, "monitor.sh", "cache")
    assert proc.stdout.split()[0:2] in (["cache", "ok"], ["cache", "warning"])


def test_monitor_continuous_runs_the_rounds_asked_for(daemon: DaemonProcess) -> None:
    proc = _run(daemon, "monitor.sh", "api", "--json", "--count", "2", "--interval", "0.2")
    assert len(proc.stdout.splitlines()) == 2


def test_fix_all_over_the_socket_says_what_each_fix_did(daemon: DaemonProcess) -> None:
    proc = _run(daemon, "fix.sh", "all")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("cache") and "cache.rewarm" in line for line in lines)
    assert sum("feeds.reconnect" in line for line in lines) == 2  # sim-spot and sim-perp
    assert lines[-1] == "all fixes applied"


def test_fix_over_http_gives_the_same_actions(daemon: DaemonProcess) -> None:
    proc = _run(daemon, "fix.sh", "timeout", "--http", "--exchange", "sim-spot")
    assert proc.returncode == 0, proc.stderr
    target, action, outcome, result = proc.stdout.strip().split("\t")
    assert (target, action, outcome) == ("timeout", "feeds.reset_backoff", "ok")
    assert json.loads(result)["exchange"] == "sim-spot"


def test_fix_of_an_unknown_exchange_fails_with_the_daemons_message(
    daemon: DaemonProcess,
) -> None:
    proc = _run(daemon, "fix.sh", "connection", "--exchange", "nope")
    assert proc.returncode == 1 and "unknown_exchange" in proc.stderr


def test_monitor_exits_3_when_the_daemon_is_unreachable() -> None:
    proc = _run(None, "monitor.sh", "health")
    assert proc.returncode == 3 and "unreachable" in proc.stdout
