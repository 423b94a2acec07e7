#!/usr/bin/env python3
"""Benchmark of the whole market pipeline, simulator to API (not a test).

Three parts, each on a freshly started stack (memcached, simulator, daemon):

``latency``
    For a few sampled tickers (first, middle and last symbol of each feed), the time
    from the simulator's push to the new value being visible in
    ``GET /api/market/ticker/{symbol}``. The simulator computes and encodes a tick
    ahead of its time and pushes it when its clock reaches it; every ticker event
    carries ``E`` = ``C`` = that time (at speed 1 the clock is the wall clock, anchored
    at start-up and advanced by the monotonic clock; the offset is measured and
    printed), and ccxt turns ``C`` into the ticker's ``timestamp``, so
    the API's ``ticker.ts`` *is* the push time of the value it shows. One poller per
    sampled symbol sleeps until 5 ms before the next push is due (one tick after the
    value it last saw), then polls back to back (``--poll-gap-ms`` apart) until ``ts``
    changes. Latency = the wall time the first poll showing the new ``ts`` returned,
    minus ``ts``: an upper bound, too high by at most that poll's window (the time
    since the last poll that still showed the old value; reported as ``resolution``).
    Polling only from just before the expected push until the value shows keeps the
    probe's own load on the daemon small (reported as ``polls_per_s``). The same value's
    legs are reported too: ``ws`` = arrival at an independent websocket client of
    the simulator (the exchange side: tick computation, encoding, send), ``feed`` =
    the daemon's receive time (``ticker.recv_ts``: ccxt parse and wake-up).
``rate``
    Steps of increasing offered ticker rate (``MARKETS@TICK``: markets watched,
    simulator tick in seconds; offered = markets / tick tickers/s, every ticker stream
    pushes every tick). Per step: warm up (every ticker present, backfill done, a
    settle period), then over ``--rate-seconds`` compare the tickers the simulator
    pushed (its tick counter x markets) with what the daemon's ticker cache consumed
    (``stats.ticker_cache.received``) and published on the bus, and watch bus drops,
    restarts, feed reconnects and latency (first vs last third). A step keeps up when
    consumed >= 97 % of offered, no drops, no restarts or reconnects and the latency
    median did not grow by more than 25 ms.
``soak``
    ``--soak-markets`` markets for ``--soak-seconds``: the daemon's RSS (psutil)
    every ``--sample-seconds``, plus restarts, drops and whether tickers keep moving;
    start, end, max and the slope of RSS (over the whole run and its second half).

The simulator runs in its own process by default (``--sim external``: ``virtuoso-sim``
with the same settings as ``--demo``, the daemon's feeds built by
:func:`virtuoso_daemon.process.demo.demo_exchanges`), so the daemon's RSS and CPU are
its own and the tick interval can be varied. ``--sim demo`` runs ``virtuoso-daemon
--demo`` instead (simulator inside the daemon; tick fixed at 0.25 s). The daemon is
always the real ``python -m virtuoso_daemon --config <generated toml>``.

Usage::

    .venv/bin/python scripts/bench_pipeline.py --json out.json     # all parts (~35 min)
    .venv/bin/python scripts/bench_pipeline.py --parts latency [--sim demo] [--kinds tickers]
    .venv/bin/python scripts/bench_pipeline.py --parts rate --rate-steps 82@0.25,300@0.25
    .venv/bin/python scripts/bench_pipeline.py --parts soak --soak-after-warm --trades-limit 50

Progress goes to stderr as it runs, the summary to stdout; ``--json`` keeps every
figure and the raw latency samples. Figures and findings: ``docs/market.md``,
"Pipeline latency, rate and memory".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ALL_KINDS = ("tickers", "ohlcv", "trades", "orderbook")
T0 = time.monotonic()


def progress(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout}s")


def pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def dist(values: list[float]) -> dict[str, Any]:
    """p50/p90/p99/max of a list of milliseconds."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p90": pct(values, 90),
        "p99": pct(values, 99),
        "max": max(values),
    }


def fmt_dist(d: dict[str, Any]) -> str:
    if not d.get("n"):
        return "no samples"
    return (
        f"p50 {d['p50']:.1f}  p90 {d['p90']:.1f}  p99 {d['p99']:.1f}  max {d['max']:.1f} ms"
        f"  (n={d['n']})"
    )


def toml_value(v: Any) -> str:
    """Enough TOML for a generated config (msgspec's TOML writer needs tomli_w)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML for {type(v).__name__}")


def toml_doc(sections: dict[str, dict[str, Any]], exchanges: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    for ex in exchanges:
        lines.append("[[exchanges]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in ex.items()]
    return "\n".join(lines) + "\n"


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


# --- latency probing ---------------------------------------------------------------------


@dataclass
class Sample:
    """One new value first seen in the API."""

    exchange: str
    symbol: str
    e_ms: int  # the simulator's push time (E = ticker.ts)
    seen: float  # wall time the first poll showing it returned
    resolution: float  # seconds since the last poll that still showed the old value
    recv_ts: float  # the daemon's receive time (ticker.recv_ts)
    ws: float | None = None  # arrival of the same event at the observer websocket

    @property
    def api_ms(self) -> float:
        return self.seen * 1000 - self.e_ms

    @property
    def feed_ms(self) -> float:
        return self.recv_ts * 1000 - self.e_ms


@dataclass
class LatencyRun:
    samples: list[Sample] = field(default_factory=list)
    rtts: list[float] = field(default_factory=list)
    polls: int = 0
    skipped: int = 0  # ticks whose value the API never showed (a newer one came first)
    ws_frames: int = 0
    ws_arrivals: dict[tuple[str, int], float] = field(default_factory=dict)


async def poll_symbol(
    stack: Stack,
    probe: Probe,
    run: LatencyRun,
    stop: float,
    gap: float,
    interval: float,
    lead: float = 0.005,
) -> None:
    url = f"{stack.api}/api/market/ticker/{quote(probe.symbol, safe='')}?exchange={probe.exchange}"
    session = stack.session
    last: int | None = None
    last_old_poll = 0.0  # send time of the last poll that showed the old value

    async def once() -> tuple[float, float, dict[str, Any]]:
        t0 = time.time()
        async with session.get(url) as r:
            body = await r.read()
        t1 = time.time()
        run.polls += 1
        run.rtts.append(t1 - t0)
        return t0, t1, json.loads(body)

    while time.time() < stop:
        if last is not None:
            # the next push is due one tick after the last; start just before it
            wake = last / 1000 + interval - lead
            delay = wake - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
        while time.time() < stop:
            t0, t1, doc = await once()
            if "ticker" not in doc:  # no data yet (404 body)
                await asyncio.sleep(interval)
                continue
            tk = doc["ticker"]
            ts = int(tk["ts"])
            if last is None or ts == last:
                if last is None:
                    last = ts
                    last_old_poll = t0
                    break
                last_old_poll = t0
                await asyncio.sleep(gap)
                continue
            if ts > last:
                run.skipped += max(0, round((ts - last) / 1000 / interval) - 1)
                run.samples.append(
                    Sample(probe.exchange, probe.symbol, ts, t1, t1 - last_old_poll, tk["recv_ts"])
                )
            last = ts
            last_old_poll = t0
            break


async def observe_ws(stack: Stack, probes: list[Probe], run: LatencyRun, stop: float) -> None:
    """An independent websocket client of the simulator: when each event arrives."""
    groups: dict[bool, list[Probe]] = {}
    for p in probes:
        groups.setdefault(p.futures, []).append(p)

    async def one(futures: bool, members: list[Probe]) -> None:
        ids = {p.market_id: p.symbol for p in members}
        streams = "/".join(f"{i.lower()}@ticker" for i in ids)
        path = "/fstream/stream" if futures else "/stream"
        url = f"{stack.sim_url.replace('http', 'ws', 1)}{path}?streams={streams}"
        async with stack.session.ws_connect(url, heartbeat=None, max_msg_size=1 << 22) as ws:
            while time.time() < stop:
                try:
                    msg = await asyncio.wait_for(ws.receive(), timeout=max(0.1, stop - time.time()))
                except TimeoutError:
                    return
                now = time.time()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        return
                    continue
                data = json.loads(msg.data).get("data", {})
                symbol = ids.get(data.get("s", ""))
                if symbol is not None and "E" in data:
                    run.ws_frames += 1
                    run.ws_arrivals[(symbol, int(data["E"]))] = now

    await asyncio.gather(*(one(f, m) for f, m in groups.items()))


async def measure_latency(
    stack: Stack, probes: list[Probe], seconds: float, gap: float, observer: bool = True
) -> LatencyRun:
    run = LatencyRun()
    stop = time.time() + seconds
    interval = stack.cfg.tick
    tasks = [poll_symbol(stack, p, run, stop, gap, interval) for p in probes]
    if observer:
        tasks.append(observe_ws(stack, probes, run, stop + 0.5))
    await asyncio.gather(*tasks)
    for s in run.samples:
        s.ws = run.ws_arrivals.get((s.symbol, s.e_ms))
    return run


def summarize_latency(run: LatencyRun, seconds: float = 0.0) -> dict[str, Any]:
    samples = run.samples
    ws = [s for s in samples if s.ws is not None]
    third = max(1, len(samples) // 3)
    by_symbol: dict[str, list[float]] = {}
    for s in samples:
        by_symbol.setdefault(f"{s.exchange}:{s.symbol}", []).append(s.api_ms)
    first = sorted(samples, key=lambda s: s.e_ms)
    return {
        "api": dist([s.api_ms for s in samples]),
        "feed_recv": dist([s.feed_ms for s in samples]),
        "ws_observer": dist([(s.ws or 0) * 1000 - s.e_ms for s in ws]),
        "feed_minus_ws": dist([(s.recv_ts - (s.ws or 0)) * 1000 for s in ws]),
        "api_minus_ws": dist([(s.seen - (s.ws or 0)) * 1000 for s in ws]),
        "api_minus_feed": dist([(s.seen - s.recv_ts) * 1000 for s in samples]),
        "resolution": dist([s.resolution * 1000 for s in samples]),
        "poll_rtt": dist([r * 1000 for r in run.rtts]),
        "per_symbol_p50": {k: pct(v, 50) for k, v in by_symbol.items()},
        "per_symbol_p99": {k: pct(v, 99) for k, v in by_symbol.items()},
        "first_third_p50": pct([s.api_ms for s in first[:third]], 50),
        "last_third_p50": pct([s.api_ms for s in first[-third:]], 50),
        "polls": run.polls,
        "polls_per_s": run.polls / seconds if seconds else None,
        "skipped_ticks": run.skipped,
        "ws_matched": len(ws),
        # raw, for later analysis: exchange, symbol, E, seen, resolution, recv_ts, ws
        "samples": [
            [
                s.exchange,
                s.symbol,
                s.e_ms,
                round(s.seen, 4),
                round(s.resolution, 4),
                round(s.recv_ts, 4),
                None if s.ws is None else round(s.ws, 4),
            ]
            for s in samples
        ],
    }


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- the parts -----------------------------------------------------------------------------


async def part_latency(ns: argparse.Namespace) -> dict[str, Any]:
    cfg = base_config(ns, markets=ns.latency_markets)
    progress(f"latency: starting {cfg.label()} (sim {cfg.sim})")
    async with running_stack(cfg) as stack:
        warm = await stack.wait_warm(ns.warmup_timeout)
        progress(f"latency: warm after {warm:.0f}s; settling {ns.settle:g}s")
        await asyncio.sleep(ns.settle)
        offset = await stack.clock_offset_ms()
        probes = stack.probes(ns.probes)
        progress(
            f"latency: sim clock - wall clock = {offset:+.1f} ms; polling {len(probes)} "
            f"tickers for {ns.latency_seconds:g}s"
        )
        load0 = load_avg()
        c0 = counters(await stack.status())
        run = await measure_latency(stack, probes, ns.latency_seconds, ns.poll_gap_ms / 1000)
        st1 = await stack.status()
        c1 = counters(st1)
        offset1 = await stack.clock_offset_ms()
        out = summarize_latency(run, ns.latency_seconds)
        out.update(
            config=asdict(cfg),
            warmup_seconds=warm,
            clock_offset_ms=[offset, offset1],
            load_avg=[load0, load_avg()],
            drops=c1["drops"] - c0["drops"],
            restarts=c1["restarts"] - c0["restarts"],
            rss_mb=stack.rss_mb(stack.daemon),
            gc=st1["stats"].get("gc"),  # the GC policy and the quiet collector's figures
        )
        progress(f"latency: API visible - push:  {fmt_dist(out['api'])}")
        progress(f"latency: feed receive - push:  {fmt_dist(out['feed_recv'])}")
        progress(f"latency: observer ws - push:   {fmt_dist(out['ws_observer'])}")
        progress(f"latency: API - observer ws:    {fmt_dist(out['api_minus_ws'])}")
        progress(f"latency: poll resolution:      {fmt_dist(out['resolution'])}")
        progress(
            f"latency: poll round trip:      {fmt_dist(out['poll_rtt'])}; "
            f"{out['polls_per_s']:.0f} polls/s"
        )
        if out["gc"]:
            progress(f"latency: garbage collection: {out['gc']}")
        return out


async def rate_step(ns: argparse.Namespace, cfg: StackConfig) -> dict[str, Any]:
    progress(f"rate: step {cfg.label()}")
    async with running_stack(cfg) as stack:
        warm = await stack.wait_warm(ns.warmup_timeout)
        progress(f"rate:   warm after {warm:.0f}s; settling {ns.settle:g}s")
        await asyncio.sleep(ns.settle)
        probes = stack.probes(ns.rate_probes)
        st0, k0, t0, load0 = await stack.status(), await stack.sim_stats(), time.time(), load_avg()
        cpu0 = (stack.cpu_seconds(stack.daemon), stack.cpu_seconds(stack.sim_proc))
        run = await measure_latency(
            stack, probes, ns.rate_seconds, ns.poll_gap_ms / 1000, observer=False
        )
        st1, k1, t1 = await stack.status(), await stack.sim_stats(), time.time()
        cpu1 = (stack.cpu_seconds(stack.daemon), stack.cpu_seconds(stack.sim_proc))
        c0, c1 = counters(st0), counters(st1)
        dt = t1 - t0
        cpu = [
            None if a is None or b is None else round((b - a) / dt * 100, 1)
            for a, b in zip(cpu0, cpu1, strict=True)
        ]
        ticks = (k1["tick"] - k0["tick"]) / dt
        lat = summarize_latency(run, ns.rate_seconds)
        out: dict[str, Any] = {
            "config": asdict(cfg),
            "nominal_per_s": cfg.markets / cfg.tick,
            "sim_ticks_per_s": ticks,
            "sim_ticks_nominal": 1 / cfg.tick,
            "offered_per_s": ticks * cfg.markets,
            "published_per_s": (c1["published_tickers"] - c0["published_tickers"]) / dt,
            "consumed_per_s": (c1["consumed_tickers"] - c0["consumed_tickers"]) / dt,
            "all_messages_per_s": (c1["published_all"] - c0["published_all"]) / dt,
            "ws_messages_per_s": (k1["ws_messages_sent"] - k0["ws_messages_sent"]) / dt,
            "drops": c1["drops"] - c0["drops"],
            "drops_by": drops_delta(c0["drops_by"], c1["drops_by"]),
            "restarts": c1["restarts"] - c0["restarts"],
            "reconnects": c1["reconnects"] - c0["reconnects"],
            "persist": c1["persist"],
            "beta": c1["beta"],
            "daemon_cpu_pct": cpu[0],
            "sim_cpu_pct": cpu[1],
            "latency": lat,
            "warmup_seconds": warm,
            "rss_mb": stack.rss_mb(stack.daemon),
            "load_avg": [load0, load_avg()],
        }
        first, last = lat["first_third_p50"], lat["last_third_p50"]
        growth = (last - first) if first is not None and last is not None else None
        out["lag_growth_ms"] = growth
        reasons = []
        if out["consumed_per_s"] < 0.97 * out["offered_per_s"]:
            reasons.append("consumed < 97% of offered")
        if out["drops"]:
            reasons.append(f"{out['drops']} bus drops")
        if out["restarts"] or out["reconnects"]:
            reasons.append(f"{out['restarts']} restarts, {out['reconnects']} reconnects")
        if growth is None or growth > 25:
            reasons.append("latency grew" if growth is not None else "no latency samples")
        out["keeps_up"] = not reasons
        out["why_not"] = reasons
        out["sim_limited"] = ticks < 0.9 / cfg.tick
        api = lat["api"]
        progress(
            f"rate:   offered {out['offered_per_s']:.0f}/s (sim {ticks:.2f} of "
            f"{1 / cfg.tick:g} ticks/s), consumed {out['consumed_per_s']:.0f}/s, all bus "
            f"{out['all_messages_per_s']:.0f}/s, drops {out['drops']}, CPU daemon "
            f"{cpu[0]}% sim {cpu[1]}%, latency "
            f"{fmt_dist(api)}, growth {growth if growth is None else round(growth, 1)} ms -> "
            f"{'keeps up' if out['keeps_up'] else 'BEHIND: ' + '; '.join(reasons)}"
            + (f" (drops by subscriber/topic: {out['drops_by']})" if out["drops_by"] else "")
        )
        return out


def drops_delta(a: dict[str, dict[str, int]], b: dict[str, dict[str, int]]) -> dict[str, int]:
    out = {}
    for sub, topics in b.items():
        for topic, n in topics.items():
            d = n - a.get(sub, {}).get(topic, 0)
            if d:
                out[f"{sub}/{topic}"] = d
    return out


def parse_steps(text: str) -> list[tuple[int, float]]:
    steps = []
    for part in text.split(","):
        markets, _, tick = part.strip().partition("@")
        steps.append((int(markets), float(tick or 0.25)))
    return steps


async def part_rate(ns: argparse.Namespace) -> dict[str, Any]:
    steps = []
    failures = 0
    for markets, tick in parse_steps(ns.rate_steps):
        cfg = replace(base_config(ns, markets=markets), tick=tick)
        if ns.sim == "external" and ns.rate_backfill_candles > 0:
            cfg = replace(cfg, backfill_candles=ns.rate_backfill_candles)
        try:
            step = await rate_step(ns, cfg)
        except RuntimeError as exc:
            progress(f"rate:   step failed: {exc}")
            step = {"config": asdict(cfg), "keeps_up": False, "why_not": [str(exc)[:300]]}
            step["nominal_per_s"] = markets / tick
        steps.append(step)
        failures = 0 if step["keeps_up"] else failures + 1
        if failures >= ns.rate_stop_after:
            progress(f"rate: {failures} step(s) in a row behind; stopping")
            break
    kept = [s for s in steps if s["keeps_up"]]
    best = max(kept, key=lambda s: s["offered_per_s"]) if kept else None
    if best:
        progress(
            f"rate: highest kept up: {best['offered_per_s']:.0f} tickers/s "
            f"({best['config']['markets']} markets @ {best['config']['tick']:g}s)"
        )
    else:
        progress("rate: no step kept up")
    return {
        "steps": steps,
        "highest_kept_up_per_s": best["offered_per_s"] if best else None,
        "highest_kept_up": best["config"] if best else None,
    }


def slope_mb_per_min(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    t = np.array([p[0] for p in points]) / 60
    y = np.array([p[1] for p in points])
    return float(np.polyfit(t, y, 1)[0])


async def soak(
    stack: Stack,
    seconds: float,
    every: float,
    on_sample: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Sample RSS and health every ``every`` s for ``seconds``; summarize."""
    probe = stack.probes(1)[0]
    url = f"{stack.api}/api/market/ticker/{quote(probe.symbol, safe='')}?exchange={probe.exchange}"
    samples: list[dict[str, Any]] = []
    start = time.monotonic()
    backfill_done_at: float | None = None
    cpu_prev: tuple[float, float] | None = None
    while True:
        elapsed = time.monotonic() - start
        st = await stack.status()
        c = counters(st)
        try:
            ts = (await stack.get_json(url))["ticker"]["ts"]
        except (aiohttp.ClientResponseError, KeyError):
            ts = None
        if backfill_done_at is None and c["backfill_total"] and not c["backfill_left"]:
            backfill_done_at = elapsed
        cpu = stack.cpu_seconds(stack.daemon)
        cpu_pct = None
        if cpu is not None and cpu_prev is not None:
            cpu_pct = round((cpu - cpu_prev[0]) / (elapsed - cpu_prev[1]) * 100, 1)
        cpu_prev = None if cpu is None else (cpu, elapsed)
        sample = {
            "t": round(elapsed, 1),
            "rss_mb": stack.rss_mb(stack.daemon),
            "cpu_pct": cpu_pct,
            "sim_rss_mb": stack.rss_mb(stack.sim_proc),
            "tickers": st["stats"].get("ticker_cache", {}).get("tickers", 0),
            "consumed": c["consumed_tickers"],
            "drops": c["drops"],
            "restarts": c["restarts"],
            "reconnects": c["reconnects"],
            "not_running": c["not_running"],
            "probe_ts": ts,
            "backfill_left": c["backfill_left"],
            "persist_runs": c["persist"].get("runs"),
            "persist_last_seconds": c["persist"].get("last_seconds"),
            "load_avg": load_avg(),
        }
        samples.append(sample)
        if on_sample:
            on_sample(sample)
        if elapsed >= seconds:
            break
        await asyncio.sleep(max(0.0, start + len(samples) * every - time.monotonic()))
    return summarize_soak(samples, backfill_done_at, stack.cfg)


def summarize_soak(
    samples: list[dict[str, Any]], backfill_done_at: float | None, cfg: StackConfig
) -> dict[str, Any]:
    pts = [(s["t"], s["rss_mb"]) for s in samples if s["rss_mb"] is not None]
    half = samples[-1]["t"] / 2
    second = [p for p in pts if p[0] >= half]
    # from the first sample that has a ticker on: did it change between two samples?
    moving = [
        b["probe_ts"] is not None and b["probe_ts"] > a["probe_ts"]
        for a, b in itertools.pairwise(samples)
        if a["probe_ts"] is not None
    ]
    growth_2nd = None
    if len(second) >= 2:
        slope = slope_mb_per_min(second) if len(second) >= 3 else None
        span = (second[-1][0] - second[0][0]) / 60
        base = second[0][1]
        growth_2nd = (slope * span / base * 100) if slope is not None else None
    last = samples[-1]
    return {
        "config": asdict(cfg),
        "seconds": last["t"],
        "rss_start_mb": pts[0][1] if pts else None,
        "rss_end_mb": pts[-1][1] if pts else None,
        "rss_max_mb": max(p[1] for p in pts) if pts else None,
        "rss_mid_mb": second[0][1] if second else None,
        "slope_mb_per_min": slope_mb_per_min(pts),
        "slope_2nd_half_mb_per_min": slope_mb_per_min(second),
        "growth_2nd_half_pct": growth_2nd,
        "sim_rss_end_mb": last["sim_rss_mb"],
        "restarts": last["restarts"],
        "reconnects": last["reconnects"],
        "drops": last["drops"],
        "not_running": last["not_running"],
        "tickers_moving": all(moving) if moving else False,
        "moving_fraction": sum(moving) / len(moving) if moving else 0.0,
        "backfill_done_at": backfill_done_at,
        "cpu_pct_mean": pct([x["cpu_pct"] for x in samples if x["cpu_pct"] is not None], 50),
        "load_avg_max": max(x["load_avg"][0] for x in samples),
        "samples": samples,
    }


async def part_soak(ns: argparse.Namespace) -> dict[str, Any]:
    cfg = base_config(ns, markets=ns.soak_markets)
    progress(
        f"soak: starting {cfg.label()} for {ns.soak_seconds:g}s, sampling every "
        f"{ns.sample_seconds:g}s"
    )

    def note(s: dict[str, Any]) -> None:
        progress(
            f"soak: t={s['t']:6.0f}s RSS {s['rss_mb'] or 0:6.1f} MB CPU {s['cpu_pct']}%"
            + (f" (sim {s['sim_rss_mb']:.0f} MB)" if s["sim_rss_mb"] else "")
            + f" tickers {s['tickers']} consumed {s['consumed']} drops {s['drops']} "
            f"restarts {s['restarts']} backfill left {s['backfill_left']} load {s['load_avg'][0]}"
        )

    async with running_stack(cfg) as stack:
        warm = None
        if ns.soak_after_warm:
            warm = await stack.wait_warm(ns.warmup_timeout)
            progress(f"soak: warm after {warm:.0f}s; the clock starts now")
        out = await soak(stack, ns.soak_seconds, ns.sample_seconds, note)
        out["warmup_seconds"] = warm
    progress(
        f"soak: RSS start {num(out['rss_start_mb'])} end {num(out['rss_end_mb'])} max "
        f"{num(out['rss_max_mb'])} MB; slope {num(out['slope_mb_per_min'], 2)} MB/min "
        f"(2nd half {num(out['slope_2nd_half_mb_per_min'], 2)}); restarts {out['restarts']}, "
        f"drops {out['drops']}, tickers moving {out['moving_fraction']:.0%}"
    )
    return out


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


def build_parser() -> argparse.ArgumentParser:
    class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
        """Defaults in the help, and the module docstring (the method) as written."""

    p = argparse.ArgumentParser(description=__doc__, formatter_class=Formatter)
    p.add_argument("--parts", default="latency,rate,soak", help="comma list of parts to run")
    p.add_argument(
        "--sim",
        choices=["external", "demo"],
        default="external",
        help="simulator in its own process, or inside the daemon (--demo; tick fixed)",
    )
    p.add_argument("--spot-only", action="store_true", help="no perpetuals (markets = alts + 1)")
    p.add_argument("--seed", type=int, default=42, help="the simulator's seed")
    p.add_argument("--kinds", default=",".join(ALL_KINDS), help="data kinds the feeds collect")
    p.add_argument("--no-memcached", action="store_true", help="run the cache memory-only")
    p.add_argument("--no-rate-limit", action="store_true", help="no request weights in the sim")
    p.add_argument("--warmup-timeout", type=float, default=420.0, help="seconds to get warm")
    p.add_argument("--settle", type=float, default=10.0, help="seconds after warm-up")
    p.add_argument("--poll-gap-ms", type=float, default=1.0, help="pause between polls")
    p.add_argument(
        "--http-thread",
        choices=["on", "off"],
        default="on",
        help="the daemon's api.thread: HTTP server in its own thread or on the main loop",
    )
    p.add_argument(
        "--event-loop", choices=["uvloop", "asyncio"], default="uvloop", help="daemon.event_loop"
    )
    p.add_argument(
        "--gc-every",
        type=float,
        default=30.0,
        help="daemon.gc_every: seconds between full GC passes at quiet moments (0 = CPython's)",
    )
    p.add_argument(
        "--backfill-candles",
        type=int,
        help="override the feeds' backfill_candles in the latency and soak parts "
        "(unset: the demo's 2200)",
    )
    p.add_argument(
        "--trades-limit",
        type=int,
        help="set the feeds' ccxt option tradesLimit (trades ccxt caches per symbol; "
        "unset: ccxt's 1000)",
    )
    g = p.add_argument_group("latency")
    g.add_argument("--latency-markets", type=int, default=82, help="82 = the demo's 40 alts")
    g.add_argument("--latency-seconds", type=float, default=60.0, help="polling time")
    g.add_argument("--probes", type=int, default=3, help="sampled symbols per feed")
    g = p.add_argument_group("rate")
    g.add_argument(
        "--rate-steps",
        default="40@0.25,82@0.25,150@0.25,200@0.25,300@0.25,300@0.1",
        help="MARKETS@TICK steps, offered = MARKETS/TICK tickers/s",
    )
    g.add_argument("--rate-seconds", type=float, default=30.0, help="measurement per step")
    g.add_argument("--rate-probes", type=int, default=1, help="sampled symbols per feed")
    g.add_argument("--rate-stop-after", type=int, default=2, help="stop after N steps behind")
    g.add_argument(
        "--rate-backfill-candles",
        type=int,
        default=100,
        help="candles per series the feeds backfill in rate steps (a short warm-up; the "
        "steady state is what is measured); 0 = the demo's 2200",
    )
    g = p.add_argument_group("soak")
    g.add_argument("--soak-markets", type=int, default=300, help="300 = 149 alts + BTC, x2")
    g.add_argument("--soak-seconds", type=float, default=600.0, help="how long to sample")
    g.add_argument("--sample-seconds", type=float, default=10.0, help="RSS sample period")
    g.add_argument(
        "--soak-after-warm",
        action="store_true",
        help="start the soak clock once warm (every ticker, backfill done), not at start-up",
    )
    p.add_argument("--json", metavar="PATH", help="write every figure (and samples) as JSON")
    p.add_argument(
        "--profile",
        metavar="DIR",
        help="run the daemon under cProfile (slower!) and write one .prof per stack to DIR",
    )
    return p


async def amain(ns: argparse.Namespace) -> dict[str, Any]:
    parts = [x.strip() for x in ns.parts.split(",") if x.strip()]
    unknown = set(parts) - {"latency", "rate", "soak"}
    if unknown:
        raise SystemExit(f"bench: unknown part(s) {sorted(unknown)}")
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cpus": os.cpu_count(),
        "load_avg_start": load_avg(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    runners = {"latency": part_latency, "rate": part_rate, "soak": part_soak}
    for part in parts:
        results[part] = await runners[part](ns)
    results["load_avg_end"] = load_avg()
    return results


def num(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def report(results: dict[str, Any]) -> None:
    print(
        f"\ncpus={results['cpus']} load avg start {results['load_avg_start']} end "
        f"{results['load_avg_end']}"
    )
    lat = results.get("latency")
    if lat:
        c = lat["config"]
        print(
            f"\nLatency, push -> visible in API ({c['markets']} markets, tick {c['tick']}s, "
            f"sim {c['sim']}; sim clock offset {lat['clock_offset_ms'][0]:+.1f} ms)"
        )
        for key, name in [
            ("api", "API (upper bound)"),
            ("feed_recv", "daemon feed receive"),
            ("ws_observer", "observer websocket"),
            ("api_minus_ws", "observer ws -> API"),
            ("api_minus_feed", "feed receive -> API"),
            ("resolution", "poll resolution"),
            ("poll_rtt", "poll round trip"),
        ]:
            print(f"  {name:<22} {fmt_dist(lat[key])}")
        p99 = lat["api"].get("p99")
        print(f"  target p99 < 50 ms: {'met' if p99 is not None and p99 < 50 else 'NOT met'}")
    rate = results.get("rate")
    if rate:
        print("\nSustained ticker rate")
        print(
            f"  {'step':<34}{'offered/s':>10}{'ticks/s':>9}{'consumed/s':>11}{'drops':>7}"
            f"{'p50 ms':>8}{'p99 ms':>8}  verdict"
        )
        for s in rate["steps"]:
            c = s["config"]
            label = f"{c['markets']} markets @ {c['tick']}s"
            if "offered_per_s" not in s:
                print(f"  {label:<34} failed: {s['why_not']}")
                continue
            api = s["latency"]["api"]
            print(
                f"  {label:<34}{s['offered_per_s']:>10.0f}{s['sim_ticks_per_s']:>9.2f}"
                f"{s['consumed_per_s']:>11.0f}{s['drops']:>7}"
                f"{api.get('p50') or float('nan'):>8.1f}{api.get('p99') or float('nan'):>8.1f}  "
                f"{'keeps up' if s['keeps_up'] else 'behind: ' + '; '.join(s['why_not'])}"
            )
        best = rate["highest_kept_up_per_s"]
        print(f"  highest kept up: {'none' if best is None else f'{best:.0f}'} tickers/s")
    sk = results.get("soak")
    if sk:
        c = sk["config"]
        print(f"\nSoak: {c['markets']} markets, {sk['seconds']:.0f}s")
        print(
            f"  RSS start {num(sk['rss_start_mb'])} MB, end {num(sk['rss_end_mb'])}, max "
            f"{num(sk['rss_max_mb'])}; slope {num(sk['slope_mb_per_min'], 2)} MB/min, second "
            f"half {num(sk['slope_2nd_half_mb_per_min'], 2)} MB/min "
            f"({num(sk['growth_2nd_half_pct'])} %)"
        )
        print(
            f"  restarts {sk['restarts']}, reconnects {sk['reconnects']}, drops {sk['drops']}, "
            f"tickers moving {sk['moving_fraction']:.0%}; target < 200 MB and flat: "
            f"{'met' if (sk['rss_max_mb'] or 1e9) < 200 else 'NOT met'}"
        )


def main() -> int:
    ns = build_parser().parse_args()
    results = asyncio.run(amain(ns))
    report(results)
    if ns.json:
        Path(ns.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
