"""Binance public REST endpoints: spot ``/api/v3/...`` and USD-M futures ``/fapi/v1/...``.

Handlers validate parameters the way Binance does (``{"code": -11xx, "msg": ...}`` with
400) and answer with the shapes in :mod:`.encode`. Rate limiting and fault injection
happen in the server's guard around each handler, before it runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from virtuoso_daemon.sim import encode
from virtuoso_daemon.sim.config import SimConfig
from virtuoso_daemon.sim.faults import FaultBoard
from virtuoso_daemon.sim.history import TIMEFRAMES
from virtuoso_daemon.sim.model import Engine
from virtuoso_daemon.sim.universe import Kind, Market

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON = "application/json"


class BinanceError(Exception):
    """An error answered as Binance does: HTTP status plus ``{"code", "msg"}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg

    def response(self) -> web.Response:
        return web.Response(
            status=self.status,
            body=encode.dumps({"code": self.code, "msg": self.msg}),
            content_type=JSON,
        )


def ok(body: bytes) -> web.Response:
    return web.Response(body=body, content_type=JSON)


def _int(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        ) from None


def _limit(request: web.Request, default: int, maximum: int) -> int:
    value = _int(request, "limit", default)
    assert value is not None
    if value <= 0:
        raise BinanceError(400, -1130, "Data sent for parameter 'limit' is not valid.")
    return min(value, maximum)


class RestApi:
    """The REST handlers for one engine."""

    def __init__(self, engine: Engine, config: SimConfig, now_ms: Callable[[], int]) -> None:
        self.engine = engine
        self.config = config
        self.now_ms = now_ms
        self.faults: FaultBoard | None = None  # kline faults (set by the Simulator)

    def _market(self, kind: Kind, request: web.Request, required: bool = True) -> Market | None:
        raw = request.query.get("symbol")
        if not raw:
            if required:
                raise BinanceError(
                    400,
                    -1102,
                    "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
                )
            return None
        mk = self.engine.universe.find(kind, raw)
        if mk is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return mk

    def _symbols(self, kind: Kind, request: web.Request) -> list[Market] | None:
        raw = request.query.get("symbols")
        if raw is None:
            return None
        try:
            ids = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise BinanceError(
                400,
                -1100,
                "Illegal characters found in parameter 'symbols'; "
                'legal range is \'^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]'
                "{1,20}\"){0,}){0,1}\\]$'.",
            ) from None
        if not isinstance(ids, list) or not ids:
            raise BinanceError(
                400,
                -1102,
                "Mandatory parameter 'symbols' was not sent, was empty/null, or malformed.",
            )
        out = []
        for i in ids:
            mk = self.engine.universe.find(kind, str(i))
            if mk is None:
                raise BinanceError(400, -1121, "Invalid symbol.")
            out.append(mk)
        return out

    # -- handlers (kind-generic; bound per market in routes()) -----------------------------

    async def ping(self, kind: Kind, request: web.Request) -> web.Response:
        return ok(b"{}")

    async def time(self, kind: Kind, request: web.Request) -> web.Response:
        return ok(f'{{"serverTime":{self.now_ms()}}}'.encode())

    async def exchange_info(self, kind: Kind, request: web.Request) -> web.Response:
        ids: list[str] | None = None
        mk = self._market(kind, request, required=False)
        if mk is not None:
            ids = [mk.id]
        elif "symbols" in request.query:
            ids = [m.id for m in self._symbols(kind, request) or []]
        limit = (
            self.config.spot_weight_limit if kind == "spot" else self.config.futures_weight_limit
        )
        if ids is None:
            body: bytes = self.engine.cached(
                ("xi", kind), lambda: encode.exchange_info(self.engine, kind, None, limit)
            )
        else:
            body = encode.exchange_info(self.engine, kind, ids, limit)
        return ok(body)

    async def ticker_24hr(self, kind: Kind, request: web.Request) -> web.Response:
        mini = request.query.get("type", "FULL").upper() == "MINI"
        one = encode.mini_ticker_rest if mini else encode.ticker_rest
        mk = self._market(kind, request, required=False)
        if mk is not None:
            return ok(one(self.engine, mk.index))
        many = self._symbols(kind, request)
        if many is not None:
            return ok(encode.join([one(self.engine, m.index) for m in many]))
        if mini:
            return ok(
                encode.join(
                    [one(self.engine, m.index) for m in self.engine.universe.kind_markets(kind)]
                )
            )
        return ok(encode.tickers_rest(self.engine, kind))

    async def ticker_price(self, kind: Kind, request: web.Request) -> web.Response:
        mk = self._market(kind, request, required=False)
        if mk is not None:
            return ok(encode.price_ticker(self.engine, mk.index))
        markets = self._symbols(kind, request) or self.engine.universe.kind_markets(kind)
        return ok(encode.join([encode.price_ticker(self.engine, m.index) for m in markets]))

    async def book_ticker(self, kind: Kind, request: web.Request) -> web.Response:
        mk = self._market(kind, request, required=False)
        if mk is not None:
            return ok(encode.book_ticker(self.engine, mk.index))
        markets = self._symbols(kind, request) or self.engine.universe.kind_markets(kind)
        return ok(encode.join([encode.book_ticker(self.engine, m.index) for m in markets]))

    async def avg_price(self, kind: Kind, request: web.Request) -> web.Response:
        mk = self._market(kind, request)
        assert mk is not None
        s1 = self.engine.series["1m"]
        n = s1.n
        closes = [s1.close_of(mk.index, i) for i in range(max(0, n - 5), n)]
        avg = sum(closes) / len(closes) if closes else float(self.engine.stats["last"][mk.index])
        return ok(
            f'{{"mins":5,"price":"{mk.fmt_price(avg)}","closeTime":{self.engine.t_ms}}}'.encode()
        )

    async def depth(self, kind: Kind, request: web.Request) -> web.Response:
        mk = self._market(kind, request)
        assert mk is not None
        limit = _limit(request, 100 if kind == "spot" else 500, 5000)
        return ok(encode.depth_rest(self.engine, mk.index, limit))

    async def klines(self, kind: Kind, request: web.Request) -> web.Response:
        mk = self._market(kind, request)
        assert mk is not None
        interval = request.query.get("interval")
        if not interval:
            raise BinanceError(
                400,
                -1102,
                "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.",
            )
        if interval not in TIMEFRAMES:
            raise BinanceError(400, -1120, "Invalid interval.")
        limit = _limit(request, 500, 1000 if kind == "spot" else 1500)
        start = _int(request, "startTime")
        end = _int(request, "endTime")
        if start is not None and end is not None and start > end:
            raise BinanceError(400, -1023, "Start time is greater than end time.")
        series = self.engine.series[interval]
        faults = self.faults.klines(kind) if self.faults is not None else []
        if not faults:
            return ok(series.select(mk.index, start, end, limit))
        hole = next(((f.start_ms, f.end_ms) for f in faults if f.kind == "kline_hole"), None)
        keep = next((f.rows for f in faults if f.kind == "kline_short"), None)
        return ok(series.select_faulty(mk.index, start, end, limit, hole, keep))

    async def agg_trades(self, kind: Kind, request: web.Request) -> web.Response:
        mk = self._market(kind, request)
        assert mk is not None
        limit = _limit(request, 500, 1000)
        start, end = _int(request, "startTime"), _int(request, "endTime")
        if start is not None and end is not None and end - start > 3_600_000:
            raise BinanceError(400, -1127, "More than 1 hours between startTime and endTime.")
        chosen = encode.select_trades(
            list(self.engine.trades[mk.index]), _int(request, "fromId"), start, end, limit
        )
        return ok(encode.join([encode.agg_trade_rest(mk, t) for t in chosen]))

    async def trades(self, kind: Kind, request: web.Request) -> web.Response:
        mk = self._market(kind, request)
        assert mk is not None
        limit = _limit(request, 500, 1000)
        chosen = list(self.engine.trades[mk.index])[-limit:]
        return ok(encode.join([encode.trade_rest(mk, t) for t in chosen]))

    async def premium_index(self, kind: Kind, request: web.Request) -> web.Response:
        mk = self._market(kind, request, required=False)
        if mk is not None:
            return ok(encode.premium_index(self.engine, mk.index))
        body: bytes = self.engine.cached(
            ("piall",),
            lambda: encode.join(
                [
                    encode.premium_index(self.engine, m.index)
                    for m in self.engine.universe.kind_markets("futures")
                ]
            ),
        )
        return ok(body)

    async def open_interest(self, kind: Kind, request: web.Request) -> web.Response:
        mk = self._market(kind, request)
        assert mk is not None
        return ok(encode.open_interest(self.engine, mk.index))

    async def funding_rate(self, kind: Kind, request: web.Request) -> web.Response:
        limit = _limit(request, 100, 1000)
        start, end = _int(request, "startTime"), _int(request, "endTime")
        mk = self._market(kind, request, required=False)
        markets = [mk] if mk is not None else self.engine.universe.kind_markets("futures")
        bodies = [
            encode.funding_history(self.engine, m.index, start, end, limit)[1:-1] for m in markets
        ]
        return ok(b"[" + b",".join(b for b in bodies if b) + b"]")

    def routes(self) -> list[tuple[str, Kind, str, Handler]]:
        """``(path, market, endpoint, handler)`` for every endpoint, spot and futures."""
        spot = {
            "ping": self.ping,
            "time": self.time,
            "exchangeInfo": self.exchange_info,
            "ticker/24hr": self.ticker_24hr,
            "ticker/price": self.ticker_price,
            "ticker/bookTicker": self.book_ticker,
            "avgPrice": self.avg_price,
            "depth": self.depth,
            "klines": self.klines,
            "uiKlines": self.klines,
            "aggTrades": self.agg_trades,
            "trades": self.trades,
        }
        futures = {
            "ping": self.ping,
            "time": self.time,
            "exchangeInfo": self.exchange_info,
            "ticker/24hr": self.ticker_24hr,
            "ticker/price": self.ticker_price,
            "ticker/bookTicker": self.book_ticker,
            "depth": self.depth,
            "klines": self.klines,
            "aggTrades": self.agg_trades,
            "trades": self.trades,
            "premiumIndex": self.premium_index,
            "openInterest": self.open_interest,
            "fundingRate": self.funding_rate,
        }
        out: list[tuple[str, Kind, str, Handler]] = []
        for name, fn in spot.items():
            out.append((f"/api/v3/{name}", "spot", name, _bind(fn, "spot")))
        if self.config.perpetuals:
            for name, fn in futures.items():
                out.append((f"/fapi/v1/{name}", "futures", name, _bind(fn, "futures")))
        return out


def _bind(fn: Callable[[Kind, web.Request], Awaitable[web.Response]], kind: Kind) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(kind, request)
        except BinanceError as err:
            return err.response()

    return handler
