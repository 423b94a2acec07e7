"""The shapes of the market queries' answers (:mod:`.market`, :mod:`.market_stats`).

Why structs and not dicts: ``/api/openapi.json`` describes each answer from the read
function's return annotation (:mod:`virtuoso_daemon.http.openapi`), so an answer
typed here is documented, and the live schemathesis test checks the daemon against
it. They encode to the JSON the dicts did (same names, same fields present: a field
some answers leave out is ``UnsetType``, never a ``None`` that would appear as
``null``). Rows are the bus messages themselves (:class:`~..core.messages.Ticker`,
:class:`~..core.messages.Funding` ...), as before. Frozen: answers are memoised per
ticker snapshot and shared between callers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from virtuoso_daemon.core.messages import (
    CandleGap,
    Funding,
    OpenInterest,
    OrderBookTop,
    Ticker,
    Trade,
)


class Answer(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the answer structs (frozen, fields by name; :func:`convert` refuses a
    field the struct does not declare, so a document and its type cannot drift)."""


class Tickers(Answer, frozen=True):
    """The ticker list; unfiltered it is the ticker cache's pre-encoded body."""

    updated: float  # when the snapshot was taken (epoch s)
    count: int
    restored: int  # how many of these came from memcached and are not yet live
    tickers: list[Ticker]


class TickerAnswer(Answer, frozen=True):
    exchange: str
    symbol: str
    restored: bool  # the value came from memcached, no feed has refreshed it yet
    age: float  # seconds since it was received
    ticker: Ticker


class Volatility(Answer, frozen=True):
    dispersion_pct: float | None  # cross-sectional std of the 24 h changes
    avg_range_pct: float | None  # mean (high - low) / low


class Regime(Answer, frozen=True):
    """The market regime. ``source`` ``tickers``: from the tickers alone (no
    correlation input); ``analytics``: the beta actor's one, which also says its
    benchmark, where its correlation came from and when it was computed."""

    label: str
    rule: str
    explanation: str
    inputs: dict[str, float | None]
    source: str
    benchmark: str | UnsetType | None = UNSET
    correlation_source: dict[str, str] | UnsetType | None = UNSET
    computed_at: float | UnsetType = UNSET


class Overview(Answer, frozen=True):
    exchange: str | None  # None: no exchange has tickers yet
    updated: float
    symbols: int
    advancers: int
    decliners: int
    unchanged: int
    breadth: float | None
    avg_change_pct: float | None
    vw_avg_change_pct: float | None
    volatility: Volatility
    btc_dominance_pct: float | None
    benchmark: str
    benchmark_change_pct: float | None
    regime: Regime


class MoverRow(Answer, frozen=True):
    symbol: str
    last: float
    change_pct: float | None
    quote_volume: float | None


class Movers(Answer, frozen=True):
    exchange: str | None
    updated: float
    gainers: list[MoverRow]
    losers: list[MoverRow]
    volume: list[MoverRow]


class ExchangeRow(Answer, frozen=True):
    """One exchange: its configuration (None when only seen in the data) and the
    feed's reported state."""

    name: str
    configured: bool
    ccxt_id: str | None
    market: str | None
    quote: str | None
    timeframes: list[str]
    streaming: bool | None
    symbols: list[str]
    state: str
    modes: dict[str, str]
    last_message_ts: float | None
    latency_ms: float | None
    errors: dict[str, int]
    detail: str
    unknown_symbols: list[str]
    # symbol -> timeframe -> candles the backfill could not get
    gaps: dict[str, dict[str, list[CandleGap]]]
    status_ts: float | None
    tickers: int


class Exchanges(Answer, frozen=True):
    count: int
    exchanges: list[ExchangeRow]


#: one candle: open time (ms), open, high, low, close, volume
CandleRow = tuple[int, float, float, float, float, float]


class Ohlcv(Answer, frozen=True):
    exchange: str
    symbol: str
    timeframe: str
    count: int
    open_candle: bool  # the last row is still forming
    columns: list[str]
    candles: list[CandleRow]


class Trades(Answer, frozen=True):
    exchange: str
    symbol: str
    count: int
    trades: list[Trade]


#: one past book summary: ts (ms), mid, spread, bid depth, ask depth (mid and spread
#: are null while a side of the book was empty)
BookRow = tuple[int, float | None, float | None, float, float]


class BookHistory(Answer, frozen=True):
    columns: list[str]
    rows: list[BookRow]


class OrderBook(Answer, frozen=True):
    exchange: str
    symbol: str
    top: OrderBookTop | None
    history: BookHistory


class FundingList(Answer, frozen=True):
    count: int
    funding: list[Funding]


class OpenInterestList(Answer, frozen=True):
    count: int
    open_interest: list[OpenInterest]


class CacheState(Answer, frozen=True):
    """The ticker cache's memcached mirror; only ``state`` (``unknown``) while the
    ticker cache is not running."""

    state: str  # disabled | connecting | up | down | unknown
    backend: str | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET
    address: str | UnsetType = UNSET
    key_prefix: str | UnsetType = UNSET
    since: float | UnsetType = UNSET  # when the state began (epoch s)
    last_error: str | UnsetType | None = UNSET
    last_error_ts: float | UnsetType | None = UNSET
    tickers: int | UnsetType = UNSET
    restored: int | UnsetType = UNSET
    pending_writes: int | UnsetType = UNSET
    received: int | UnsetType = UNSET
    hits: int | UnsetType = UNSET
    misses: int | UnsetType = UNSET
    errors: int | UnsetType = UNSET
    writes: int | UnsetType = UNSET
    bytes_written: int | UnsetType = UNSET
    flushes: int | UnsetType = UNSET
    reconnects: int | UnsetType = UNSET
    rewarms: int | UnsetType = UNSET
    deletes: int | UnsetType = UNSET  # keys of removed symbols deleted from memcached


A = TypeVar("A", bound=Answer)


def convert(doc: Mapping[str, Any], cls: type[A]) -> A:
    """``doc`` (a document an actor published) as ``cls``, checked field by field."""
    return msgspec.convert(doc, cls)
