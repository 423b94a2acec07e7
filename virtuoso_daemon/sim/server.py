"""The simulator: one aiohttp app serving REST, websockets and the ``/__sim`` side channel.

:class:`Simulator` wires the :class:`~.model.Engine` to each dialect's REST handlers
and websocket hub (Binance: :class:`~.rest.RestApi`, :class:`~.ws.Hub`; OKX v5:
:mod:`.okx`, paths that do not overlap Binance's, so both can be served at once:
``SimConfig.dialects``), runs the market clock (one engine tick and one websocket
fan-out every ``tick_interval`` wall seconds) and applies faults and rate limits in a
guard around each endpoint.

Side channel (never rate limited or faulted):

- ``GET /__sim/truth``: true betas, vols, correlations, injected whales and walls,
  scripted episodes.
- ``GET|POST|DELETE /__sim/faults``, ``DELETE /__sim/faults/{id}``: see :mod:`.faults`.
- ``DELETE /__sim/ratelimits``: forget every IP's weight window and ban.
- ``GET /__sim/stats``: clock, connections, messages, requests.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import anyio
import anyio.abc
import msgspec
import numpy as np
from aiohttp import web

from virtuoso_daemon.sim import encode
from virtuoso_daemon.sim.config import SimConfig
from virtuoso_daemon.sim.faults import Fault, FaultBoard, parse_faults
from virtuoso_daemon.sim.model import Engine
from virtuoso_daemon.sim.okx.rest import OkxRest
from virtuoso_daemon.sim.okx.ws import OkxHub
from virtuoso_daemon.sim.ratelimit import RateLimiter, Verdict, request_weight
from virtuoso_daemon.sim.rest import JSON, Handler, RestApi
from virtuoso_daemon.sim.universe import Kind
from virtuoso_daemon.sim.ws import Hub

log = logging.getLogger("virtuoso.sim")

TICKER_HEAD_START = 0.001  # s between a tick's ticker frames and the rest (see _run_clock)
#: bounds of how far ahead of its time a tick is computed (wall seconds; see _run_clock)
TICK_LEAD_MIN = 0.003
TICK_LEAD_WINDOW = 32  # ticks whose compute time sets the lead


class Simulator:
    """A simulated exchange (spot + USD-M perpetuals) on one port, in the Binance and/or
    OKX v5 dialect."""

    def __init__(self, config: SimConfig = SimConfig()) -> None:
        self.config = config
        self.engine = Engine(config)
        self.faults = FaultBoard(seed=config.seed)
        self.limiter = RateLimiter(
            limits={"spot": config.spot_weight_limit, "futures": config.futures_weight_limit},
            window=config.rate_limit_window,
            ban_after=config.ban_after,
            ban_seconds=config.ban_seconds,
            enabled=config.rate_limits,
        )
        self.hub = Hub(self.engine, self.faults, config)
        self.rest = RestApi(self.engine, config, self.now_ms)
        self.rest.faults = self.faults
        self.okx_rest = OkxRest(self.engine, self.faults)
        self.okx_hub = OkxHub(self.engine, self.faults, config)
        self.hubs: list[Any] = [self.hub, self.okx_hub]
        self.base_url = ""
        self.requests = 0
        self._anchor: tuple[float, int] | None = None
        self._step_times: deque[float] = deque([0.0], maxlen=TICK_LEAD_WINDOW)
        self._lead = TICK_LEAD_MIN

    # -- clock ------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """Current simulated time (unix ms); a tick computed ahead of time counts as now."""
        return max(self.engine.t_ms, self._clock_ms(time.monotonic()))

    def _clock_ms(self, mono: float) -> int:
        """The simulated time at monotonic time ``mono``."""
        if self._anchor is None:
            return self.engine.t_ms
        anchor_mono, anchor_sim = self._anchor
        return anchor_sim + int((mono - anchor_mono) * self.config.speed * 1000)

    def _start_clock(self) -> None:
        # the anchor pairs the wall time with the monotonic time read *with* it: read
        # after the catch-up step, the clock ran behind the wall clock by that step's
        # duration (4-10 ms) for the whole run
        mono = time.monotonic()
        wall = int(time.time() * 1000)
        if wall > self.engine.t_ms:
            self.engine.tick(wall)
        self._anchor = (mono, self.engine.t_ms)

    async def _run_clock(self) -> None:
        """One engine step and one fan-out every ``tick_interval``.

        A tick is computed and encoded *ahead* of its time and pushed when the clock
        reaches it, so every event goes out at its own event time ``E``, as an
        exchange's do (its matching engine does not stamp an event before doing the
        work). The lead is twice the slowest of the last :data:`TICK_LEAD_WINDOW`
        steps (``/__sim/stats``: ``step_ms``, ``lead_ms``), at least
        :data:`TICK_LEAD_MIN` and at most half a tick. A step slower than the lead is
        pushed late.
        """
        interval = self.config.tick_interval
        took = self._step_times
        push_at = time.monotonic() + interval
        while True:
            lead = self._lead = min(interval / 2, max(TICK_LEAD_MIN, 2 * max(took)))
            now = time.monotonic()
            if push_at - lead < now:  # overloaded: do not burst to catch up
                push_at = now + lead
            await anyio.sleep(max(0.0, push_at - lead - time.monotonic()))
            started = time.monotonic()
            self.engine.tick(max(self.engine.t_ms, self._clock_ms(push_at)))
            tickers = [hub.prepare("tickers") for hub in self.hubs]
            rest = [hub.prepare("rest") for hub in self.hubs]
            took.append(time.monotonic() - started)
            await anyio.sleep(max(0.0, push_at - time.monotonic()))
            for hub, batch in zip(self.hubs, tickers, strict=True):
                hub.apply_faults()
                hub.send(batch)
            # let the writers send the tickers before the rest: a bare checkpoint is
            # not enough on uvloop, which flushes socket writes only when the loop
            # goes idle (measured: tickers left 5-10 ms late)
            await anyio.sleep(TICKER_HEAD_START)
            for hub, batch in zip(self.hubs, rest, strict=True):
                hub.send(batch)
            push_at += interval

    # -- public API -------------------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        """Ground truth: true betas, vols, correlations, injected whales, walls and
        scripted episodes (:mod:`.episodes`)."""
        cfg = self.config
        u = self.engine.universe
        beta = np.array([b.beta for b in u.bases])
        idio = np.array([b.idio_vol for b in u.bases])
        total = np.array([b.total_vol for b in u.bases])
        cov = np.outer(beta, beta) * cfg.btc_vol**2 + np.diag(idio**2)
        corr = cov / np.outer(total, total)
        symbols: dict[str, Any] = {}
        for b in u.bases:
            spot = u.find("spot", f"{b.name}{u.quote}")
            perp = u.find("futures", f"{b.name}{u.quote}")
            symbols[b.name] = {
                "beta": b.beta,
                "vol": b.total_vol,
                "idio_vol": b.idio_vol,
                "corr_btc": float(corr[b.index, 0]),
                "price0": b.price,
                "spot": spot.symbol if spot else None,
                "perp": perp.symbol if perp else None,
                "id": f"{b.name}{u.quote}",
            }
        return {
            "seed": cfg.seed,
            "speed": cfg.speed,
            "tick_interval": cfg.tick_interval,
            "time": self.engine.t_ms,
            "quote": u.quote,
            "benchmark": "BTC",
            "btc_vol": cfg.btc_vol,
            "vol_unit": "annualised stdev of log returns (365-day year); per interval of "
            "s seconds: vol * sqrt(s / 31536000)",
            "symbols": symbols,
            "correlation": {
                "bases": [b.name for b in u.bases],
                "matrix": np.round(corr, 6).tolist(),
            },
            "whales": [dict(w) for w in self.engine.whales],
            "walls": [dict(w) for w in self.engine.walls],
            "episodes": self.engine.episodes.truth(self.engine.t_ms),
        }

    def inject(self, fault: Fault | Mapping[str, Any]) -> int:
        """Add a fault (a :class:`Fault` or its fields as a mapping); returns its id."""
        if not isinstance(fault, Fault):
            fault = msgspec.convert(dict(fault), Fault)
        fault_id = self.faults.add(fault)
        for hub in self.hubs:
            hub.apply_faults()
        return fault_id

    def clear_faults(self) -> None:
        """Remove every fault (recovery); counters are kept."""
        self.faults.clear()

    def fault_state(self) -> dict[str, Any]:
        """What ``GET /__sim/faults`` returns: active faults and counters."""
        snap = self.faults.snapshot()
        snap["rate_limiter"] = dict(self.limiter.counters)
        return snap

    def stats(self) -> dict[str, Any]:
        """What ``GET /__sim/stats`` returns: clock, ticks, requests, websocket traffic."""
        return {
            "sim_time": self.now_ms(),
            # the clock alone: sim_time runs up to lead_ms ahead while a tick waits to go out
            "clock_ms": self._clock_ms(time.monotonic()),
            "tick": self.engine.tick_no,
            "speed": self.config.speed,
            "requests": self.requests,
            "dialects": list(self.config.dialects),
            "ws_connections": sum(len(h.conns) for h in self.hubs),
            "ws_connections_total": sum(h.connections_total for h in self.hubs),
            "ws_messages_sent": sum(h.messages_sent for h in self.hubs),
            "markets": len(self.engine.markets),
            # the last step (engine tick + encoding) and how far ahead ticks are computed
            "step_ms": round(self._step_times[-1] * 1000, 2),
            "lead_ms": round(self._lead * 1000, 2),
        }

    # -- app --------------------------------------------------------------------------------

    def _guard(
        self,
        kind: Kind,
        endpoint: str,
        handler: Handler,
        kind_of: Callable[[web.Request], Kind] | None = None,
    ) -> Handler:
        """Wrap an endpoint: faults first, then the request-weight limit.

        ``kind_of``: where one path serves both markets (OKX), which one a request is
        for; such endpoints cost one unit and answer OKX's 429 when over the limit.
        """
        faults, limiter = self.faults, self.limiter

        async def guarded(request: web.Request) -> web.StreamResponse:
            self.requests += 1
            market = kind_of(request) if kind_of is not None else kind
            fault = faults.rest(market, request.path) if faults.active else None
            if fault is not None:
                early = await self._apply_fault(fault, okx=kind_of is not None)
                if early is not None:
                    return early
            if not limiter.enabled:
                resp = await handler(request)
            else:
                weight = 1 if kind_of is not None else request_weight(kind, endpoint, request.query)
                verdict = limiter.charge(request.remote or "?", market, weight)
                if verdict.status != 200:
                    if kind_of is not None:
                        return web.Response(
                            status=429,
                            content_type=JSON,
                            body=encode.dumps(
                                {"code": "50011", "msg": "Too Many Requests", "data": []}
                            ),
                        )
                    return self._limited(verdict, limiter.limits[market])
                resp = await handler(request)
                resp.headers["X-MBX-USED-WEIGHT-1M"] = str(verdict.used)
            if (
                fault is not None
                and fault.kind == "malformed_json"
                and isinstance(resp, web.Response)
            ):
                body = resp.body if isinstance(resp.body, bytes) else b"{}"
                return web.Response(
                    status=200, body=body[: max(1, len(body) // 2)], content_type=JSON
                )
            return resp

        return guarded

    @staticmethod
    def _limited(verdict: Verdict, limit: int) -> web.Response:
        if verdict.status == 429:
            return web.Response(
                status=429,
                content_type=JSON,
                headers={
                    "Retry-After": str(verdict.retry_after),
                    "X-MBX-USED-WEIGHT-1M": str(verdict.used),
                },
                body=encode.dumps(
                    {
                        "code": -1003,
                        "msg": f"Too much request weight used; "
                        f"current limit is {limit} request weight per 1 MINUTE. "
                        "Please use WebSocket Streams for live updates to avoid "
                        "polling the API.",
                    }
                ),
            )
        return web.Response(
            status=418,
            content_type=JSON,
            headers={"Retry-After": str(verdict.retry_after)},
            body=encode.dumps(
                {
                    "code": -1003,
                    "msg": f"Way too much request weight used; IP "
                    f"banned until {verdict.banned_until_ms}. Please use "
                    "WebSocket Streams for live updates to avoid bans.",
                }
            ),
        )

    async def _apply_fault(self, fault: Fault, *, okx: bool = False) -> web.StreamResponse | None:
        kind = fault.kind
        if okx and kind in ("http_429", "http_418"):  # OKX has no ban status: 429, 50011
            return web.Response(
                status=429,
                content_type=JSON,
                headers={"Retry-After": str(fault.retry_after)},
                body=encode.dumps({"code": "50011", "msg": "Too Many Requests", "data": []}),
            )
        if kind == "outage":
            return web.Response(
                status=503,
                text="<html><body><h1>503 Service Unavailable</h1></body></html>",
                content_type="text/html",
            )
        if kind == "http_500":
            return web.Response(
                status=fault.status,
                content_type="text/html",
                text=f"<html><body><h1>{fault.status} Internal Server Error</h1></body></html>",
            )
        if kind == "http_429":
            return web.Response(
                status=429,
                content_type=JSON,
                headers={"Retry-After": str(fault.retry_after)},
                body=encode.dumps(
                    {"code": -1003, "msg": "Too many requests; simulated rate limit."}
                ),
            )
        if kind == "http_418":
            until = int(time.time() * 1000) + fault.retry_after * 1000
            return web.Response(
                status=418,
                content_type=JSON,
                headers={"Retry-After": str(fault.retry_after)},
                body=encode.dumps(
                    {
                        "code": -1003,
                        "msg": f"Way too much request weight used; IP banned until {until}.",
                    }
                ),
            )
        if kind == "slow":
            await anyio.sleep(fault.delay)
        return None

    async def _truth(self, request: web.Request) -> web.Response:
        return web.Response(body=encode.dumps(self.truth()), content_type=JSON)

    async def _faults_get(self, request: web.Request) -> web.Response:
        return web.Response(body=encode.dumps(self.fault_state()), content_type=JSON)

    async def _faults_post(self, request: web.Request) -> web.Response:
        try:
            clear, faults = parse_faults(msgspec.json.decode(await request.read()))
        except (msgspec.DecodeError, msgspec.ValidationError, TypeError) as err:
            return web.Response(
                status=400,
                content_type=JSON,
                body=encode.dumps({"error": {"code": "bad_fault", "message": str(err)}}),
            )
        if clear:
            self.clear_faults()
        ids = [self.inject(f) for f in faults]
        state = self.fault_state()
        state["ids"] = ids
        return web.Response(body=encode.dumps(state), content_type=JSON)

    async def _faults_delete(self, request: web.Request) -> web.Response:
        raw = request.match_info.get("id")
        if raw is None:
            self.clear_faults()
        elif not raw.isdigit() or not self.faults.remove(int(raw)):
            return web.Response(
                status=404,
                content_type=JSON,
                body=encode.dumps({"error": {"code": "not_found", "message": "no such fault"}}),
            )
        return web.Response(body=encode.dumps(self.fault_state()), content_type=JSON)

    async def _limits_delete(self, request: web.Request) -> web.Response:
        self.limiter.reset()
        return web.Response(body=b"{}", content_type=JSON)

    async def _stats(self, request: web.Request) -> web.Response:
        return web.Response(body=encode.dumps(self.stats()), content_type=JSON)

    def build_app(self) -> web.Application:
        app = web.Application()
        dialects = self.config.dialects
        if "okx" in dialects:  # before Binance's /ws/{tail}, which would take /ws/v5
            kind_of = self.okx_rest.kind_of
            for path, endpoint, handler in self.okx_rest.routes():
                app.router.add_get(path, self._guard("spot", endpoint, handler, kind_of))
            for path in ("/ws/v5/public", "/ws/v5/business"):
                app.router.add_get(path, self.okx_hub.handle)
        if "binance" in dialects:
            for path, kind, endpoint, handler in self.rest.routes():
                app.router.add_get(path, self._guard(kind, endpoint, handler))
            for path in (
                "/ws",
                "/ws/{tail:.*}",
                "/stream",
                "/stream/{tail:.*}",
                "/fstream/{tail:.*}",
            ):
                app.router.add_get(path, self.hub.handle)
        app.router.add_get("/__sim/truth", self._truth)
        app.router.add_get("/__sim/stats", self._stats)
        app.router.add_get("/__sim/faults", self._faults_get)
        app.router.add_post("/__sim/faults", self._faults_post)
        app.router.add_delete("/__sim/faults", self._faults_delete)
        app.router.add_delete("/__sim/faults/{id}", self._faults_delete)
        app.router.add_delete("/__sim/ratelimits", self._limits_delete)
        return app

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Bind, start the market clock, report ``base_url`` and run until cancelled."""
        runner = web.AppRunner(
            self.build_app(), handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, backlog=1024)
            await site.start()
            bound = runner.addresses[0][1]
            shown = f"[{host}]" if ":" in host else host
            self.base_url = f"http://{shown}:{bound}"
            self._start_clock()
            ws = "ws" + self.base_url[4:]
            base, parts = self.base_url, []
            if "binance" in self.config.dialects:
                parts.append(
                    f"REST spot {base}/api/v3 futures {base}/fapi/v1, "
                    f"websockets spot {ws}/ws futures {ws}/fstream/ws"
                )
            if "okx" in self.config.dialects:
                parts.append(f"okx REST {base}/api/v5, websockets {ws}/ws/v5")
            log.info(
                "virtuoso-sim listening: %s, truth %s/__sim/truth, faults %s/__sim/faults "
                "(seed=%d, %d markets, speed=%g)",
                "; ".join(parts),
                base,
                base,
                self.config.seed,
                len(self.engine.markets),
                self.config.speed,
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._run_clock)
                task_status.started(self.base_url)
                await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(1.0):
                    for hub in self.hubs:
                        await hub.close_all()
                await runner.cleanup()

    @contextlib.asynccontextmanager
    async def running(
        self, host: str = "127.0.0.1", port: int = 0, *, start_timeout: float = 30.0
    ) -> AsyncIterator[str]:
        """``async with sim.running() as base_url:`` serves for the body of the block."""
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(start_timeout):
                url: str = await tg.start(self.serve, host, port)
            try:
                yield url
            finally:
                tg.cancel_scope.cancel()
