"""Operations soak (``-m slow``): 300 simulated markets (``VIRTUOSO_OPS_SOAK_MARKETS``) at
full speed for ``VIRTUOSO_OPS_SOAK_SECONDS`` (default 1800: the issue's 30 minutes), with faults
injected every few minutes, memcached restarted once, a ``virtuoso-ctl watch`` and the
TUI (``virtuoso-tui`` in a private tmux server) attached, alerts delivered to a webhook
receiver this test runs, a ``fix.sh all`` on the way, and RSS and open file descriptors
sampled every minute (every tenth of the run when it is shorter;
``VIRTUOSO_OPS_SOAK_SAMPLE`` seconds when set). With ``VIRTUOSO_OPS_SOAK_TRACE=FILE`` each
sample also writes a JSON line there: RSS, the smaps split, fds and every number in
the daemon's ``/api/system/status`` stats, so a step in RSS can be matched to what
changed in the daemon at that moment.

Passes when: RSS and fds after warm-up stay within 10 % (+8 fds) of their first
sample; no actor restarted; the watcher is still attached and receiving; the TUI is
still running and connected at every sample; no alert is lost (once the alert
manager has nothing grouping or pending, every alert it notified, firing or resolved,
reached the receiver, and no delivery failed or was dropped; at least one fired, so the
check is not vacuous); and ``/health`` is back to 200 (ok or warning) at the end.
Every criterion is checked and all failures reported together.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import psutil
import pytest

from tests.alerts.helpers import Receiver, receivers, webhook

REPO = Path(__file__).resolve().parents[2]
SOAK = float(os.environ.get("VIRTUOSO_OPS_SOAK_SECONDS", "1800"))
MARKETS = int(os.environ.get("VIRTUOSO_OPS_SOAK_MARKETS", "300"))  # fewer: a quick smoke run
SAMPLE = float(os.environ.get("VIRTUOSO_OPS_SOAK_SAMPLE", min(60.0, SOAK / 10)))
TRACE = os.environ.get("VIRTUOSO_OPS_SOAK_TRACE", "")
FAULTS = [  # rotated, one every SOAK / 8 seconds, each for 30 s
    {"kind": "ws_close", "rate": 0.2, "duration": 30},
    {"kind": "http_500", "rate": 0.3, "duration": 30},
    {"kind": "ws_silent", "rate": 0.2, "duration": 30},
    {"kind": "http_429", "rate": 0.1, "duration": 30, "retry_after": 5},
    {"kind": "malformed_json", "rate": 0.2, "duration": 30},
]
CONNECTED = re.compile(r"(?<!dis)\bconnected\b")
pytestmark = pytest.mark.slow


def _numbers(obj: Any, prefix: str = "") -> dict[str, float]:
    """Every number in a JSON document, keyed by its dotted path."""
    if isinstance(obj, dict):
        out: dict[str, float] = {}
        for k, v in obj.items():
            out |= _numbers(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        return {prefix: obj}
    return {}


def _smaps(pid: int) -> dict[str, int]:
    """The kernel's RSS split of a process, in kB (anonymous vs file-backed)."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, *rest = line.split()
            if key in ("Rss:", "Anonymous:", "Shared_Clean:", "Private_Clean:"):
                out[key[:-1]] = int(rest[0])
    return out


def _append(line: dict[str, Any]) -> None:
    with open(TRACE, "a") as f:
        f.write(json.dumps(line) + "\n")


def _event(t: float, what: str) -> None:
    """Note a fault, a restart or a fix in ``TRACE`` (when tracing)."""
    if TRACE:
        _append({"t": t, "event": what})


async def _trace(stack: Any, sample: dict[str, float]) -> None:
    """Append one sample with the daemon's stats to ``TRACE`` (see the module doc)."""
    status = await stack.status()
    _append({**sample, "smaps": _smaps(stack.daemon.pid), "stats": _numbers(status["stats"])})


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


class Tui:
    """``virtuoso-tui`` in a tmux server of its own (no one else's sessions touched)."""

    def __init__(self, sock: str) -> None:
        exe = shutil.which("tmux")
        assert exe, "tmux is missing: scripts/setup.sh --test installs it"
        self.base = [exe, "-L", f"virtuoso-soak-{os.getpid()}", "-f", "/dev/null"]
        command = f"env PYTHONPATH={REPO} {sys.executable} -m tui.cli --socket {sock}"
        self._tmux("new-session", "-d", "-s", "tui", "-x", "160", "-y", "48", command)

    def _tmux(self, *args: str) -> str:
        out = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout

    def screen(self) -> str | None:
        """The screen now, or None when the TUI (its tmux session) is gone."""
        try:
            return self._tmux("capture-pane", "-p", "-t", "tui")
        except subprocess.CalledProcessError:
            return None

    def connected(self) -> bool:
        screen = self.screen()
        return screen is not None and bool(CONNECTED.search(screen))

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, timeout=10)


async def _all_alerts(stack: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = await stack.get_json(f"{stack.api}/api/signals/alerts?limit=1000&offset={offset}")
        out += page["alerts"]
        offset = page["next_offset"]
    return out


async def _drained(stack: Any, timeout: float) -> dict[str, Any]:
    """The alert manager's stats once nothing waits in a group or the outbox."""
    deadline = time.monotonic() + timeout
    while True:
        stats = (await stack.status())["stats"]["alerts"]
        outbox = stats["destinations"]["soak"]["outbox"]
        if stats["now"]["grouping"] == 0 and outbox.get("pending", 0) == 0:
            return stats
        if time.monotonic() > deadline:
            return stats
        await anyio.sleep(1)


async def _undelivered(alerts: list[dict[str, Any]], hook: Receiver, timeout: float) -> list[str]:
    """:func:`_lost_alerts` once every listed alert had ``timeout`` s to arrive, the
    daemon still running. The listing is taken while the detectors keep firing, after
    ``_drained``: an alert notified between the two (or recorded but not yet grouped
    when ``_drained`` looked) is still in its ``group_wait`` when listed, and stopping
    the daemon then leaves it owed in the store for the next start, not sent. Each
    listed alert must reach the receiver here; one that does not is lost."""
    deadline = time.monotonic() + timeout
    while (lost := _lost_alerts(alerts, hook)) and time.monotonic() < deadline:
        await anyio.sleep(0.5)
    return lost


def _lost_alerts(alerts: list[dict[str, Any]], hook: Receiver) -> list[str]:
    """Every alert notified (firing, and its resolution once the firing was sent)
    that the receiver never got, as "id event"."""
    got = {(a["id"], a["event"]) for r in hook.received for a in r.body["alerts"]}
    got_ids = {alert_id for alert_id, _ in got}
    lost = []
    for a in alerts:
        if a["notified_ts"] is None:
            continue  # muted (silenced/inhibited) for its whole life: never owed
        if a["id"] not in got_ids:
            lost.append(f"{a['id']} {a['kind']} firing")
        elif a["status"] == "resolved" and (a["id"], "resolved") not in got:
            lost.append(f"{a['id']} {a['kind']} resolved")
    return lost


@pytest.mark.timeout(SOAK + 900)
async def test_soak_with_faults_memcached_restart_watchers_and_alerts() -> None:
    bench = _load_bench()
    hook = Receiver()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    samples: list[dict[str, float]] = []
    problems: list[str] = []
    tui_down: list[float] = []
    async with receivers(hook):
        alerts = {"group_wait": 2.0, "group_interval": 5.0, "destinations": [webhook("soak", hook)]}
        cfg = bench.StackConfig(
            markets=MARKETS, tick=0.25, backfill_candles=100, sections={"alerts": alerts}
        )
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
            tui = Tui(sock)
            try:
                proc = psutil.Process(stack.daemon.pid)
                start = time.monotonic()
                next_fault, fault_i, restarted, fixed = start + SOAK / 8, 0, False, False
                while (now := time.monotonic()) - start < SOAK:
                    samples.append(
                        {
                            "t": now - start,
                            "rss_mb": proc.memory_info().rss / 2**20,
                            "fds": proc.num_fds(),
                        }
                    )
                    if TRACE:
                        await _trace(stack, samples[-1])
                    if now - start > 30 and not tui.connected():  # 30 s to draw first
                        tui_down.append(round(now - start))
                    if now >= next_fault:
                        fault = FAULTS[fault_i % len(FAULTS)]
                        url = stack.sim_url + "/__sim/faults"
                        async with stack.session.post(url, json=fault) as r:
                            assert r.status in (200, 201), await r.text()
                        fault_i += 1
                        _event(now - start, str(fault["kind"]))
                        next_fault += SOAK / 8
                    if not restarted and now - start > SOAK / 2:
                        _restart_memcached(stack)
                        restarted = True
                        _event(now - start, "memcached restart")
                    if not fixed and now - start > 2 * SOAK / 3:
                        problems += await _fix_all(stack, sock, env)
                        fixed = True
                        _event(now - start, "fix.sh all")
                    await anyio.sleep(SAMPLE)
                # faults end within 30 s; give health two sweeps to come back
                healthy, final_health = False, {}
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not healthy:
                    async with stack.session.get(stack.api + "/health") as resp:
                        healthy = resp.status == 200
                        final_health = await resp.json()
                    await anyio.sleep(2)
                alert_stats = await _drained(stack, 120)
                all_alerts = await _all_alerts(stack)
                lost = await _undelivered(all_alerts, hook, 60)
                # what the daemon says of each lost one (grouping, pending, delivered...)
                lost_state = [
                    await stack.get_json(f"{stack.api}/api/signals/alerts/{x.split()[0]}")
                    for x in lost[:5]
                ]
                status = await stack.status()
                tui_alive = tui.connected()
                tui_screen = tui.screen() or ""
            finally:
                tui.close()
            watcher_alive = watcher.poll() is None
            watcher.terminate()
            watcher.wait(10)
            # read before the stack is stopped: stopping removes its directory
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
    if tui_down or not tui_alive:
        problems.append(f"the TUI not connected at t={tui_down}, end={tui_alive}:\n{tui_screen}")
    notified = [a for a in all_alerts if a["notified_ts"] is not None]
    soak_dest = alert_stats["destinations"]["soak"]
    if not notified:
        problems.append(f"no alert was notified (nothing to lose): {alert_stats}")
    if lost:
        problems.append(
            f"{len(lost)} alerts never reached the receiver: {lost[:20]}; their state: "
            f"{[(x['alert']['ts'], x['deliveries']) for x in lost_state]}"
        )
    if soak_dest["outbox"].get("failed") or soak_dest["outbox"].get("dropped"):
        problems.append(f"deliveries failed or dropped: {soak_dest}")
    if alert_stats["now"]["grouping"] or soak_dest["outbox"].get("pending"):
        problems.append(f"alerts still owed 120 s after the end: {alert_stats}")
    trace = [(round(s["t"]), round(s["rss_mb"], 1), s["fds"]) for s in samples]
    print(
        f"soak {SOAK:.0f}s: rss {rss0:.1f}->{rss_max:.1f} MB, fds {fds0}->{fds_max}, "
        f"faults {fault_i}, alerts {len(all_alerts)} ({len(notified)} notified, "
        f"{len(hook.received)} webhook messages, {len(lost)} lost), "
        f"health at the end {final_health.get('status')}: {_not_ok(final_health)}, "
        f"samples {trace}"
    )
    assert not problems, "\n".join([*problems, f"samples: {trace}"])


def _not_ok(health: dict[str, Any]) -> list[str]:
    return [f"{c['name']}={c['status']}" for c in health.get("checks", []) if c["status"] != "ok"]


async def _fix_all(stack: Any, sock: str, env: dict[str, str]) -> list[str]:
    """``scripts/fix.sh all`` over the socket; its failure as a problem line."""
    ctl = stack.tmp / "virtuoso-ctl"
    ctl.write_text(f'#!/bin/sh\nexec {sys.executable} -m virtuoso_daemon.ctl "$@"\n')
    ctl.chmod(0o755)
    fix_env = {**env, "VIRTUOSO_DAEMON__SOCKET": sock, "VIRTUOSO_CTL": str(ctl)}
    fix = await anyio.run_process(
        [str(REPO / "scripts" / "fix.sh"), "all"], env=fix_env, check=False
    )
    if fix.returncode != 0:
        return [f"fix.sh all failed: {fix.stdout!r} {fix.stderr!r}"]
    return []
