"""Binance request weights and the per-IP weight limiter (429, then 418 bans).

Weights follow Binance's documentation for the public market-data endpoints. The
limiter keeps a fixed window per (client IP, market), like Binance's ``1m`` windows but
opened by the first request rather than aligned to the clock (so tests are not at the
mercy of a minute boundary):
a request whose weight would exceed the limit gets 429 with ``Retry-After`` (seconds to
the window's end); an IP that keeps sending after ``ban_after`` 429s in a window is
banned for ``ban_seconds`` and gets 418 with ``Retry-After`` until the ban ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from virtuoso_daemon.sim.universe import Kind

Query = Mapping[str, str]


def _by_limit(default: int, table: list[tuple[int, int]]) -> Callable[[Query], int]:
    def weight(q: Query) -> int:
        try:
            limit = int(q.get("limit", default))
        except ValueError:
            limit = default
        for top, w in table:
            if limit <= top:
                return w
        return table[-1][1]

    return weight


def _symbols_weight(q: Query) -> int:
    if "symbol" in q:
        return 2
    raw = q.get("symbols")
    if raw is None:
        return 80
    n = raw.count(",") + 1
    return 2 if n <= 20 else 40 if n <= 100 else 80


def _const(w: int) -> Callable[[Query], int]:
    return lambda q: w


def _sym(with_symbol: int, without: int) -> Callable[[Query], int]:
    return lambda q: with_symbol if "symbol" in q else without


SPOT_WEIGHTS: dict[str, Callable[[Query], int]] = {
    "ping": _const(1),
    "time": _const(1),
    "exchangeInfo": _const(20),
    "depth": _by_limit(100, [(100, 5), (500, 25), (1000, 50), (5000, 250)]),
    "trades": _const(25),
    "historicalTrades": _const(25),
    "aggTrades": _const(4),
    "klines": _const(2),
    "uiKlines": _const(2),
    "avgPrice": _const(2),
    "ticker/24hr": _symbols_weight,
    "ticker/price": _sym(2, 4),
    "ticker/bookTicker": _sym(2, 4),
}

FUTURES_WEIGHTS: dict[str, Callable[[Query], int]] = {
    "ping": _const(1),
    "time": _const(1),
    "exchangeInfo": _const(1),
    "depth": _by_limit(500, [(50, 2), (100, 5), (500, 10), (1000, 20)]),
    "trades": _const(5),
    "aggTrades": _const(20),
    "klines": _by_limit(500, [(99, 1), (499, 2), (1000, 5), (1500, 10)]),
    "ticker/24hr": _sym(1, 40),
    "ticker/price": _sym(1, 2),
    "ticker/bookTicker": _sym(2, 5),
    "premiumIndex": _sym(1, 10),
    "fundingRate": _const(1),
    "openInterest": _const(1),
}


def request_weight(kind: Kind, endpoint: str, query: Query) -> int:
    table = SPOT_WEIGHTS if kind == "spot" else FUTURES_WEIGHTS
    fn = table.get(endpoint)
    return fn(query) if fn is not None else 1


@dataclass
class _Window:
    start: float = -math.inf
    used: int = 0
    rejected: int = 0
    banned_until: float = 0.0


@dataclass
class Verdict:
    """Outcome of charging one request: allowed, or the status and ``Retry-After``."""

    status: int  # 200, 429 or 418
    used: int
    retry_after: int = 0
    banned_until_ms: int = 0


@dataclass
class RateLimiter:
    """Fixed-window request-weight accounting per (IP, market)."""

    limits: dict[str, int]
    window: float = 60.0
    ban_after: int = 10
    ban_seconds: float = 120.0
    enabled: bool = True
    clock: Callable[[], float] = time.time
    counters: dict[str, int] = field(default_factory=lambda: {"429": 0, "418": 0})
    _state: dict[tuple[str, str], _Window] = field(default_factory=dict)

    def charge(self, ip: str, kind: Kind, weight: int) -> Verdict:
        if not self.enabled:
            return Verdict(200, 0)
        now = self.clock()
        st = self._state.get((ip, kind))
        if st is None:
            st = self._state[(ip, kind)] = _Window()
        if now < st.banned_until:
            self.counters["418"] += 1
            return Verdict(
                418, st.used, math.ceil(st.banned_until - now), int(st.banned_until * 1000)
            )
        if now >= st.start + self.window:  # a new window opens with this request
            st.start, st.used, st.rejected = now, 0, 0
        start = st.start
        limit = self.limits[kind]
        if st.used + weight > limit:
            st.rejected += 1
            if st.rejected > self.ban_after:
                st.banned_until = now + self.ban_seconds
                self.counters["418"] += 1
                return Verdict(
                    418, st.used, math.ceil(self.ban_seconds), int(st.banned_until * 1000)
                )
            self.counters["429"] += 1
            return Verdict(429, st.used, max(1, math.ceil(start + self.window - now)))
        st.used += weight
        return Verdict(200, st.used)

    def reset(self) -> None:
        self._state.clear()
