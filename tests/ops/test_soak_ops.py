"""Operations soak (``-m slow``): 300 simulated markets at full speed for
``VIRTUOSO_OPS_SOAK_SECONDS`` (default 1800: the issue's 30 minutes), with faults
injected every few minutes, memcached restarted once, a ``virtuoso-ctl watch`` and a
``fix.sh all`` on the way, RSS and open file descriptors sampled every minute.

Passes when: RSS and fds after warm-up stay within 10 % (+8 fds) of their first
sample, no actor restarted, the watcher is still attached and receiving, and
``/health`` is back to 200 (ok or warning) at the end. Not covered here: a TUI
attached and alerts delivered to a receiver (see the report in docs/operations.md).
Every criterion is checked and all failures reported together.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
SOAK = float(os.environ.get("VIRTUOSO_OPS_SOAK_SECONDS", "1800"))
SAMPLE = min(60.0, SOAK / 10)
FAULTS = [  # rotated, one every SOAK / 8 seconds, each for 30 s
    {"kind": "ws_close", "rate": 0.2, "duration": 30},
    {"kind": "http_500", "rate": 0.3, "duration": 30},
    {"kind": "ws_silent", "rate": 0.2, "duration": 30},
    {"kind": "http_429", "rate": 0.1, "duration": 30, "retry_after": 5},
    {"kind": "malformed_json", "rate": 0.2, "duration": 30},
]
pytestmark = pytest.mark.slow


def _load_bench() -> ModuleType:
    """``scripts/bench/stack.py``: the memcached + simulator + daemon stack."""
    if str(REPO / "scripts") not in sys.path:
        sys.path.insert(0, str(REPO / "scripts"))
    return importlib.import_module("bench.stack")


def _restart_memcached(stack: Any) -> None:
    """Stop the stack's memcached and start a new one on the same port."""
    old = next(p for p in stack.procs if "memcached" in str(p.args[0]))
    port = old.args[old.args.index("-p") + 1]
    old.terminate()
    old.wait(10)
    args = ["memcached", "-l", "127.0.0.1", "-p", port, "-U", "0", "-m", "64"]
    if os.geteuid() == 0:
        args += ["-u", "root"]
    stack.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


@pytest.mark.timeout(SOAK + 900)
async def test_soak_with_faults_memcached_restart_and_watchers() -> None:
    bench = _load_bench()
    cfg = bench.StackConfig(markets=300, tick=0.25, backfill_candles=100)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    samples: list[dict[str, float]] = []
    problems: list[str] = []
    async with bench.running_stack(cfg) as stack:
        await stack.wait_warm(420)
        sock = str(stack.tmp / "control.sock")
        watch_out = stack.tmp / "watch.out"
        with open(watch_out, "wb") as out:  # noqa: ASYNC230 - once, before the soak
            watcher = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, not awaited
                [sys.executable, "-m", "virtuoso_daemon.ctl", "--socket", sock,
                 "watch", "tickers", "--throttle-ms", "1000"],
                stdout=out, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        proc = psutil.Process(stack.daemon.pid)
        start = time.monotonic()
        next_fault, fault_i, restarted, fixed = start + SOAK / 8, 0, False, False
        while (now := time.monotonic()) - start < SOAK:
            samples.append(
                {"t": now - start, "rss_mb": proc.memory_info().rss / 2**20, "fds": proc.num_fds()}
            )
            if now >= next_fault:
                fault = FAULTS[fault_i % len(FAULTS)]
                async with stack.session.post(stack.sim_url + "/__sim/faults", json=fault) as r:
                    assert r.status in (200, 201), await r.text()
                fault_i += 1
                next_fault += SOAK / 8
            if not restarted and now - start > SOAK / 2:
                _restart_memcached(stack)
                restarted = True
            if not fixed and now - start > 2 * SOAK / 3:
                ctl = stack.tmp / "virtuoso-ctl"
                ctl.write_text(f'#!/bin/sh\nexec {sys.executable} -m virtuoso_daemon.ctl "$@"\n')
                ctl.chmod(0o755)
                fix_env = {**env, "VIRTUOSO_DAEMON__SOCKET": sock, "VIRTUOSO_CTL": str(ctl)}
                fix = await anyio.run_process(
                    [str(REPO / "scripts" / "fix.sh"), "all"], env=fix_env, check=False
                )
                if fix.returncode != 0:
                    problems.append(f"fix.sh all failed: {fix.stdout!r} {fix.stderr!r}")
                fixed = True
            await anyio.sleep(SAMPLE)
        # faults end within 30 s; give health two sweeps to come back
        healthy = False
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not healthy:
            async with stack.session.get(stack.api + "/health") as resp:
                healthy = resp.status == 200
            await anyio.sleep(2)
        status = await stack.status()
        watcher_alive = watcher.poll() is None
        watcher.terminate()
        watcher.wait(10)
    lines_seen = len(watch_out.read_text(errors="replace").splitlines())
    warm = samples[1:]  # the first minute after warm-up settles the caches
    rss0, fds0 = warm[0]["rss_mb"], warm[0]["fds"]
    rss_max, fds_max = max(s["rss_mb"] for s in warm), max(s["fds"] for s in warm)
    if rss_max > 1.10 * rss0:
        problems.append(f"RSS grew from {rss0:.1f} to {rss_max:.1f} MB (> 10 %)")
    if fds_max > 1.10 * fds0 + 8:
        problems.append(f"open fds grew from {fds0} to {fds_max}")
    restarts = sum(a["restarts"] for a in status["actors"])
    if restarts:
        problems.append(f"{restarts} actor restarts: {status['actors']}")
    if not healthy:
        problems.append("/health not back to 200 within 120 s of the end")
    if not watcher_alive or lines_seen < 10:
        problems.append(f"the ctl watcher: alive={watcher_alive}, {lines_seen} lines")
    trace = [(round(s["t"]), round(s["rss_mb"], 1), s["fds"]) for s in samples]
    print(f"soak {SOAK:.0f}s: rss {rss0:.1f}->{rss_max:.1f} MB, fds {fds0}->{fds_max}, "
          f"faults {fault_i}, samples {trace}")  # fmt: skip
    assert not problems, "\n".join([*problems, f"samples: {trace}"])
