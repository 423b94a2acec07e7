"""``kill -9`` durability: every alert the API reported before the kill is there after
the restart, and everything owed to the receiver is delivered after the restart:
counted, no loss, duplicates only under the same idempotency key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict

import aiohttp
import anyio

from tests.alerts.crash_daemon import crash_config
from tests.alerts.helpers import (
    Receiver,
    alert_specs,
    manager,
    receivers,
    running_daemon,
    wait_until,
)
from tests.harness import REPO, short_tmpdir

N = 400


async def _api_ids(http: aiohttp.ClientSession, base: str) -> tuple[int, set[str]]:
    ids: set[str] = set()
    offset: int | None = 0
    total = 0
    while offset is not None:
        async with http.get(f"{base}/api/signals/alerts?limit=1000&offset={offset}") as resp:
            page = await resp.json()
        total = page["total"]
        ids |= {a["id"] for a in page["alerts"]}
        offset = page["next_offset"]
    return total, ids


async def test_kill_9_loses_no_reported_alert_and_no_owed_delivery() -> None:
    tmp = short_tmpdir()
    # the receiver takes the first few messages, then hangs: messages are in flight
    # (sent, not yet answered) when the daemon dies
    hook = Receiver(script=[(200, {})] * 5, hang=False)
    async with receivers(hook), aiohttp.ClientSession() as http:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = await anyio.open_process(
            [sys.executable, "-m", "tests.alerts.crash_daemon", str(tmp), hook.url, str(N)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with anyio.fail_after(30):
                while not (tmp / "port").exists():
                    await anyio.sleep(0.02)
            base = f"http://127.0.0.1:{(tmp / 'port').read_text()}"
            await wait_until(lambda: len(hook.received) >= 5, timeout=20)
            hung_at = time.monotonic()
            hook.hang = True
            with anyio.fail_after(20):
                while (reported := await _api_ids(http, base))[0] < 100:
                    await anyio.sleep(0.01)
        finally:
            proc.send_signal(signal.SIGKILL)
            with anyio.fail_after(10):
                await proc.wait()
        before_kill = reported[1]
        in_flight = sum(1 for r in hook.received if r.at >= hung_at)
        hook.hang = False
        async with running_daemon(crash_config(tmp, hook.url), alert_specs(http=True)) as d:  # type: ignore[arg-type]
            m = manager(d)
            store = m.store
            assert store is not None
            total, after = await _api_ids(http, d.base_url)
            fired = {a.id for a in store.query(store_filter(), 10_000, 0)[1]}
            await wait_until(
                lambda: {a["id"] for r in hook.received for a in r.body["alerts"]} >= fired,
                timeout=30,
            )
            pending = m.stats()["destinations"]["hook"]["outbox"].get("pending", 0)
    assert before_kill <= after  # every alert reported before the kill is still there
    copies: dict[str, set[str]] = defaultdict(set)
    for r in hook.received:
        for a in r.body["alerts"]:
            copies[a["id"]].add(r.body["idempotency_key"])
    assert set(copies) == fired  # every alert owed was delivered, none invented
    assert all(len(keys) == 1 for keys in copies.values())  # repeats share their key
    assert pending == 0
    print(
        f"\nkill -9: {len(before_kill)} alerts reported before, {total} after; "
        f"{len(fired)} owed, {len(copies)} delivered, "
        f"{len(hook.received) - len(copies)} redelivered (same key), {in_flight} in flight"
    )


def store_filter():  # type: ignore[no-untyped-def]
    from virtuoso_daemon.alerts.store import AlertFilter

    return AlertFilter()
