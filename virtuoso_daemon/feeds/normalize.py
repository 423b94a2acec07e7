"""ccxt's unified structures -> the daemon's bus messages.

These run on the hot path (every ticker, trade and kline), so they do one thing:
read the few fields a message needs and build the frozen struct. No validation
beyond "is there a price at all", no copies of whole structures.

Amounts are served in base units. ccxt gives a contract market's trade, book and
open-interest amounts in contracts (OKX's BTC-USDT-SWAP: 0.01 BTC each), so those
functions take ``size``, the market's ``contractSize`` (1 for spot and for exchanges
whose contract is one base unit, as Binance's and Bybit's linear perpetuals).

ccxt hands out *live* objects from its websocket caches (a kline row is updated in
place, an order book is mutated by the next delta), so everything here copies the
numbers it needs into the message before returning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from virtuoso_daemon.analytics.detectors import wall_levels
from virtuoso_daemon.core.messages import Candle, Funding, OpenInterest, OrderBookTop, Ticker, Trade

Row = tuple[int, float, float, float, float, float]


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def ticker(
    exchange: str, market: str, t: Mapping[str, Any], recv: float, size: float = 1.0
) -> Ticker | None:
    """A ccxt ticker dict as a :class:`Ticker`; None when it carries no price.

    ``size``: base units per unit of the ticker's ``baseVolume``, ``bidVolume`` and
    ``askVolume`` (the contract size where ccxt passes contracts through)."""
    last = t.get("last")
    if last is None:
        last = t.get("close")
        if last is None:
            return None
    ts = t.get("timestamp")
    base_volume, bid_size, ask_size = t.get("baseVolume"), t.get("bidVolume"), t.get("askVolume")
    return Ticker(
        exchange=exchange,
        symbol=t["symbol"],
        market=market,
        last=float(last),
        bid=_f(t.get("bid")),
        ask=_f(t.get("ask")),
        bid_size=None if bid_size is None else float(bid_size) * size,
        ask_size=None if ask_size is None else float(ask_size) * size,
        open=_f(t.get("open")),
        high=_f(t.get("high")),
        low=_f(t.get("low")),
        change_pct=_f(t.get("percentage")),
        base_volume=None if base_volume is None else float(base_volume) * size,
        quote_volume=_f(t.get("quoteVolume")),
        ts=int(ts) if ts is not None else int(recv * 1000),
        recv_ts=recv,
    )


def trade(exchange: str, t: Mapping[str, Any], recv: float, size: float = 1.0) -> Trade | None:
    """A ccxt trade as a :class:`Trade` (``size``: the contract size)."""
    price, amount = t.get("price"), t.get("amount")
    if price is None or amount is None:
        return None
    ts = t.get("timestamp")
    ts = int(ts) if ts is not None else int(recv * 1000)
    side = t.get("side")
    tid = t.get("id")
    return Trade(
        exchange=exchange,
        symbol=t["symbol"],
        id=str(tid) if tid is not None else f"{ts}:{price}:{amount}",
        price=float(price),
        amount=float(amount) * size,
        side=side if side in ("buy", "sell") else None,
        ts=ts,
        recv_ts=recv,
    )


def row(r: Sequence[Any]) -> Row | None:
    """A ccxt OHLCV row ``[t, o, h, l, c, v]`` as a plain tuple (None if incomplete)."""
    if len(r) < 6 or r[0] is None or r[4] is None:
        return None
    o, h, lo, c = r[1], r[2], r[3], r[4]
    return (
        int(r[0]),
        float(o if o is not None else c),
        float(h if h is not None else c),
        float(lo if lo is not None else c),
        float(c),
        float(r[5] or 0.0),
    )


def rows(data: Iterable[Sequence[Any]]) -> list[Row]:
    out = [x for x in map(row, data) if x is not None]
    out.sort(key=lambda x: x[0])
    return out


class CandleTracker:
    """Turns successive views of OHLCV series into open and closed :class:`Candle`s.

    Neither ccxt's ``watch_ohlcv`` nor ``fetch_ohlcv`` says when a kline closed, so the
    rule is the same for both: a candle is closed once a newer candle of the same
    series has been seen, and it is published then with the last values seen for it.
    """

    def __init__(self, exchange: str) -> None:
        self.exchange = exchange
        self._current: dict[tuple[str, str], Row] = {}
        self._closed: dict[tuple[str, str], Row] = {}  # the last candle published closed
        # open time of the first live row of a series that started before any backfill
        # seeded it (see first_live)
        self._first: dict[tuple[str, str], int] = {}

    def seed(self, symbol: str, timeframe: str, last: Row) -> None:
        """Start a series from backfill: its newest row is the open candle."""
        key = (symbol, timeframe)
        cur = self._current.get(key)
        if cur is None or last[0] > cur[0]:
            self._current[key] = last

    def unchanged(self, symbol: str, timeframe: str, r: Sequence[Any]) -> bool:
        """Is raw row ``r`` the candle already tracked, with the same values?"""
        cur = self._current.get((symbol, timeframe))
        return (
            cur is not None
            and r[0] == cur[0]
            and r[4] == cur[4]
            and r[5] == cur[5]
            and r[2] == cur[2]
            and r[3] == cur[3]
        )

    def first_live(self, symbol: str, timeframe: str) -> int | None:
        """Where the live series began, when the stream or poller got there before the
        backfill seeded it (None otherwise): candles between the backfill's newest and
        this one closed unseen."""
        return self._first.get((symbol, timeframe))

    def current_open_time(self, symbol: str, timeframe: str) -> int | None:
        cur = self._current.get((symbol, timeframe))
        return None if cur is None else cur[0]

    def forget(self, symbol: str) -> None:
        for key in [k for k in self._current if k[0] == symbol]:
            del self._current[key]
            self._closed.pop(key, None)
            self._first.pop(key, None)

    def update(self, symbol: str, timeframe: str, data: Sequence[Row], recv: float) -> list[Candle]:
        """Feed rows (oldest first); returns closed candles then the current open one."""
        key = (symbol, timeframe)
        cur = self._current.get(key)
        out: list[Candle] = []
        changed = False
        if cur is None and data and key not in self._first:
            self._first[key] = data[0][0]
        for r in data:
            if cur is not None:
                if r[0] < cur[0]:
                    # a late final update of the candle just closed: publish the fix
                    prev = self._closed.get(key)
                    if prev is not None and r[0] == prev[0] and r != prev:
                        self._closed[key] = r
                        out.append(self._candle(symbol, timeframe, r, True, recv))
                    continue
                if r[0] > cur[0]:
                    self._closed[key] = cur
                    out.append(self._candle(symbol, timeframe, cur, True, recv))
            cur = r
            changed = True
        if cur is None or not changed:
            return out
        self._current[key] = cur
        out.append(self._candle(symbol, timeframe, cur, False, recv))
        return out

    def _candle(self, symbol: str, timeframe: str, r: Row, closed: bool, recv: float) -> Candle:
        return Candle(
            exchange=self.exchange,
            symbol=symbol,
            timeframe=timeframe,
            open_time=r[0],
            open=r[1],
            high=r[2],
            low=r[3],
            close=r[4],
            volume=r[5],
            closed=closed,
            recv_ts=recv,
        )


def order_book_top(
    exchange: str,
    symbol: str,
    book: Mapping[str, Any],
    recv: float,
    *,
    levels: int = 5,
    depth_pct: float = 1.0,
    size: float = 1.0,
) -> OrderBookTop | None:
    """Best ``levels`` per side plus base amount within ``depth_pct`` % of mid
    (``size``: the contract size; ccxt's book amounts are contracts)."""
    bids_raw: Sequence[Sequence[Any]] = book.get("bids") or ()
    asks_raw: Sequence[Sequence[Any]] = book.get("asks") or ()
    if not bids_raw and not asks_raw:
        return None
    bids = [(float(b[0]), float(b[1]) * size) for b in bids_raw[:levels]]
    asks = [(float(a[0]), float(a[1]) * size) for a in asks_raw[:levels]]
    mid = spread = None
    bid_depth = ask_depth = 0.0
    if bids and asks:
        best_bid, best_ask = bids[0][0], asks[0][0]
        mid = (best_bid + best_ask) / 2.0
        spread = best_ask - best_bid
        lo, hi = mid * (1 - depth_pct / 100.0), mid * (1 + depth_pct / 100.0)
        # sides are sorted best-first: stop at the first level outside the band
        for level in bids_raw:
            if level[0] < lo:
                break
            bid_depth += level[1]
        for level in asks_raw:
            if level[0] > hi:
                break
            ask_depth += level[1]
    bid_walls, bid_edge = _walls(bids_raw, size)
    ask_walls, ask_edge = _walls(asks_raw, size)
    ts = book.get("timestamp")
    return OrderBookTop(
        exchange=exchange,
        symbol=symbol,
        bids=bids,
        asks=asks,
        bid_depth=float(bid_depth) * size,
        ask_depth=float(ask_depth) * size,
        depth_pct=depth_pct,
        spread=spread,
        mid=mid,
        ts=int(ts) if ts is not None else int(recv * 1000),
        recv_ts=recv,
        bid_walls=bid_walls,
        ask_walls=ask_walls,
        bid_edge=bid_edge,
        ask_edge=ask_edge,
    )


WALL_CANDIDATE_RATIO = 10.0  # levels this many times the side's median are wall candidates
WALL_CANDIDATES = 5  # per side, largest first


def _walls(
    side: Sequence[Sequence[Any]], size: float = 1.0
) -> tuple[list[tuple[float, float, float]], float | None]:
    """Wall candidates of one book side (every level the feed keeps) and its far edge.

    On every book message of every market (up to 500 levels a side), so only the
    amounts go through numpy, read in one pass straight from ccxt's level lists;
    the few walls' prices are read back from the side itself."""
    n = len(side)
    if not n:
        return [], None
    amounts = np.fromiter(map(_AMOUNT, side), np.float64, n)
    idx, ratios = wall_levels(amounts, WALL_CANDIDATE_RATIO, WALL_CANDIDATES)
    walls = [
        (float(side[i][0]), float(amounts[i]) * size, round(float(r), 2))
        for i, r in zip(idx.tolist(), ratios.tolist(), strict=True)
    ]
    return walls, float(side[-1][0])


_AMOUNT = itemgetter(1)  # a level is [price, amount, ...] (ccxt adds a count or an id)


def funding(exchange: str, f: Mapping[str, Any], recv: float) -> Funding:
    ts = f.get("timestamp")
    nxt = f.get("nextFundingTimestamp") or f.get("fundingTimestamp")
    return Funding(
        exchange=exchange,
        symbol=f["symbol"],
        rate=_f(f.get("fundingRate")),
        mark_price=_f(f.get("markPrice")),
        index_price=_f(f.get("indexPrice")),
        next_funding_ts=int(nxt) if nxt is not None else None,
        ts=int(ts) if ts is not None else int(recv * 1000),
        recv_ts=recv,
    )


def open_interest(
    exchange: str, symbol: str, oi: Mapping[str, Any], recv: float, size: float = 1.0
) -> OpenInterest:
    """ccxt's open interest (``openInterestAmount`` in contracts) in base units."""
    ts = oi.get("timestamp")
    amount = oi.get("openInterestAmount")
    return OpenInterest(
        exchange=exchange,
        symbol=oi.get("symbol") or symbol,
        amount=None if amount is None else float(amount) * size,
        value=_f(oi.get("openInterestValue")),
        ts=int(ts) if ts is not None else int(recv * 1000),
        recv_ts=recv,
    )
