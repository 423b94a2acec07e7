"""OKX v5 public REST handlers (``/api/v5/...``) over the simulator's engine.

Every answer is ``{"code": "0", "msg": "", "data": [...]}``; a bad request is HTTP 200
or 400 with OKX's error code in ``code`` (ccxt maps the code, not the status).
Candles follow OKX's paging: ``after``/``before`` are exclusive bounds on the open
time, the newest ``limit`` (at most 300) in range come back newest first. As on OKX,
``/market/candles`` reaches back only :data:`RECENT_CANDLES` candles (older ones come
from ``/market/history-candles``), counted from the earlier of the simulated clock and
the wall clock: clients choose the endpoint by their own clock (ccxt switches to
history when ``since`` is more than 1,439 candles before its now), and an accelerated
simulator runs ahead of it.
The kline faults (``kline_hole``, ``kline_short``) apply here as on Binance.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from virtuoso_daemon.sim.faults import FaultBoard
from virtuoso_daemon.sim.model import Engine
from virtuoso_daemon.sim.okx import encode
from virtuoso_daemon.sim.universe import Kind, Market

JSON = "application/json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CANDLES_MAX = 300
RECENT_CANDLES = 1440  # /market/candles: the newest 1,440 (the open one included)
TRADES_MAX = 500
BOOK_MAX = 400


class OkxError(Exception):
    """An OKX error answer (``code`` is OKX's, ``status`` the HTTP status)."""

    def __init__(self, code: str, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status

    def response(self) -> web.Response:
        return web.Response(
            status=self.status, body=encode.error(self.code, self.msg), content_type=JSON
        )


def ok(data: list[Any] | bytes) -> web.Response:
    return web.Response(body=encode.envelope(data), content_type=JSON)


def _int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise OkxError("51000", f"Parameter {name} error") from None


def _limit(request: web.Request, default: int, maximum: int) -> int:
    value = _int(request, "limit")
    if value is None:
        return default
    if value <= 0:
        raise OkxError("51000", "Parameter limit error")
    return min(value, maximum)


class OkxRest:
    """The handlers; ``routes()`` lists ``(path, kind-of(request), handler)``."""

    def __init__(self, engine: Engine, faults: FaultBoard | None = None) -> None:
        self.engine = engine
        self.faults = faults
        self.instruments = encode.Instruments(engine)
        self.list_time = engine.series["1d"].start_ms

    def market(self, request: web.Request) -> Market:
        iid = request.query.get("instId")
        if not iid:
            raise OkxError("50014", "Parameter instId can not be empty")
        mk = self.instruments.find(iid)
        if mk is None:
            raise OkxError("51001", "Instrument ID does not exist", 200)
        return mk

    def kind_of(self, request: web.Request) -> Kind:
        """Spot or futures, for faults and rate limits: from instId or instType."""
        iid = request.query.get("instId", "")
        itype = request.query.get("instType", "")
        return "futures" if iid.upper().endswith("-SWAP") or itype.upper() == "SWAP" else "spot"

    def _inst_type(self, request: web.Request) -> list[Market]:
        itype = request.query.get("instType")
        if not itype:
            raise OkxError("50014", "Parameter instType can not be empty")
        if itype.upper() not in ("SPOT", "SWAP", "FUTURES", "OPTION", "MARGIN"):
            raise OkxError("51000", "Parameter instType error")
        return self.instruments.of_type(itype)

    # -- handlers ---------------------------------------------------------------------

    async def time(self, request: web.Request) -> web.Response:
        return ok([{"ts": str(self.engine.t_ms)}])

    async def instruments_(self, request: web.Request) -> web.Response:
        return ok([encode.instrument(mk, self.list_time) for mk in self._inst_type(request)])

    async def tickers(self, request: web.Request) -> web.Response:
        return ok([encode.ticker(self.engine, mk.index) for mk in self._inst_type(request)])

    async def ticker(self, request: web.Request) -> web.Response:
        return ok([encode.ticker(self.engine, self.market(request).index)])

    async def candles(self, request: web.Request) -> web.Response:
        return await self._candles(request, recent=True)

    async def history_candles(self, request: web.Request) -> web.Response:
        return await self._candles(request, recent=False)

    async def _candles(self, request: web.Request, *, recent: bool) -> web.Response:
        mk = self.market(request)
        bar = request.query.get("bar", "1m")
        tf = encode.timeframe(bar)
        if tf is None:
            raise OkxError("51000", "Parameter bar error")
        limit = _limit(request, 100, CANDLES_MAX)
        before = _int(request, "before")
        if recent:
            series = self.engine.series[tf]
            now = min(self.engine.t_ms, int(time.time() * 1000))
            oldest = series.start_ms + ((now - series.start_ms) // series.step_ms) * series.step_ms
            oldest -= (RECENT_CANDLES - 1) * series.step_ms
            before = oldest - 1 if before is None else max(before, oldest - 1)
        idx = encode.candle_indexes(self.engine, tf, _int(request, "after"), before, limit)
        rows = [encode.candle_row(self.engine, tf, mk.index, i) for i in idx]
        for f in self.faults.klines(mk.kind) if self.faults is not None else []:
            if f.kind == "kline_hole":
                rows = [r for r in rows if not f.start_ms <= int(r[0]) < f.end_ms]
            else:
                rows = rows[: f.rows]
        rows.reverse()  # newest first
        return ok(rows)

    async def trades(self, request: web.Request) -> web.Response:
        mk = self.market(request)
        limit = _limit(request, 100, TRADES_MAX)
        recent = list(self.engine.trades[mk.index])[-limit:]
        return ok([encode.trade(mk, t) for t in reversed(recent)])

    async def books(self, request: web.Request) -> web.Response:
        mk = self.market(request)
        raw = _int(request, "sz")
        depth = 1 if raw is None else max(1, min(raw, BOOK_MAX))
        return ok([encode.book(self.engine, mk.index, depth)])

    async def funding_rate(self, request: web.Request) -> web.Response:
        iid = request.query.get("instId")
        if iid and iid.upper() == "ANY":
            swaps = self.instruments.of_type("SWAP")
        else:
            mk = self.market(request)
            if mk.kind != "futures":
                raise OkxError("51001", "Instrument ID does not exist", 200)
            swaps = [mk]
        return ok([encode.funding(self.engine, mk) for mk in swaps])

    async def open_interest(self, request: web.Request) -> web.Response:
        if request.query.get("instId"):
            mk = self.market(request)
            swaps = [mk] if mk.kind == "futures" else []
        else:
            swaps = [m for m in self._inst_type(request) if m.kind == "futures"]
        return ok([encode.open_interest(self.engine, mk) for mk in swaps])

    def routes(self) -> list[tuple[str, str, Handler]]:
        """``(path, endpoint name, handler)``; errors become OKX answers."""
        table: list[tuple[str, Callable[[web.Request], Awaitable[web.Response]]]] = [
            ("/api/v5/public/time", self.time),
            ("/api/v5/public/instruments", self.instruments_),
            ("/api/v5/market/tickers", self.tickers),
            ("/api/v5/market/ticker", self.ticker),
            ("/api/v5/market/candles", self.candles),
            ("/api/v5/market/history-candles", self.history_candles),
            ("/api/v5/market/trades", self.trades),
            ("/api/v5/market/books", self.books),
            ("/api/v5/public/funding-rate", self.funding_rate),
            ("/api/v5/public/open-interest", self.open_interest),
        ]
        return [(path, path.rsplit("/", 1)[-1], _safe(fn)) for path, fn in table]


def _safe(fn: Callable[[web.Request], Awaitable[web.Response]]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except OkxError as exc:
            return exc.response()

    return handler
