"""A deterministic stand-in for the daemon, for the snapshot tests only.

Snapshot tests need the same pixels every run, which a live daemon on a simulated
market cannot give (prices move, uptime grows). :class:`FakeClient` implements
:class:`tui.client.DaemonClient` over fixed data built here; everything else (pilot,
real-terminal, reconnect tests) runs against a real daemon.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import msgspec

from tui.client import ClientError, Disconnected, Event
from tui.live import Backoff
from virtuoso_daemon import protocol
from virtuoso_daemon.core.messages import Funding, Message, OrderBookTop, Ticker, Trade

T0 = 1_700_000_000.0  # every timestamp is relative to this
HISTORY = 24  # ticker steps (2 s apart) before "now"
NOW = T0 + HISTORY * 2 + 0.4  # the fixed clock of the app under test
VERSION = "0.1.0"

SPOT = [
    "BTC/USDT",
    "ETH/USDT",
    "SOL/USDT",
    "BNB/USDT",
    "XRP/USDT",
    "ADA/USDT",
    "DOGE/USDT",
    "AVAX/USDT",
    "LINK/USDT",
    "DOT/USDT",
    "MATIC/USDT",
    "LTC/USDT",
    "ATOM/USDT",
    "NEAR/USDT",
    "APT/USDT",
    "ARB/USDT",
    "OP/USDT",
    "INJ/USDT",
    "SUI/USDT",
    "PEPE/USDT",
]
PERPS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "DOGE/USDT:USDT"]
BASE_PRICE = {
    "BTC": 67_250.5,
    "ETH": 3_512.25,
    "SOL": 172.31,
    "BNB": 598.4,
    "XRP": 0.5213,
    "ADA": 0.4471,
    "DOGE": 0.15872,
    "AVAX": 36.92,
    "LINK": 17.804,
    "DOT": 7.112,
    "MATIC": 0.7123,
    "LTC": 84.33,
    "ATOM": 8.917,
    "NEAR": 7.021,
    "APT": 9.88,
    "ARB": 1.0412,
    "OP": 2.514,
    "INJ": 27.45,
    "SUI": 1.1877,
    "PEPE": 0.00001234,
}


def _base(symbol: str) -> str:
    return symbol.split("/")[0]


def ticker(exchange: str, symbol: str, i: int, step: int) -> Ticker:
    """The ``step``-th ticker of symbol number ``i``: a smooth, symbol-specific walk."""
    p0 = BASE_PRICE[_base(symbol)]
    price = p0 * (1 + 0.01 * math.sin(step / 4 + i) + 0.0007 * step * (1 if i % 3 else -1))
    spread = price * (0.0001 + 0.00005 * (i % 4))
    change = ((i * 37) % 23 - 11) * 0.61
    perp = ":" in symbol  # Binance futures' ticker stream carries no bid/ask
    return Ticker(
        exchange=exchange,
        symbol=symbol,
        market="linear" if perp else "spot",
        last=price,
        bid=None if perp else price - spread / 2,
        ask=None if perp else price + spread / 2,
        bid_size=None if perp else 1.5 + i,
        ask_size=None if perp else 2.25 + i,
        open=p0,
        high=p0 * 1.04,
        low=p0 * 0.95,
        change_pct=change,
        base_volume=1000.0 * (i + 1),
        quote_volume=p0 * 1_000_000 / (i + 1) + 12_345,
        ts=int((T0 + step * 2) * 1000),
        recv_ts=T0 + step * 2.0,
    )


def all_symbols() -> list[tuple[str, str]]:
    return [("binance", s) for s in SPOT] + [("binance-perp", s) for s in PERPS]


def tickers(step: int) -> list[Ticker]:
    return [ticker(ex, sym, i, step) for i, (ex, sym) in enumerate(all_symbols())]


def funding() -> list[Funding]:
    return [
        Funding(
            exchange="binance-perp",
            symbol=s,
            rate=(0.0001 * (i + 1)) * (-1 if i == 2 else 1),
            mark_price=BASE_PRICE[_base(s)] * 1.0002,
            index_price=BASE_PRICE[_base(s)],
            next_funding_ts=int((T0 + 3600) * 1000),
            ts=int(T0 * 1000),
            recv_ts=T0,
        )
        for i, s in enumerate(PERPS)
    ]


def feeds() -> list[dict[str, Any]]:
    return [
        {
            "exchange": "binance",
            "market": "spot",
            "state": "connected",
            "symbols": SPOT,
            "paused_symbols": ["PEPE/USDT"],
            "modes": {"tickers": "stream", "ohlcv": "stream", "trades": "stream"},
            "last_message_ts": NOW - 0.4,
            "latency_ms": 12.5,
            "errors": {},
            "detail": "",
            "timeframes": ["1m", "1h", "4h", "1d"],
            "ts": NOW,
        },
        {
            "exchange": "binance-perp",
            "market": "linear",
            "state": "degraded",
            "symbols": PERPS,
            "paused_symbols": [],
            "modes": {"tickers": "rest", "ohlcv": "stream"},
            "last_message_ts": NOW - 3.2,
            "latency_ms": 48.0,
            "errors": {"timeout": 3, "rate_limited": 1},
            "detail": "tickers: RequestTimeout",
            "timeframes": ["1m", "1h"],
            "ts": NOW,
        },
    ]


def status() -> dict[str, Any]:
    actors = [  # the real daemon's tree (process/assembly.py)
        ("feeds", "running", 0, None),
        ("feeds:binance", "running", 0, None),
        ("feeds:binance-perp", "running", 2, "NetworkError: connection reset"),
        ("market_store", "running", 0, None),
        ("ticker_cache", "running", 0, None),
        ("beta", "restarting", 1, "ValueError: window not filled"),
        ("alerts", "running", 0, None),
        ("signals", "running", 0, None),
        ("backup", "running", 0, None),
        ("http_api", "running", 0, None),
        ("control", "running", 0, None),
        ("health", "running", 0, None),
    ]
    return {
        "version": VERSION,
        "uptime": 3725.0,
        "started_at": NOW - 3725.0,
        "demo": True,
        "actors": [
            {"name": n, "state": s, "restarts": r, "last_error": e, "since": NOW - 3700}
            for n, s, r, e in actors
        ],
        "bus": {
            "drops": {"control#4": {"tickers": 812}, "ticker_cache": {"tickers": 3}},
            "total_drops": 815,
            "published": {"tickers": 981_234},
        },
        "stats": {},
    }


WINDOWS = {"1h": ["7d", "30d"], "4h": ["30d"], "1d": ["90d"]}
BUCKETS = ("defensive", "moderate", "aggressive", "high")  # analytics.risk.RISK_BUCKETS


def beta_answer(timeframe: str, window: str) -> dict[str, Any]:
    """What the ``beta`` command answers (``read.analytics.beta``) for one window."""
    rows = []
    for i, sym in enumerate(SPOT):
        b = 1.0 if i == 0 else 0.6 + (i * 7 % 13) / 10
        corr = 1.0 if i == 0 else 0.45 + (i * 5 % 11) / 25
        rows.append(
            {
                "type": "BetaRow",
                "symbol": sym,
                "beta": b + 0.0123 * (i % 5),
                "alpha": 0.0001 * i,
                "alpha_annual": 0.01 * i,
                "correlation": corr + 0.0047 * (i % 3),
                "r_squared": corr**2,
                "beta_se": 0.02,
                "volatility": 0.45 + i * 0.03,
                "downside_beta": b * 1.1,
                "n_obs": {"7d": 168, "30d": 720, "90d": 90}[window],
                "risk_bucket": BUCKETS[min(3, int(b // 0.5) - 1)] if i else "defensive",
            }
        )
    return {
        "exchange": "binance",
        "timeframe": timeframe,
        "window": window,
        "benchmark": "BTC/USDT",
        "computed_at": NOW - 30,
        "as_of": int((NOW - 3600) * 1000),
        "sort": "beta",
        "order": "desc",
        "count": len(rows),
        "total": len(rows),
        "rows": rows,
        "windows": WINDOWS,
    }


def beta(args: Mapping[str, Any]) -> dict[str, Any]:
    tf = str(args.get("timeframe") or next(iter(WINDOWS)))
    if tf not in WINDOWS:
        raise ClientError("invalid_timeframe", f"no beta is computed for timeframe {tf!r}")
    window = str(args.get("window") or WINDOWS[tf][0])
    if window not in WINDOWS[tf]:
        raise ClientError("invalid_parameter", f"window {window!r} is not computed for {tf}")
    return beta_answer(tf, window)


def correlation(args: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the ``correlation`` command answers: symbols and matrix in display order."""
    syms = SPOT[:16]
    n = len(syms)
    matrix = [
        [
            1.0 if i == j else round(math.cos((i - j) / 3) * (0.9 if (i + j) % 5 else -0.4), 3)
            for j in range(n)
        ]
        for i in range(n)
    ]
    a = args or {}
    return {
        "exchange": "binance",
        "timeframe": a.get("timeframe") or "1h",
        "window": a.get("window") or "7d",
        "computed_at": NOW - 30,
        "as_of": int((NOW - 3600) * 1000),
        "order_by": "cluster",
        "symbols": syms,
        "matrix": matrix,
        "order": list(range(n)),
        "input": syms,
    }


def sentiment() -> list[Message]:
    """The ``sentiment`` topic's events: scores in [-1, 1] (index = 50 x (score + 1))."""
    docs = [
        {
            "type": "SentimentSnapshot",
            "score": 0.105,
            "label": "neutral",
            "components": [
                {"name": "funding_rate", "value": 0.00012, "score": 0.1, "weight": 0.25},
                {"name": "oi_change", "value": 0.034, "score": 0.32, "weight": 0.2},
                {"name": "breadth", "value": 0.68, "score": 0.36, "weight": 0.25},
                {"name": "volatility", "value": 0.41, "score": -0.525, "weight": 0.15},
                {"name": "flow_imbalance", "value": 0.12, "score": 0.24, "weight": 0.15},
            ],
            "computed_at": NOW - 30,
        },
        {
            "type": "RegimeSnapshot",
            "label": "risk-on",
            "rule": "risk_on_btc",
            "inputs": {
                "btc_change_pct": 1.9,
                "breadth": 0.68,
                "avg_correlation": 0.55,
                "avg_change_pct": 0.84,
            },
            "computed_at": NOW - 30,
        },
    ]
    return [protocol.decode_event_data(msgspec.json.encode(d)) for d in docs]


def ohlcv(args: Mapping[str, Any]) -> dict[str, Any]:
    sym = str(args.get("symbol"))
    p0 = BASE_PRICE.get(_base(sym), 100.0)
    rows = []
    close = p0
    for k in range(60):
        o = close
        close = o * (1 + 0.004 * math.sin(k / 3) + 0.001 * math.cos(k))
        hi = max(o, close) * 1.002
        lo = min(o, close) * 0.998
        rows.append([int((T0 - (60 - k) * 3600) * 1000), o, hi, lo, close, 100.0 + k])
    return {"symbol": sym, "timeframe": args.get("timeframe"), "rows": rows}


def book(exchange: str, symbol: str) -> OrderBookTop:
    p = BASE_PRICE.get(_base(symbol), 100.0)
    return OrderBookTop(
        exchange=exchange,
        symbol=symbol,
        bids=[(p * (1 - 0.0001 * (k + 1)), 1.0 + k) for k in range(5)],
        asks=[(p * (1 + 0.0001 * (k + 1)), 1.5 + k) for k in range(5)],
        bid_depth=123.4,
        ask_depth=98.7,
        depth_pct=1.0,
        spread=p * 0.0002,
        mid=p,
        ts=int(NOW * 1000),
        recv_ts=NOW,
    )


def trades(exchange: str, symbol: str) -> list[Trade]:
    p = BASE_PRICE.get(_base(symbol), 100.0)
    return [
        Trade(
            exchange=exchange,
            symbol=symbol,
            id=str(k),
            price=p * (1 + 0.0002 * math.sin(k)),
            amount=0.1 * (k + 1),
            side="buy" if k % 3 else "sell",
            ts=int((NOW - 60 + k * 5) * 1000),
            recv_ts=NOW - 60 + k * 5,
        )
        for k in range(8)
    ]


COMMANDS = [
    "beta",
    "config.get",
    "config.reload",
    "correlation",
    "feeds.list",
    "feeds.pause",
    "feeds.resume",
    "hello",
    "ohlcv",
    "shutdown",
    "status",
    "subscribe",
    "symbols.add",
    "symbols.remove",
    "tickers",
    "unsubscribe",
]
TOPICS = [
    "beta",
    "candles",
    "correlation",
    "feed_status",
    "funding",
    "lifecycle",
    "logs",
    "orderbook",
    "sentiment",
    "tickers",
    "trades",
]


class FakeClient:
    """Implements :class:`tui.client.DaemonClient` over the fixed data above.

    On connect it queues sentiment events, on a ``funding`` subscription the current
    rates (as the daemon does); a subscription to ``orderbook``/``trades`` for a symbol queues
    that symbol's book and trades. ``requests`` records every command sent, so tests
    can check what an action asked for. ``up = False`` makes ``connect`` fail and
    :meth:`go_down` ends the current connection, as a dying daemon would.
    """

    def __init__(self, *, history: int = HISTORY, pace: float | None = None) -> None:
        self.up = True
        self.history = history
        self.pace = pace
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.connects = 0
        self.handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "status": lambda a: status(),
            "feeds.list": lambda a: feeds(),
            "tickers": lambda a: msgspec.to_builtins(tickers(0)),
            "beta": beta,
            "correlation": correlation,
            "ohlcv": ohlcv,
        }
        self._queue: asyncio.Queue[Event | None] | None = None

    @property
    def address(self) -> str:
        return "/run/virtuoso/control.sock"

    async def connect(self) -> protocol.Hello:
        if not self.up:
            raise Disconnected("/run/virtuoso/control.sock: Connection refused")
        self.connects += 1
        self._queue = asyncio.Queue()
        for s in sentiment():
            self._queue.put_nowait(Event("sentiment", s))
        return protocol.Hello(
            protocol=1,
            server="virtuoso",
            version=VERSION,
            pid=4242,
            commands=COMMANDS,
            topics=TOPICS,
        )

    def _live(self) -> asyncio.Queue[Event | None]:
        if self._queue is None:
            raise Disconnected("not connected")
        return self._queue

    async def request(
        self, cmd: str, args: Mapping[str, Any] | None = None, *, timeout: float = 10.0
    ) -> Any:
        self._live()
        a = dict(args or {})
        self.requests.append((cmd, a))
        if cmd in self.handlers:
            return self.handlers[cmd](a)
        if cmd in ("feeds.pause", "feeds.resume"):  # the feed's status, as the daemon answers
            feed = next(f for f in feeds() if f["exchange"] == a.get("exchange"))
            symbol = a.get("symbol")
            if symbol:
                feed["paused_symbols"] = [symbol] if cmd == "feeds.pause" else []
            else:
                feed["state"] = "paused" if cmd == "feeds.pause" else "connected"
            return {"type": "FeedStatus", **feed}
        if cmd in ("symbols.add", "symbols.remove"):
            verb = "added" if cmd == "symbols.add" else "removed"
            return {"exchange": a.get("exchange"), verb: a.get("symbols"), "symbols": SPOT}
        raise ClientError("unknown_command", f"unknown command {cmd!r}")

    async def subscribe(
        self, topics: Sequence[str], *, throttle_ms: int | None = None, **filters: Any
    ) -> Any:
        queue = self._live()
        self.requests.append(("subscribe", {"topics": list(topics), **filters}))
        if "funding" in topics:  # the daemon sends the current rates on subscribe
            for f in funding():
                queue.put_nowait(Event("funding", f))
        ex, syms = filters.get("exchange"), filters.get("symbols") or []
        for sym in syms:
            if "orderbook" in topics:
                queue.put_nowait(Event("orderbook", book(str(ex), sym)))
            if "trades" in topics:
                for t in trades(str(ex), sym):
                    queue.put_nowait(Event("trades", t))
        return {"subscribed": list(topics)}

    async def unsubscribe(self, topics: Sequence[str]) -> Any:
        return {"unsubscribed": list(topics)}

    def push(self, topic: str, data: Any) -> None:
        """Queue one event; ``data`` is what the real client yields (a message struct)."""
        self._live().put_nowait(Event(topic, data))

    def push_step(self, step: int) -> None:
        """Every symbol's ``step``-th ticker (one sparkline point each)."""
        for t in tickers(step):
            self.push("tickers", t)

    def go_down(self) -> None:
        """The daemon dies: the connection ends and reconnects fail until ``up``."""
        self.up = False
        if self._queue is not None:
            self._queue.put_nowait(None)

    async def events(self) -> AsyncIterator[Event]:
        queue = self._live()
        if self.pace is not None:  # play the history like a live market would
            for step in range(self.history + 1):
                self.push_step(step)
                for _ in range(len(all_symbols())):
                    item = await queue.get()
                    if item is not None:
                        yield item
                await asyncio.sleep(self.pace)
        while True:
            event = await queue.get()
            if event is None:
                self._queue = None
                raise Disconnected("the daemon closed the connection")
            yield event

    async def close(self) -> None:
        self._queue = None


def steady_backoff() -> Backoff:
    """Backoff without jitter, so a snapshot of the offline banner is reproducible."""
    return Backoff(initial=30.0, cap=30.0, jitter=0.0)
