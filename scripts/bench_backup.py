#!/usr/bin/env python3
"""Backup benchmark (not a test): throughput per mode, and what a backup costs the feeds.

``throughput``
    Builds a state directory of ``--size-mb`` (candle-store ``.npz`` series written by
    the store's own persistence code, ~90 %, and one SQLite database, ~10 %), then
    per mode (compression none/zstd x encryption off/on) times a ``full`` backup
    through :func:`virtuoso_daemon.backup.archive.write_backup` (which includes the
    SQLite online backup, fsync and the verifying read-back), a separate ``verify``
    and a ``restore --dry-run``-free restore to a scratch directory. MB/s = state
    bytes / seconds. Baseline in the same run: ``cp -a`` of the same directory plus
    ``sync`` (what a plain file copy costs on this disk). Every timed run starts after
    a ``sync`` and one read of the whole directory, so all start from the same state.
``latency``
    Runs the daemon's own actors in this process (market store, ticker cache, backup)
    and a synthetic feed on the same event loop publishing tickers in 4 bursts/s
    (``--rate`` per second, the simulator's cadence); a subscriber measures publish ->
    receive latency (``recv_ts`` is stamped at publish). The same measurement is made
    with no backup running and while a ``full`` backup of the state directory runs
    (asked over the bus, as the API does); p50/p99/max of both and their ratio.

Run: ``.venv/bin/python scripts/bench_backup.py [--size-mb 1024] [--parts throughput,latency]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from virtuoso_daemon.backup.archive import Options, write_backup  # noqa: E402
from virtuoso_daemon.backup.kinds import Layout, sources  # noqa: E402
from virtuoso_daemon.backup.verify import restore, verify_archive  # noqa: E402
from virtuoso_daemon.market.persistence import save_series, series_path  # noqa: E402

MB = 1 << 20
KEY = bytes(range(32))
MODES = {
    "plain": Options("none", 3, None),
    "zstd": Options("zstd", 3, None),
    "encrypted": Options("none", 3, KEY),
    "zstd+encrypted": Options("zstd", 3, KEY),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_state(root: Path, size_mb: int) -> Layout:
    """Candle series like the store writes them, and a history database."""
    state = root / "state"
    rng = np.random.default_rng(1)
    rows = 2400
    series_bytes = rows * (8 + 40 + 1)
    n_series = max(1, int(size_mb * MB * 0.9) // series_bytes)
    t0 = 1_700_000_000_000
    for i in range(n_series):
        closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
        values = np.column_stack([closes, closes * 1.01, closes * 0.99, closes, rng.random(rows)])
        times = t0 + 3_600_000 * np.arange(rows, dtype=np.int64)
        sym = f"S{i:05d}/USDT"
        save_series(
            series_path(state, "bench", sym, "1h"),
            exchange="bench",
            symbol=sym,
            timeframe="1h",
            times=times,
            values=values,
            closed=np.ones(rows, dtype=np.bool_),
            sync_dir=False,
        )
    db = sqlite3.connect(state / "beta_history.sqlite3")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE h (ts REAL, symbol TEXT, beta REAL, corr REAL, vol REAL)")
    target = int(size_mb * MB * 0.1)
    batch = [
        (float(i), f"S{i % 500}/USDT", rng.random(), rng.random(), rng.random())
        for i in range(50_000)
    ]
    while (state / "beta_history.sqlite3").stat().st_size < target:
        db.executemany("INSERT INTO h VALUES (?, ?, ?, ?, ?)", batch)
        db.commit()
    db.close()
    config = root / "virtuoso.toml"
    config.write_text("[daemon]\n")
    return Layout(state, root / "backups", config, state / "logs", 3.0)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def warm(path: Path) -> None:
    """Flush dirty pages left by earlier steps and read every file once, so each timed
    run starts from the same state (warm page cache, nothing else to write back)."""
    os.sync()
    for p in path.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                while f.read(1 << 20):
                    pass


def throughput(root: Path, layout: Layout) -> list[dict[str, Any]]:
    size = dir_bytes(layout.state_dir)
    results = []
    warm(layout.state_dir)
    t = time.perf_counter()
    subprocess.run(["cp", "-a", str(layout.state_dir), str(root / "copy")], check=True)
    subprocess.run(["sync"], check=True)
    base = time.perf_counter() - t
    shutil.rmtree(root / "copy")
    results.append(
        {
            "mode": "baseline cp -a + sync",
            "backup_s": round(base, 2),
            "mb_s": round(size / MB / base),
        }
    )
    log(f"baseline cp -a + sync: {size / MB / base:.0f} MB/s")
    for i, (name, opts) in enumerate(MODES.items()):
        srcs = sources("full", layout)
        warm(layout.state_dir)
        t = time.perf_counter()
        summary = write_backup(layout.backup_dir, f"bench-{i}", "full", "bench", srcs, opts)
        made = time.perf_counter() - t
        archive = layout.backup_dir / summary.archive
        t = time.perf_counter()
        assert verify_archive(archive, opts.key, expected=summary).ok
        verified = time.perf_counter() - t
        t = time.perf_counter()
        plan = restore(archive, root / f"restore-{i}", opts.key, expected=summary)
        restored = time.perf_counter() - t
        assert plan.verify.ok
        shutil.rmtree(root / f"restore-{i}")
        row = {
            "mode": name,
            "state_mb": round(size / MB),
            "archive_mb": round(summary.size / MB),
            "backup_s": round(made, 2),
            "mb_s": round(size / MB / made),
            "verify_mb_s": round(size / MB / verified),
            "restore_mb_s": round(size / MB / restored),
            "ratio_vs_cp": round(base / made, 2),
        }
        log(str(row))
        results.append(row)
        archive.unlink()
        archive.with_name(archive.name + ".json").unlink()
    return results


async def _latency(layout: Layout, rate: int, seconds: float) -> dict[str, Any]:
    import anyio
    import msgspec

    from tests.harness import test_config
    from virtuoso_daemon.backup.actor import BackupActor
    from virtuoso_daemon.backup.requests import RunBackup
    from virtuoso_daemon.core.bus import Topics
    from virtuoso_daemon.core.messages import Ticker
    from virtuoso_daemon.core.runtime import Runtime
    from virtuoso_daemon.core.supervisor import ActorSpec, Supervisor
    from virtuoso_daemon.market.actor import MarketStoreActor
    from virtuoso_daemon.tickers.actor import TickerCacheActor

    cfg = test_config(layout.state_dir.parent / "run")
    cfg = msgspec.structs.replace(
        cfg,
        daemon=msgspec.structs.replace(cfg.daemon, state_dir=str(layout.state_dir)),
        backup=msgspec.structs.replace(cfg.backup, dir=str(layout.backup_dir), schedule={}),
    )
    rt = Runtime(config=cfg, config_path=layout.config_path)
    specs = [
        ActorSpec("market_store", MarketStoreActor),
        ActorSpec("ticker_cache", TickerCacheActor),
        ActorSpec("backup", BackupActor, depends_on=("market_store",)),
    ]
    sup = Supervisor(rt, specs)
    burst = rate // 4
    out: dict[str, Any] = {}
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        sub = rt.bus.subscribe(Topics.TICKERS, name="bench", maxsize=100_000)

        async def measure(label: str, until: Any) -> None:
            lat: list[float] = []
            i = 0
            start = time.monotonic()
            while not until(time.monotonic() - start):
                now = time.time()
                for k in range(burst):
                    rt.bus.publish_nowait(
                        Topics.TICKERS,
                        Ticker(
                            exchange="bench",
                            symbol=f"S{k}/USDT",
                            last=100.0 + i,
                            ts=int(now * 1000),
                            recv_ts=time.time(),
                        ),
                    )
                i += 1
                deadline = time.monotonic() + 0.25
                while time.monotonic() < deadline:
                    with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
                        msg = await sub.receive()
                        lat.append((time.time() - msg.recv_ts) * 1000)
            a = np.array(lat)
            out[label] = {
                "n": len(a),
                "p50_ms": round(float(np.percentile(a, 50)), 2),
                "p99_ms": round(float(np.percentile(a, 99)), 2),
                "max_ms": round(float(a.max()), 2),
            }
            log(f"{label}: {out[label]}")

        await measure("idle", lambda el: el >= seconds)
        done = anyio.Event()
        result: dict[str, Any] = {}

        async def backup() -> None:
            t = time.perf_counter()
            result.update(
                await rt.bus.request(
                    Topics.BACKUP_COMMANDS, RunBackup(kind="full", wait=True), timeout=3600
                )
            )
            result["seconds"] = round(time.perf_counter() - t, 1)
            done.set()

        tg.start_soon(backup)
        await measure("during full backup", lambda el: done.is_set())
        out["backup"] = {k: result.get(k) for k in ("status", "size", "bytes", "seconds")}
        sub.close()
        tg.cancel_scope.cancel()
    for q in ("p50_ms", "p99_ms"):
        out[f"ratio_{q}"] = round(out["during full backup"][q] / max(out["idle"][q], 1e-6), 2)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size-mb", type=int, default=1024, help="state directory size (default 1024)")
    p.add_argument("--parts", default="throughput,latency")
    p.add_argument("--rate", type=int, default=600, help="tickers per second (latency part)")
    p.add_argument("--idle-seconds", type=float, default=10.0)
    p.add_argument("--dir", help="scratch directory (default: a temporary one, removed)")
    ns = p.parse_args()
    root = Path(ns.dir) if ns.dir else Path(tempfile.mkdtemp(prefix="bench-backup-"))
    try:
        t = time.perf_counter()
        layout = build_state(root, ns.size_mb)
        log(
            f"state: {dir_bytes(layout.state_dir) / MB:.0f} MB built in "
            f"{time.perf_counter() - t:.0f}s ({os.cpu_count()} CPUs)"
        )
        parts = ns.parts.split(",")
        if "throughput" in parts:
            for row in throughput(root, layout):
                print(row, flush=True)
        if "latency" in parts:
            import anyio

            print(anyio.run(_latency, layout, ns.rate, ns.idle_seconds))
    finally:
        if not ns.dir:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
