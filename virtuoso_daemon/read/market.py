"""Read-side market queries shared by the HTTP API and the control socket.

Each function takes the read model (:class:`~virtuoso_daemon.core.runtime.ReadModel`:
the runtime, or the HTTP thread's :class:`~.model.HotModel`; the store-backed ones,
which ask an actor, the runtime) plus plain arguments (numbers may come as ``int``
or as the strings of a URL query) and returns plain data that
``msgspec`` encodes (dicts, lists, message structs). Bad input raises one error
type, :class:`QueryError` ``(code, message, status)``, which the API turns into
``{"error": {"code", "message"}}`` with ``status`` and the socket into its error
reply. Returned data may be shared with other callers (answers are memoised per
ticker snapshot): treat it as read-only.

Where the answers come from (readers never touch an actor's state):

* tickers, ticker, overview, movers, exchanges: the ``market.tickers`` view of the
  ticker cache (plus ``feeds.status`` for exchanges);
* funding, open interest: the ``market.funding`` / ``market.open_interest`` views of
  the market store;
* ohlcv, trades, orderbook, closes, coverage: ``bus.request`` to the market store
  (topic ``store_queries``), which answers with copies; these are ``async``.

Symbols are accepted in every spelling of :mod:`.symbols` and resolved against the
symbols known per exchange (configured, reported by the feeds, seen in tickers or
stored candles). Without ``exchange`` the first exchange (config order) that has
the symbol answers.

Error codes: ``invalid_symbol`` 400, ``unknown_symbol`` 404, ``unknown_exchange``
404, ``invalid_timeframe`` 400, ``invalid_parameter`` 400, ``no_data`` 404 (known
symbol, nothing received yet), ``unavailable`` 503 (the owning actor is not running).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from virtuoso_daemon.beta.publish import SENTIMENT_DOC_VIEW
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.exchanges import exchange_configs
from virtuoso_daemon.core.messages import CandleGap, FeedStatus, Ticker
from virtuoso_daemon.core.numbers import rounded
from virtuoso_daemon.core.runtime import ReadModel, Runtime
from virtuoso_daemon.core.symbols import SymbolError, SymbolIndex, split_unified
from virtuoso_daemon.market import requests
from virtuoso_daemon.market.ringbuffer import COLUMNS, FloatArray, IntArray
from virtuoso_daemon.market.state import BOOK_HISTORY
from virtuoso_daemon.read import market_stats
from virtuoso_daemon.read.contract import parse_choice, parse_int
from virtuoso_daemon.read.market_answers import (
    BookHistory,
    CacheState,
    ExchangeRow,
    Exchanges,
    FundingList,
    Movers,
    Ohlcv,
    OpenInterestList,
    OrderBook,
    Overview,
    TickerAnswer,
    Tickers,
    Trades,
    convert,
)
from virtuoso_daemon.tickers.table import EMPTY_SNAPSHOT, LiveTickers, TickerSnapshot
from virtuoso_daemon.tickers.table import ticker_snapshot as snapshot

TICKER_SORTS = ("symbol", "change", "volume", "price")
ORDERS = ("asc", "desc")
DEFAULT_OHLCV_LIMIT = 100
DEFAULT_TRADES_LIMIT = 100
DEFAULT_MOVERS = 10
MAX_MOVERS = 100
MAX_TICKERS = 100_000
# the earliest ``since`` in ms taken at face value (2001-09-09); below it a number is
# taken to be epoch seconds given by mistake (seconds reach 1e11 only in the year 5138)
MIN_EPOCH_MS = 1_000_000_000_000
_QUOTE = re.compile(r"^[A-Za-z0-9]{1,16}$")
_EMPTY_BODY = b'{"updated":0.0,"count":0,"restored":0,"tickers":[]}'

T = TypeVar("T")


# --- helpers ---------------------------------------------------------------------------


def _memo(snap: TickerSnapshot, key: tuple[Any, ...], build: Callable[[], T]) -> T:
    if snap is EMPTY_SNAPSHOT:
        return build()
    try:
        result: T = snap.memo[key]
        return result
    except KeyError:
        result = snap.memo[key] = build()
        return result


def _feed_status(rt: ReadModel) -> dict[str, FeedStatus]:
    value = rt.views.value("feeds.status")
    return value if isinstance(value, dict) else {}


_INDEX_CACHE: dict[int, tuple[tuple[Any, ...], SymbolIndex]] = {}
_INDEX_SOURCES = ("market.symbols", "feeds.status", "market.store.series")


def symbol_index(rt: ReadModel) -> SymbolIndex:
    """Known symbols per exchange, rebuilt only when one of its sources changed."""
    stamp = (id(rt.config), *(rt.views.versions.get(k, 0) for k in _INDEX_SOURCES))
    cached = _INDEX_CACHE.get(id(rt.views))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    pairs: list[tuple[str, str]] = []
    statuses = _feed_status(rt)
    for ex in exchange_configs(rt):
        # a configured symbol the exchange does not list is unknown, not "no data yet"
        st = statuses.get(ex.name)
        unknown = set(st.unknown_symbols) if isinstance(st, FeedStatus) else set()
        pairs += [(ex.name, s) for s in ex.symbols if s not in unknown]
    for name, status in statuses.items():
        if isinstance(status, FeedStatus):
            pairs += [(name, s) for s in status.symbols]
    tree = rt.views.value("market.symbols") or {}
    for name, symbols in tree.items():
        pairs += [(name, s) for s in symbols]
    series = rt.views.value("market.store.series") or {}
    for name, symbols in series.items():
        pairs += [(name, s) for s in symbols]
    index = SymbolIndex(pairs, [ex.name for ex in exchange_configs(rt)])
    if len(_INDEX_CACHE) > 16:  # one entry per live runtime; tests make many
        _INDEX_CACHE.pop(next(iter(_INDEX_CACHE)))
    _INDEX_CACHE[id(rt.views)] = (stamp, index)
    return index


def exchange_names(rt: ReadModel) -> list[str]:
    """Configured exchanges first (config order), then any other seen in the data."""
    names = [ex.name for ex in exchange_configs(rt)]
    extra = set(symbol_index(rt).exchanges) | set(_feed_status(rt))
    return names + sorted(extra - set(names))


def check_exchange(rt: ReadModel, exchange: str | None) -> str | None:
    if exchange is None or exchange == "":
        return None
    if exchange not in exchange_names(rt):
        raise QueryError("unknown_exchange", f"unknown exchange {exchange!r}", 404)
    return exchange


def resolve(rt: ReadModel, symbol: str, exchange: str | None = None) -> tuple[str, str]:
    """``(exchange, unified symbol)`` for user input, or QueryError (400/404)."""
    exchange = check_exchange(rt, exchange)
    try:
        found = symbol_index(rt).candidates(symbol, exchange)
    except SymbolError as exc:
        raise QueryError("invalid_symbol", str(exc), 400) from None
    if not found:
        where = f" on {exchange}" if exchange else ""
        raise QueryError("unknown_symbol", f"unknown symbol {symbol!r}{where}", 404)
    if exchange is None and len(found) > 1:
        # prefer the first exchange that actually has data for it
        index = snapshot(rt).index
        for cand in found:
            if cand in index:
                return cand
    return found[0]


def _timeframes(rt: ReadModel, exchange: str, symbol: str) -> list[str]:
    tfs: list[str] = []
    for ex in exchange_configs(rt):
        if ex.name == exchange:
            tfs = list(ex.timeframes)
    stored = (rt.views.value("market.store.series") or {}).get(exchange, {}).get(symbol, [])
    return tfs + [tf for tf in stored if tf not in tfs]


# --- tickers ---------------------------------------------------------------------------


def tickers_body(rt: ReadModel) -> bytes:
    """The pre-encoded JSON of the unfiltered ticker list (the hot path)."""
    view = rt.views.get("market.tickers")
    return view.body if view is not None else _EMPTY_BODY


def _sort_key(sort: str) -> Callable[[Ticker], Any]:
    if sort == "change":
        return lambda t: t.change_pct
    if sort == "volume":
        return lambda t: t.quote_volume
    if sort == "price":
        return lambda t: t.last
    return lambda t: (t.symbol, t.exchange)


def tickers(
    rt: ReadModel,
    *,
    exchange: str | None = None,
    quote: str | None = None,
    sort: str | None = None,
    order: str | None = None,
    limit: int | str | None = None,
) -> Tickers:
    """Tickers filtered by exchange and quote currency, sorted, limited.

    ``sort``: symbol (default, ascending), change, volume (quote volume) or price
    (descending by default; ``order`` = asc/desc overrides). Tickers without the
    sort value go last.
    """
    exchange = check_exchange(rt, exchange)
    if quote is not None and quote != "" and not _QUOTE.match(quote):
        raise QueryError("invalid_parameter", f"quote must be a currency code, got {quote!r}")
    q = quote.upper() if quote else None
    s = parse_choice("sort", sort, TICKER_SORTS, "symbol")
    o = parse_choice("order", order, ORDERS, "asc" if s == "symbol" else "desc")
    n = parse_int("limit", limit, MAX_TICKERS, 1, MAX_TICKERS)
    snap = snapshot(rt)

    def build() -> Tickers:
        rows = [
            t
            for t in snap.tickers
            if (exchange is None or t.exchange == exchange)
            and (q is None or split_unified(t.symbol)[1] == q)
        ]
        key = _sort_key(s)
        present = [t for t in rows if key(t) is not None]
        missing = [t for t in rows if key(t) is None]
        present.sort(key=key, reverse=o == "desc")
        rows = (present + missing)[:n]
        return Tickers(
            updated=snap.updated,
            count=len(rows),
            restored=sum((t.exchange, t.symbol) in snap.restored for t in rows),
            tickers=rows,
        )

    return _memo(snap, ("tickers", exchange, q, s, o, n), build)


def ticker(rt: ReadModel, symbol: str, exchange: str | None = None) -> TickerAnswer:
    """The newest ticker of one symbol, with whether it is a restored value.

    Read from the ticker cache's live table (``market.latest``), not the snapshot:
    one symbol needs no cross-symbol consistency, and the live table has a ticker
    the moment a feed published it.
    """
    ex, sym = resolve(rt, symbol, exchange)
    key = (ex, sym)
    live = rt.views.value("market.latest")
    if isinstance(live, LiveTickers):
        t, restored = live.get(key), live.is_restored(key)
    else:  # no ticker cache running (some tests): the snapshot, if any
        snap = snapshot(rt)
        t, restored = snap.index.get(key), key in snap.restored
    if t is None:
        raise QueryError("no_data", f"no ticker received yet for {sym} on {ex}", 404)
    return TickerAnswer(
        exchange=ex,
        symbol=sym,
        restored=restored,
        age=max(0.0, time.time() - t.recv_ts),
        ticker=t,
    )


def _default_exchange(rt: ReadModel, snap: TickerSnapshot) -> str | None:
    with_data = {t.exchange for t in snap.tickers}
    for name in exchange_names(rt):
        if name in with_data:
            return name
    return None


def overview(rt: ReadModel, *, exchange: str | None = None) -> Overview:
    """Breadth, changes, volatility, BTC dominance and regime of one exchange.

    Default exchange: the first configured one that has tickers. The rules are in
    :mod:`.api.market_stats`.
    """
    exchange = check_exchange(rt, exchange)
    snap = snapshot(rt)
    ex = exchange or _default_exchange(rt, snap)

    regime_version = rt.views.versions.get(SENTIMENT_DOC_VIEW, 0)

    def build() -> Overview:
        rows = [t for t in snap.tickers if t.exchange == ex]
        doc = market_stats.overview(rows, rt.config.beta.benchmark)
        shared = rt.views.value(SENTIMENT_DOC_VIEW)
        if isinstance(shared, dict) and isinstance(shared.get("regime"), dict):
            doc["regime"] = {**shared["regime"], "source": "analytics"}
        return convert(rounded({"exchange": ex, "updated": snap.updated, **doc}), Overview)

    return _memo(snap, ("overview", ex, regime_version), build)


def movers(
    rt: ReadModel,
    *,
    exchange: str | None = None,
    quote: str | None = None,
    limit: int | str | None = None,
) -> Movers:
    """Top gainers, losers and volume leaders of one exchange (default as overview)."""
    exchange = check_exchange(rt, exchange)
    if quote is not None and quote != "" and not _QUOTE.match(quote):
        raise QueryError("invalid_parameter", f"quote must be a currency code, got {quote!r}")
    q = quote.upper() if quote else None
    n = parse_int("limit", limit, DEFAULT_MOVERS, 1, MAX_MOVERS)
    snap = snapshot(rt)
    ex = exchange or _default_exchange(rt, snap)

    def build() -> Movers:
        rows = [
            t
            for t in snap.tickers
            if t.exchange == ex and (q is None or split_unified(t.symbol)[1] == q)
        ]
        m = market_stats.movers(rows, n)
        return Movers(
            exchange=ex,
            updated=snap.updated,
            gainers=m["gainers"],
            losers=m["losers"],
            volume=m["volume"],
        )

    return _memo(snap, ("movers", ex, q, n), build)


def candle_gaps(rt: ReadModel, exchange: str, timeframe: str) -> dict[str, list[CandleGap]]:
    """Per symbol: the candles of ``timeframe`` the exchange's backfill could not get."""
    st = _feed_status(rt).get(exchange)
    if not isinstance(st, FeedStatus):
        return {}
    return {sym: by_tf[timeframe] for sym, by_tf in st.gaps.items() if by_tf.get(timeframe)}


def exchanges(rt: ReadModel) -> Exchanges:
    """Every exchange with its configuration and the feed's reported state."""
    status = _feed_status(rt)
    counts: dict[str, int] = {}
    for t in snapshot(rt).tickers:
        counts[t.exchange] = counts.get(t.exchange, 0) + 1
    configured = {ex.name: ex for ex in exchange_configs(rt)}
    out = []
    for name in exchange_names(rt):
        ex = configured.get(name)
        st = status.get(name)
        out.append(
            ExchangeRow(
                name=name,
                configured=ex is not None,
                ccxt_id=ex.ccxt_id if ex else None,
                market=ex.market if ex else (st.market if st else None),
                quote=ex.quote if ex else None,
                timeframes=list(ex.timeframes) if ex else [],
                streaming=ex.streaming if ex else None,
                symbols=list(st.symbols) if st else (list(ex.symbols) if ex else []),
                state=st.state if st else "unknown",
                modes=dict(st.modes) if st else {},
                last_message_ts=st.last_message_ts if st else None,
                latency_ms=st.latency_ms if st else None,
                errors=dict(st.errors) if st else {},
                detail=st.detail if st else "",
                unknown_symbols=list(st.unknown_symbols) if st else [],
                # per symbol and timeframe: candles the backfill could not get
                gaps=st.gaps if st else {},
                status_ts=st.ts if st else None,
                tickers=counts.get(name, 0),
            )
        )
    return Exchanges(count=len(out), exchanges=out)


# --- store-backed ----------------------------------------------------------------------


async def ohlcv(
    rt: Runtime,
    symbol: str,
    timeframe: str | None = None,
    limit: int | str | None = None,
    since: int | str | None = None,
    exchange: str | None = None,
) -> Ohlcv:
    """Candles ``[open_time_ms, open, high, low, close, volume]``, oldest first.

    ``timeframe``: one the exchange is configured with (default ``1h`` if it is,
    else the first); ``limit`` 1..``store.candles`` of that timeframe (default 100): the newest
    ``limit`` candles, or with ``since`` (ms) the first ``limit`` from then on.
    Gaps are left out. ``open_candle`` says whether the last row is still forming.
    """
    ex, sym = resolve(rt, symbol, exchange)
    tfs = _timeframes(rt, ex, sym)
    if timeframe is None or timeframe == "":
        if not tfs:
            raise QueryError("invalid_timeframe", f"no timeframes are kept for {ex}")
        timeframe = "1h" if "1h" in tfs else tfs[0]
    elif timeframe not in tfs:
        raise QueryError(
            "invalid_timeframe",
            f"timeframe {timeframe!r} is not kept for {sym} on {ex} (use one of {', '.join(tfs)})",
        )
    kept = rt.config.store.candles_for(timeframe)
    n = parse_int("limit", limit, DEFAULT_OHLCV_LIMIT, 1, kept)
    since_ms = None if since is None or since == "" else parse_int("since", since, 0, 0, 2**62)
    if since_ms is not None and 0 < since_ms < MIN_EPOCH_MS:
        # 1796398000 is 1970-01-21 in ms but 2026-12 in seconds: without this check a
        # since in seconds silently returns the oldest candles kept
        raise QueryError(
            "invalid_parameter",
            f"since is epoch milliseconds (exchange times are ms); {since_ms} would be "
            f"{time.strftime('%Y-%m-%d', time.gmtime(since_ms / 1000))}: did you mean "
            f"{since_ms * 1000} (the same time in ms)?",
        )
    reply = await requests.ohlcv(rt, ex, sym, timeframe, n, since_ms)
    times: IntArray = reply["times"]
    values: FloatArray = reply["values"]
    rows: list[Any] = [[t, *v] for t, v in zip(times.tolist(), values.tolist(), strict=True)]
    return Ohlcv(
        exchange=ex,
        symbol=sym,
        timeframe=timeframe,
        count=len(rows),
        open_candle=bool(reply["closed"].size and not reply["closed"][-1]),
        columns=["open_time", *COLUMNS],
        candles=rows,  # lists encode as the CandleRow tuples they are
    )


async def trades(
    rt: Runtime, symbol: str, exchange: str | None = None, limit: int | str | None = None
) -> Trades:
    """The newest trades of a symbol, newest first (``limit`` 1..``store.trades``)."""
    ex, sym = resolve(rt, symbol, exchange)
    cap = rt.config.store.trades
    n = parse_int("limit", limit, min(DEFAULT_TRADES_LIMIT, cap), 1, cap)
    rows = await requests.trades(rt, ex, sym, n)
    return Trades(exchange=ex, symbol=sym, count=len(rows), trades=rows)


async def orderbook(
    rt: Runtime, symbol: str, exchange: str | None = None, history: int | str | None = None
) -> OrderBook:
    """The newest order-book top, plus up to ``history`` past summaries (oldest first)."""
    ex, sym = resolve(rt, symbol, exchange)
    n = parse_int("history", history, 0, 0, BOOK_HISTORY)
    reply = await requests.orderbook(rt, ex, sym, n)
    hist: FloatArray = reply["history"]
    rows: list[Any] = [[int(r[0]), *r[1:]] for r in hist.tolist()]  # encoded as BookRow
    return OrderBook(
        exchange=ex,
        symbol=sym,
        top=reply["top"],
        history=BookHistory(columns=["ts", "mid", "spread", "bid_depth", "ask_depth"], rows=rows),
    )


async def coverage(rt: Runtime, exchange: str | None = None) -> dict[str, Any]:
    """Stored candle ranges per exchange, symbol and timeframe."""
    return await requests.coverage(rt, check_exchange(rt, exchange))


# --- views of the store ----------------------------------------------------------------


def _latest_list(rt: ReadModel, key: str, exchange: str | None, symbol: str | None) -> list[Any]:
    exchange = check_exchange(rt, exchange)
    rows: list[Any] = rt.views.value(key) or []
    if symbol:
        ex, sym = resolve(rt, symbol, exchange)
        rows = [r for r in rows if r.exchange == ex and r.symbol == sym]
    elif exchange:
        rows = [r for r in rows if r.exchange == exchange]
    return rows


def funding(rt: ReadModel, exchange: str | None = None, symbol: str | None = None) -> FundingList:
    """Newest funding rate per perpetual (optionally one exchange or symbol)."""
    rows = _latest_list(rt, "market.funding", exchange, symbol)
    return FundingList(count=len(rows), funding=rows)


def open_interest(
    rt: ReadModel, exchange: str | None = None, symbol: str | None = None
) -> OpenInterestList:
    """Newest open interest per perpetual (optionally one exchange or symbol)."""
    rows = _latest_list(rt, "market.open_interest", exchange, symbol)
    return OpenInterestList(count=len(rows), open_interest=rows)


def cache_state(rt: ReadModel) -> CacheState:
    """The ticker cache's memcached state and counters."""
    value = rt.views.value("cache.state")
    return convert(value, CacheState) if isinstance(value, dict) else CacheState(state="unknown")
