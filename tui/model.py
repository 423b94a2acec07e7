"""What the TUI knows about the daemon: typed state, updated from events, no Textual.

The live loop writes into these objects (through the app's message handlers) and the
screens read them when they render. They keep the daemon's own message structs
(:mod:`virtuoso_daemon.core.messages`, decoded by the protocol or by
:mod:`tui.answers`) and read them by attribute; only the market's per-symbol
:class:`Quote` is the TUI's own (a ticker, its funding rate and a price history
folded together). Keeping the models free of widgets means the rendering rate is the
screens' business: an update only marks a row dirty; a timer turns dirty rows into cell
updates a few times a second.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from virtuoso_daemon.core.messages import (
    ActorEvent,
    Alert,
    BetaSnapshot,
    CorrelationSnapshot,
    FeedStatus,
    Funding,
    HealthCheck,
    HealthReport,
    HealthTransition,
    LogRecord,
    Message,
    OrderBookTop,
    RegimeSnapshot,
    SentimentSnapshot,
    Ticker,
    Trade,
)
from virtuoso_daemon.protocol import Hello

from .answers import ActorRow, BetaAnswer, Status

SPARK_POINTS = 48
SPARK_INTERVAL = 2.0  # seconds of price history per sparkline point
TRADES_KEPT = 50  # recent trades kept per symbol watched in the detail panel


def quote_key(exchange: str, symbol: str) -> str:
    return f"{exchange}|{symbol}"


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


@dataclass(slots=True)
class Quote:
    """The newest state of one symbol on one exchange, plus a little price history."""

    exchange: str
    symbol: str
    market: str = "spot"
    last: float | None = None
    change_pct: float | None = None
    quote_volume: float | None = None
    base_volume: float | None = None
    bid: float | None = None
    ask: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    high: float | None = None
    low: float | None = None
    funding: float | None = None
    mark_price: float | None = None
    recv_ts: float = 0.0
    history: deque[float] = field(default_factory=lambda: deque(maxlen=SPARK_POINTS))
    bucket: int = -1
    paused: bool = False  # its feed, or this symbol, is paused by the operator

    @property
    def key(self) -> str:
        return quote_key(self.exchange, self.symbol)

    @property
    def perpetual(self) -> bool:
        return self.market != "spot" or ":" in self.symbol


TopOfBook = tuple[float | None, float | None, float | None, float | None]


class Conflator:
    """Pending updates keyed by symbol: a newer one replaces the queued older one.

    The live loop ``put``s every ticker; the app drains the lot when it gets round to
    it. However fast tickers arrive, at most one update per symbol is waiting.
    """

    def __init__(self) -> None:
        self._pending: dict[Hashable, Any] = {}
        self.received = 0
        self.replaced = 0

    def put(self, key: Hashable, item: Any) -> bool:
        """Queue ``item``; returns True when the queue was empty (time to notify)."""
        self.received += 1
        was_empty = not self._pending
        if key in self._pending:
            self.replaced += 1
        self._pending[key] = item
        return was_empty

    def drain(self) -> list[Any]:
        items = list(self._pending.values())
        self._pending.clear()
        return items

    def __len__(self) -> int:
        return len(self._pending)


class MarketModel:
    """Every quote by key; which keys changed since the screens last looked."""

    def __init__(self) -> None:
        self.quotes: dict[str, Quote] = {}
        self.dirty: set[str] = set()
        self.added = False  # a symbol appeared or vanished: the table needs new rows
        self.newest_recv_ts = 0.0
        self.updates = 0
        self.books: dict[str, OrderBookTop] = {}
        self.trades: dict[str, deque[Trade]] = {}
        self.detail_version = 0

    def _quote(self, exchange: str, symbol: str, market: str | None) -> Quote:
        key = quote_key(exchange, symbol)
        q = self.quotes.get(key)
        if q is None:
            q = self.quotes[key] = Quote(exchange, symbol, market or "spot")
            self.added = True
        elif market:
            q.market = market
        return q

    def apply_ticker(self, t: Ticker) -> None:
        q = self._quote(t.exchange, t.symbol, t.market)
        last = _float(t.last)
        q.last = last
        q.change_pct = _float(t.change_pct)
        q.quote_volume = _float(t.quote_volume)
        q.base_volume = _float(t.base_volume)
        q.bid = _float(t.bid)
        q.ask = _float(t.ask)
        q.bid_size = _float(t.bid_size)
        q.ask_size = _float(t.ask_size)
        q.high = _float(t.high)
        q.low = _float(t.low)
        recv = t.recv_ts
        q.recv_ts = recv
        if recv > self.newest_recv_ts:
            self.newest_recv_ts = recv
        if last is not None:
            bucket = int(recv // SPARK_INTERVAL)
            if bucket == q.bucket and q.history:
                q.history[-1] = last
            else:
                q.history.append(last)
                q.bucket = bucket
        self.updates += 1
        self.dirty.add(q.key)

    def apply_funding(self, f: Funding) -> None:
        q = self._quote(f.exchange, f.symbol, None)
        q.funding = _float(f.rate)
        q.mark_price = _float(f.mark_price)
        self.dirty.add(q.key)

    def apply_book(self, book: OrderBookTop) -> None:
        self.books[quote_key(book.exchange, book.symbol)] = book
        self.detail_version += 1

    def apply_trade(self, trade: Trade) -> None:
        key = quote_key(trade.exchange, trade.symbol)
        trades = self.trades.get(key)
        if trades is None:
            trades = self.trades[key] = deque(maxlen=TRADES_KEPT)
        trades.append(trade)
        self.detail_version += 1

    def apply_paused(self, feeds: dict[str, FeedStatus]) -> None:
        """Mark the quotes of paused feeds and paused symbols (their rows look paused)."""
        for q in self.quotes.values():
            feed = feeds.get(q.exchange)
            paused = feed is not None and (
                feed.state == "paused" or q.symbol in feed.paused_symbols
            )
            if paused != q.paused:
                q.paused = paused
                self.dirty.add(q.key)

    def top_of_book(
        self, key: str
    ) -> tuple[float | None, float | None, float | None, float | None]:
        """(bid, bid size, ask, ask size): the ticker's, else the watched book's top
        (perpetual ticker streams carry no bid/ask)."""
        q = self.quotes.get(key)
        bid, bid_size, ask, ask_size = (
            (q.bid, q.bid_size, q.ask, q.ask_size) if q else (None, None, None, None)
        )
        book = self.books.get(key)
        if book is not None:
            if bid is None and book.bids:
                bid, bid_size = _float(book.bids[0][0]), _float(book.bids[0][1])
            if ask is None and book.asks:
                ask, ask_size = _float(book.asks[0][0]), _float(book.asks[0][1])
        return bid, bid_size, ask, ask_size

    def seed_history(self, key: str, closes: Iterable[float]) -> None:
        """Fill a sparkline from candle closes (so it is not empty right after start)."""
        q = self.quotes.get(key)
        if q is not None and len(q.history) <= 1:
            last = list(q.history)
            q.history.clear()
            q.history.extend(c for c in closes if _float(c) is not None)
            q.history.extend(last)
            self.dirty.add(key)

    def remove_missing(self, keep: set[str]) -> None:
        gone = [k for k in self.quotes if k not in keep]
        for k in gone:
            del self.quotes[k]
        if gone:
            self.added = True

    def take_dirty(self) -> set[str]:
        dirty, self.dirty = self.dirty, set()
        return dirty


@dataclass
class FeedsModel:
    """Feed state per exchange, from ``feeds.list`` and ``feed_status`` events (each
    carries the feed's whole state, so the newest replaces what was there)."""

    feeds: dict[str, FeedStatus] = field(default_factory=dict)
    version: int = 0

    def replace(self, feeds: Iterable[FeedStatus]) -> None:
        self.feeds = {f.exchange: f for f in feeds if f.exchange}
        self.version += 1

    def apply(self, feed: FeedStatus) -> None:
        self.feeds[feed.exchange] = feed
        self.version += 1


@dataclass
class SystemModel:
    """The daemon's ``status`` document, with lifecycle events folded in."""

    status: Status | None = None
    fetched_at: float = 0.0
    hello: Hello | None = None
    version: int = 0
    logs: deque[LogRecord] = field(default_factory=lambda: deque(maxlen=200))
    logs_total: int = 0

    def add_log(self, record: LogRecord) -> None:
        self.logs.append(record)
        self.logs_total += 1

    def replace(self, status: Status, now: float) -> None:
        self.status = status
        self.fetched_at = now
        self.version += 1

    def apply_lifecycle(self, event: ActorEvent) -> None:
        if self.status is None:
            self.status = Status()
        actors = self.status.actors
        for actor in actors:
            if actor.name == event.actor:
                actor.state = event.state
                actor.restarts = event.restarts
                if event.error:
                    actor.last_error = event.error
                break
        else:
            actors.append(
                ActorRow(
                    name=event.actor,
                    state=event.state,
                    restarts=event.restarts,
                    last_error=event.error,
                )
            )
        self.version += 1

    @property
    def daemon_version(self) -> str | None:
        """The daemon's version, from its hello or its status document."""
        return (self.hello.version if self.hello else None) or (
            self.status.version if self.status else None
        )

    def uptime(self, now: float) -> float | None:
        up = _float(self.status.uptime) if self.status else None
        if up is None:
            return None
        return up + max(0.0, now - self.fetched_at)


@dataclass
class HealthModel:
    """The health monitor's newest report and the transitions seen so far.

    Filled from the ``health`` command's document on connect and from every
    ``health`` report after that (each report carries the newest transitions; they
    are merged, so the history grows past what one report holds)."""

    status: str | None = None
    summary: str = ""
    ts: float = 0.0
    checks: list[HealthCheck] = field(default_factory=list)
    transitions: list[HealthTransition] = field(default_factory=list)
    version: int = 0
    keep: int = 200

    def apply(self, report: HealthReport) -> None:
        """A report (bus event) or the ``health`` document decoded as one."""
        self.status = report.status
        self.summary = report.summary
        self.ts = report.ts
        self.checks = list(report.checks)
        seen = {(t.check, t.ts) for t in self.transitions}
        for t in report.transitions:
            if (t.check, t.ts) not in seen:
                self.transitions.append(t)
        self.transitions.sort(key=lambda t: t.ts)
        del self.transitions[: -self.keep]
        self.version += 1


@dataclass
class AnalyticsModel:
    """Beta snapshots per (timeframe, window), correlation, regime and sentiment."""

    beta: dict[tuple[str, str], BetaSnapshot] = field(default_factory=dict)
    correlation: CorrelationSnapshot | None = None
    regime: RegimeSnapshot | None = None
    sentiment: SentimentSnapshot | None = None
    version: int = 0
    # the exchange the daemon's default answer is about: snapshots of other exchanges
    # (a perpetuals feed publishes its own) do not overwrite its tables
    exchange: str | None = None

    def apply_answer(self, answer: BetaAnswer) -> None:
        """The ``beta`` command's answer: its exchange is the daemon's default."""
        if answer.snapshot.exchange is not None:
            self.exchange = answer.snapshot.exchange
        self.apply(answer.snapshot)

    def apply(self, snap: Message) -> None:
        """An analytics snapshot (event or decoded answer); other messages are ignored,
        and so are snapshots of an exchange other than the default one."""
        exchange = getattr(snap, "exchange", None)
        if exchange is not None and self.exchange is not None and exchange != self.exchange:
            return
        match snap:
            case BetaSnapshot():
                self.beta[(snap.timeframe, snap.window)] = snap
            case CorrelationSnapshot():
                self.correlation = snap
            case SentimentSnapshot():
                self.sentiment = snap
            case RegimeSnapshot():
                self.regime = snap
            case _:
                return
        self.version += 1

    def windows(self) -> list[tuple[str, str]]:
        return sorted(self.beta, key=lambda tw: (_tf_seconds(tw[0]), _tf_seconds(tw[1])))


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}


def _tf_seconds(tf: str) -> float:
    try:
        return float(tf[:-1]) * _UNITS[tf[-1]]
    except (KeyError, ValueError, IndexError):
        return math.inf


ALERTS_KEPT = 500  # newest alerts kept for the Alerts screen


@dataclass
class AlertsModel:
    """Alerts by id, from the ``alerts.list`` snapshot and ``alerts`` events."""

    alerts: dict[str, Alert] = field(default_factory=dict)
    version: int = 0

    def replace(self, items: Iterable[Alert]) -> None:
        self.alerts = {a.id: a for a in items if a.id}
        self.version += 1

    def apply(self, alert: Alert) -> None:
        self.alerts[alert.id] = alert
        if len(self.alerts) > ALERTS_KEPT:
            for old in self.ordered()[ALERTS_KEPT:]:
                self.alerts.pop(old.id, None)
        self.version += 1

    def ordered(self) -> list[Alert]:
        """Newest change first."""
        return sorted(self.alerts.values(), key=lambda a: -a.ts)

    def badge(self) -> tuple[int, int]:
        """(firing and not acknowledged, of which critical): the badge every screen shows."""
        open_ = [
            a
            for a in self.alerts.values()
            if a.status == "firing" and not a.acked_ts and not a.muted
        ]
        return len(open_), sum(1 for a in open_ if a.severity == "critical")
