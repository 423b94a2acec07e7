"""The stack under test: memcached, the simulator and the daemon, started fresh."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench.common import ALL_KINDS, REPO, free_port, progress, toml_doc, wait_port

# --- the stack under test ---------------------------------------------------------------


@dataclass(frozen=True)
class StackConfig:
    """What to run: universe size, simulator tick, where the simulator lives."""

    markets: int = 82  # markets watched: spot + perp (even) or spot only
    tick: float = 0.25  # simulator seconds between pushes (speed is always 1)
    perpetuals: bool = True
    seed: int = 42
    sim: str = "external"  # external | demo
    kinds: tuple[str, ...] = ALL_KINDS
    memcached: bool = True
    rate_limits: bool = True  # Binance request weights in the simulator (demo: on)
    backfill_candles: int | None = None  # None = the demo feeds' value (2200)
    trades_limit: int | None = None  # ccxt options.tradesLimit; None = ccxt's 1000
    profile: str = ""  # a directory: run the daemon under cProfile, write a .prof there
    http_thread: bool = True  # the daemon's api.thread
    event_loop: str = "uvloop"  # the daemon's daemon.event_loop
    gc_every: float = 30.0  # the daemon's daemon.gc_every (0 = CPython's full collections)
    # more config, merged into the generated file's sections (the ops soak's alert
    # destination): {"alerts": {"destinations": [...]}}
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def n_alts(self) -> int:
        return self.markets // 2 - 1 if self.perpetuals else self.markets - 1

    def check(self) -> None:
        if self.perpetuals and self.markets % 2:
            raise SystemExit(f"bench: {self.markets} markets: need an even number with perps")
        if self.n_alts < 0:
            raise SystemExit("bench: at least one base (BTC) is needed")
        if self.sim == "demo" and (
            self.tick != 0.25
            or set(self.kinds) != set(ALL_KINDS)
            or self.backfill_candles is not None
            or self.trades_limit is not None
            or not self.rate_limits
        ):
            raise SystemExit(
                "bench: --sim demo has a fixed 0.25 s tick and the demo feeds' settings"
            )

    def label(self) -> str:
        extra = "" if set(self.kinds) == set(ALL_KINDS) else f" kinds={','.join(self.kinds)}"
        if self.backfill_candles is not None:
            extra += f" backfill={self.backfill_candles}"
        if self.trades_limit is not None:
            extra += f" tradesLimit={self.trades_limit}"
        if not self.http_thread:
            extra += " api.thread=off"
        if self.event_loop != "uvloop":
            extra += f" loop={self.event_loop}"
        if self.gc_every != 30.0:
            extra += f" gc_every={self.gc_every:g}"
        return f"{self.markets} markets @ {self.tick:g}s ({self.markets / self.tick:.0f}/s){extra}"


@dataclass
class Probe:
    """One sampled ticker: which feed, unified symbol and the simulator's market id."""

    exchange: str
    symbol: str
    market_id: str
    futures: bool


class Stack:
    """memcached + simulator + daemon subprocesses on free ports, and how to read them."""

    def __init__(self, cfg: StackConfig, session: aiohttp.ClientSession) -> None:
        cfg.check()
        self.cfg = cfg
        self.session = session
        self.tmp = Path(tempfile.mkdtemp(prefix="vbp-", dir="/tmp"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.daemon: subprocess.Popen[bytes] | None = None
        self.sim_proc: subprocess.Popen[bytes] | None = None
        self.api = ""
        self.sim_url = ""
        self.started = 0.0

    # -- lifecycle ----------------------------------------------------------------------

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        out = open(self.tmp / log, "wb")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        out.close()
        self.procs.append(proc)
        return proc

    def _daemon_args(self, conf: Path) -> list[str]:
        """The real daemon entry point (under cProfile with ``--profile``)."""
        cfg = self.cfg
        args = [sys.executable, "-m", "virtuoso_daemon", "--config", str(conf)]
        if cfg.profile:
            out = Path(cfg.profile).resolve()
            out.mkdir(parents=True, exist_ok=True)
            name = f"daemon-{cfg.markets}m-{cfg.tick:g}s-{int(time.time())}.prof"
            args[1:1] = ["-m", "cProfile", "-o", str(out / name)]
        return args

    async def start(self) -> None:
        from virtuoso_daemon.core.config import DemoConfig
        from virtuoso_daemon.process.demo import demo_exchanges

        cfg, py = self.cfg, sys.executable
        mc_port = 0
        if cfg.memcached and shutil.which("memcached"):
            mc_port = free_port()
            args = ["memcached", "-l", "127.0.0.1", "-p", str(mc_port), "-U", "0", "-m", "64"]
            if os.geteuid() == 0:
                args += ["-u", "root"]
            await wait_port(mc_port, 10, self._spawn(args, "memcached.log"))
        sim_port, api_port = free_port(), free_port()
        self.sim_url = f"http://127.0.0.1:{sim_port}"
        self.api = f"http://127.0.0.1:{api_port}"
        daemon: dict[str, Any] = {
            "port": api_port,
            "socket": str(self.tmp / "control.sock"),
            "state_dir": str(self.tmp / "state"),
            "log_level": "warning",
            "event_loop": cfg.event_loop,
            "gc_every": cfg.gc_every,
        }
        sections: dict[str, dict[str, Any]] = {
            "daemon": daemon,
            "api": {"thread": cfg.http_thread},
            "memcached": {"enabled": mc_port > 0, "port": mc_port or 11211},
        }
        for name, values in cfg.sections.items():
            sections[name] = {**sections.get(name, {}), **values}
        exchanges: list[dict[str, Any]] = []
        demo = DemoConfig(seed=cfg.seed, n_alts=cfg.n_alts, perpetuals=cfg.perpetuals)
        if cfg.sim == "demo":
            daemon["demo"] = True
            sections["demo"] = {
                "seed": cfg.seed,
                "n_alts": cfg.n_alts,
                "perpetuals": cfg.perpetuals,
                "speed": 1.0,
                "port": sim_port,
            }
        else:
            args = [py, "-m", "virtuoso_daemon.sim.cli", "--port", str(sim_port)]
            args += ["--seed", str(cfg.seed), "--symbols", str(cfg.n_alts), "--speed", "1"]
            args += ["--tick-interval", str(cfg.tick), "--log-level", "warning"]
            args += [] if cfg.perpetuals else ["--no-perpetuals"]
            args += [] if cfg.rate_limits else ["--no-rate-limit"]
            self.sim_proc = self._spawn(args, "sim.log")
            await wait_port(sim_port, 60, self.sim_proc)
            for ex in demo_exchanges(self.sim_url, demo):
                doc = {k: v for k, v in asdict_struct(ex).items() if v not in ("", [], {})}
                doc["kinds"] = list(cfg.kinds)
                if cfg.backfill_candles is not None:
                    doc["backfill_candles"] = cfg.backfill_candles
                if cfg.trades_limit is not None:
                    doc["options"] = {**doc.get("options", {}), "tradesLimit": cfg.trades_limit}
                exchanges.append(doc)
        conf = self.tmp / "virtuoso.toml"
        conf.write_text(toml_doc(sections, exchanges))
        self.daemon = self._spawn(self._daemon_args(conf), "daemon.log")
        await wait_port(api_port, 60, self.daemon)
        self.started = time.monotonic()
        if cfg.sim == "demo":
            await wait_port(sim_port, 60, self.daemon)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, name: str = "daemon.log", lines: int = 20) -> str:
        try:
            return "\n".join((self.tmp / name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- what it watches ------------------------------------------------------------------

    def probes(self, per_feed: int) -> list[Probe]:
        """``per_feed`` symbols of each feed, spread over its list (first ... last)."""
        from virtuoso_daemon.process.demo import PERP_FEED, SPOT_FEED
        from virtuoso_daemon.sim import SimConfig
        from virtuoso_daemon.sim.universe import Universe

        cfg = self.cfg
        u = Universe(SimConfig(seed=cfg.seed, n_alts=cfg.n_alts, perpetuals=cfg.perpetuals))
        out: list[Probe] = []
        feeds = [(SPOT_FEED, "spot")] + ([(PERP_FEED, "futures")] if cfg.perpetuals else [])
        for feed, kind in feeds:
            markets = u.kind_markets(kind)  # type: ignore[arg-type]
            n = min(per_feed, len(markets))
            picks = sorted({round(i * (len(markets) - 1) / max(1, n - 1)) for i in range(n)})
            for i in picks:
                mk = markets[i]
                out.append(Probe(feed, mk.symbol, mk.id, kind == "futures"))
        return out

    # -- reading it -----------------------------------------------------------------------

    async def get_json(self, url: str, timeout: float = 10.0) -> Any:
        async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            r.raise_for_status()
            return json.loads(await r.read())

    async def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = await self.get_json(f"{self.api}/api/system/status")
        return doc

    async def sim_stats(self) -> dict[str, Any]:
        doc: dict[str, Any] = await self.get_json(f"{self.sim_url}/__sim/stats")
        return doc

    async def clock_offset_ms(self) -> float:
        """Simulator clock minus the wall clock (best of 5 by round trip)."""
        best: tuple[float, float] | None = None
        for _ in range(5):
            t0 = time.time()
            stats = await self.sim_stats()
            sim_ms = stats.get("clock_ms", stats["sim_time"])  # without the tick's lead
            t1 = time.time()
            if best is None or t1 - t0 < best[0]:
                best = (t1 - t0, sim_ms - (t0 + t1) / 2 * 1000)
        assert best is not None
        return best[1]

    def cpu_seconds(self, proc: subprocess.Popen[bytes] | None) -> float | None:
        """User + system CPU time of a process so far (to report % of one core)."""
        if proc is None or proc.poll() is not None:
            return None
        try:
            t = psutil.Process(proc.pid).cpu_times()
        except psutil.Error:
            return None
        return float(t.user + t.system)

    def rss_mb(self, proc: subprocess.Popen[bytes] | None) -> float | None:
        if proc is None or proc.poll() is not None:
            return None
        try:
            return float(psutil.Process(proc.pid).memory_info().rss) / 2**20
        except psutil.Error:
            return None

    async def wait_warm(self, timeout: float, backfill: bool = True) -> float:
        """Every market has a live ticker and (optionally) every backfill is done."""
        deadline = time.monotonic() + timeout
        last_note = 0.0
        while True:
            if self.daemon is not None and self.daemon.poll() is not None:
                raise RuntimeError(f"daemon exited:\n{self.log_tail()}")
            st = await self.status()
            c = counters(st)
            tickers = st["stats"].get("ticker_cache", {}).get("tickers", 0)
            done = tickers >= self.cfg.markets and (not backfill or c["backfill_left"] == 0)
            if done:
                return time.monotonic() - self.started
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(
                    f"not warm after {timeout:.0f}s: {tickers}/{self.cfg.markets} tickers, "
                    f"{c['backfill_left']} backfill series left"
                )
            if now - last_note > 15:
                last_note = now
                progress(
                    f"  warming up: {tickers}/{self.cfg.markets} tickers, backfill "
                    f"{c['backfill_done']}/{c['backfill_total']} series, "
                    f"RSS {self.rss_mb(self.daemon) or 0:.0f} MB"
                )
            await asyncio.sleep(1.0)


def asdict_struct(obj: Any) -> dict[str, Any]:
    import msgspec

    out: dict[str, Any] = msgspec.to_builtins(obj)
    return out


@contextlib.asynccontextmanager
async def running_stack(cfg: StackConfig) -> AsyncIterator[Stack]:
    """Start the stack for the body of the block; always stopped and cleaned up."""
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        stack = Stack(cfg, session)
        try:
            await stack.start()
            yield stack
        except BaseException:
            tail = stack.log_tail()
            if tail:
                progress(f"daemon log tail:\n{tail}")
            raise
        finally:
            await asyncio.to_thread(stack.stop)


def counters(st: dict[str, Any]) -> dict[str, Any]:
    """The pipeline counters of one ``/api/system/status`` document."""
    stats = st.get("stats", {})
    bus = st.get("bus", {})
    feeds = {k: v for k, v in stats.items() if k.startswith("feeds:")}
    done = total = reconnects = errors = 0
    for f in feeds.values():
        bf = f.get("backfill") or {}
        done += bf.get("series_done", 0)
        total += bf.get("series_total", 0)
        reconnects += f.get("reconnects", 0)
        errors += sum((f.get("errors") or {}).values())
    ticker_drops = sum(d.get("tickers", 0) for d in bus.get("drops", {}).values())
    return {
        "published_tickers": bus.get("published", {}).get("tickers", 0),
        "published_all": sum(bus.get("published", {}).values()),
        "consumed_tickers": stats.get("ticker_cache", {}).get("received", 0),
        "drops": bus.get("total_drops", 0),
        "ticker_drops": ticker_drops,
        "drops_by": bus.get("drops", {}),
        "restarts": sum(a.get("restarts", 0) for a in st.get("actors", [])),
        "not_running": [a["name"] for a in st.get("actors", []) if a.get("state") != "running"],
        "reconnects": reconnects,
        "feed_errors": errors,
        "feed_states": {k: f.get("state") for k, f in feeds.items()},
        "backfill_done": done,
        "backfill_total": total,
        "backfill_left": total - done,
        "cache_state": stats.get("ticker_cache", {}).get("state"),
        # periodic work that runs beside the feeds (worker threads still need the GIL)
        "persist": stats.get("market_store", {}).get("persist", {}),
        "beta": {
            k: v
            for k, v in (stats.get("beta") or {}).items()
            if not isinstance(v, dict | list) or k in ("compute_ms", "last_compute_ms")
        },
    }


def base_config(ns: argparse.Namespace, markets: int) -> StackConfig:
    return StackConfig(
        markets=markets,
        perpetuals=not ns.spot_only,
        seed=ns.seed,
        sim=ns.sim,
        kinds=tuple(k for k in ns.kinds.split(",") if k),
        memcached=not ns.no_memcached,
        rate_limits=not ns.no_rate_limit,
        profile=ns.profile or "",
        backfill_candles=ns.backfill_candles,
        trades_limit=ns.trades_limit,
        http_thread=ns.http_thread == "on",
        event_loop=ns.event_loop,
        gc_every=ns.gc_every,
    )
