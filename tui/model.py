"""What the TUI knows about the daemon: plain data, updated from events, no Textual.

The live loop writes into these objects (through the app's message handlers) and the
screens read them when they render. Keeping them free of widgets means the rendering
rate is the screens' business: an update only marks a row dirty; a timer turns dirty
rows into cell updates a few times a second.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
        self._pending: dict[str, Any] = {}
        self.received = 0
        self.replaced = 0

    def put(self, key: str, item: Any) -> bool:
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
        self.books: dict[str, dict[str, Any]] = {}
        self.trades: dict[str, deque[dict[str, Any]]] = {}
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

    def apply_ticker(self, d: Mapping[str, Any]) -> None:
        exchange, symbol = d.get("exchange"), d.get("symbol")
        if not isinstance(exchange, str) or not isinstance(symbol, str):
            return
        q = self._quote(exchange, symbol, d.get("market"))
        last = _float(d.get("last"))
        q.last = last
        q.change_pct = _float(d.get("change_pct"))
        q.quote_volume = _float(d.get("quote_volume"))
        q.base_volume = _float(d.get("base_volume"))
        q.bid = _float(d.get("bid"))
        q.ask = _float(d.get("ask"))
        q.bid_size = _float(d.get("bid_size"))
        q.ask_size = _float(d.get("ask_size"))
        q.high = _float(d.get("high"))
        q.low = _float(d.get("low"))
        if "funding" in d:  # some daemons fold the funding rate into the ticker view
            q.funding = _float(d.get("funding"))
        recv = _float(d.get("recv_ts")) or 0.0
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

    def apply_funding(self, d: Mapping[str, Any]) -> None:
        exchange, symbol = d.get("exchange"), d.get("symbol")
        if not isinstance(exchange, str) or not isinstance(symbol, str):
            return
        q = self._quote(exchange, symbol, None)
        q.funding = _float(d.get("rate"))
        q.mark_price = _float(d.get("mark_price"))
        self.dirty.add(q.key)

    def apply_book(self, d: Mapping[str, Any]) -> None:
        exchange, symbol = d.get("exchange"), d.get("symbol")
        if isinstance(exchange, str) and isinstance(symbol, str):
            self.books[quote_key(exchange, symbol)] = dict(d)
            self.detail_version += 1

    def apply_trade(self, d: Mapping[str, Any]) -> None:
        exchange, symbol = d.get("exchange"), d.get("symbol")
        if isinstance(exchange, str) and isinstance(symbol, str):
            key = quote_key(exchange, symbol)
            trades = self.trades.get(key)
            if trades is None:
                trades = self.trades[key] = deque(maxlen=TRADES_KEPT)
            trades.append(dict(d))
            self.detail_version += 1

    def apply_paused(self, feeds: Mapping[str, Mapping[str, Any]]) -> None:
        """Mark the quotes of paused feeds and paused symbols (their rows look paused)."""
        for q in self.quotes.values():
            feed = feeds.get(q.exchange) or {}
            paused = feed.get("state") == "paused" or q.symbol in (feed.get("paused_symbols") or ())
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
        book = self.books.get(key) or {}
        bids, asks = book.get("bids") or [], book.get("asks") or []
        if bid is None and bids:
            bid, bid_size = _float(bids[0][0]), _float(bids[0][1])
        if ask is None and asks:
            ask, ask_size = _float(asks[0][0]), _float(asks[0][1])
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
    """Feed state per exchange, from ``feeds.list`` and ``feed_status`` events."""

    feeds: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = 0

    def replace(self, feeds: Iterable[Mapping[str, Any]]) -> None:
        self.feeds = {str(f.get("exchange")): dict(f) for f in feeds if f.get("exchange")}
        self.version += 1

    def apply(self, d: Mapping[str, Any]) -> None:
        name = d.get("exchange")
        if not isinstance(name, str):
            return
        self.feeds[name] = {**self.feeds.get(name, {}), **d}
        self.version += 1


@dataclass
class SystemModel:
    """The daemon's ``status`` document, with lifecycle events folded in."""

    status: dict[str, Any] = field(default_factory=dict)
    fetched_at: float = 0.0
    hello: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    logs: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200))
    logs_total: int = 0

    def add_log(self, record: Mapping[str, Any]) -> None:
        self.logs.append(dict(record))
        self.logs_total += 1

    def replace(self, status: Mapping[str, Any], now: float) -> None:
        self.status = dict(status)
        self.fetched_at = now
        self.version += 1

    def apply_lifecycle(self, d: Mapping[str, Any]) -> None:
        actors = self.status.setdefault("actors", [])
        for actor in actors:
            if actor.get("name") == d.get("actor"):
                actor["state"] = d.get("state")
                actor["restarts"] = d.get("restarts", actor.get("restarts"))
                if d.get("error"):
                    actor["last_error"] = d.get("error")
                break
        else:
            actors.append(
                {
                    "name": d.get("actor"),
                    "state": d.get("state"),
                    "restarts": d.get("restarts", 0),
                    "last_error": d.get("error"),
                }
            )
        self.version += 1

    def uptime(self, now: float) -> float | None:
        up = _float(self.status.get("uptime"))
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
    checks: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0
    keep: int = 200

    def apply(self, d: Mapping[str, Any]) -> None:
        """A report (bus event) or the ``health`` document: same fields."""
        checks = d.get("checks")
        if not isinstance(checks, list):
            return
        self.status = str(d.get("status") or "")
        self.summary = str(d.get("summary") or "")
        self.ts = _float(d.get("ts")) or 0.0
        self.checks = [dict(c) for c in checks if isinstance(c, Mapping)]
        seen = {(t.get("check"), t.get("ts")) for t in self.transitions}
        for t in d.get("transitions") or []:
            if isinstance(t, Mapping) and (t.get("check"), t.get("ts")) not in seen:
                self.transitions.append(dict(t))
        self.transitions.sort(key=lambda t: _float(t.get("ts")) or 0.0)
        del self.transitions[: -self.keep]
        self.version += 1


@dataclass
class AnalyticsModel:
    """Beta snapshots per (timeframe, window), correlation, regime and sentiment."""

    beta: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    correlation: dict[str, Any] | None = None
    regime: dict[str, Any] | None = None
    sentiment: dict[str, Any] | None = None
    unavailable: dict[str, str] = field(default_factory=dict)  # what the daemon lacks
    version: int = 0
    # the exchange the daemon's default answer is about: snapshots of other exchanges
    # (a perpetuals feed publishes its own) do not overwrite its tables
    exchange: str | None = None

    def apply_beta(self, d: Mapping[str, Any]) -> None:
        tag = d.get("type")
        exchange = d.get("exchange")
        if isinstance(exchange, str):
            if "windows" in d:  # the beta command's answer: its default exchange
                self.exchange = exchange
            elif self.exchange is not None and exchange != self.exchange:
                return
        if tag == "CorrelationSnapshot" or ("matrix" in d and "symbols" in d):
            self.correlation = dict(d)
            if "input" in d:  # the query's answer: symbols and matrix already in display order
                self.correlation["order"] = list(range(len(d["symbols"])))
        elif tag == "SentimentSnapshot" or ("components" in d and "score" in d):
            self.sentiment = dict(d)
        elif tag == "RegimeSnapshot" or ("rule" in d and "label" in d):
            self.regime = dict(d)
        elif "rows" in d and "timeframe" in d and "window" in d:
            self.beta[(str(d["timeframe"]), str(d["window"]))] = dict(d)
        else:
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

    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = 0

    def replace(self, items: Iterable[Mapping[str, Any]]) -> None:
        self.alerts = {str(a["id"]): dict(a) for a in items if a.get("id")}
        self.version += 1

    def apply(self, d: Mapping[str, Any]) -> None:
        alert_id = d.get("id")
        if not isinstance(alert_id, str):
            return
        self.alerts[alert_id] = dict(d)
        if len(self.alerts) > ALERTS_KEPT:
            for old in self.ordered()[ALERTS_KEPT:]:
                self.alerts.pop(str(old.get("id")), None)
        self.version += 1

    def ordered(self) -> list[dict[str, Any]]:
        """Newest change first."""
        return sorted(self.alerts.values(), key=lambda a: -(_float(a.get("ts")) or 0.0))

    def badge(self) -> tuple[int, int]:
        """(firing and not acknowledged, of which critical): the badge every screen shows."""
        open_ = [
            a
            for a in self.alerts.values()
            if a.get("status") == "firing" and not a.get("acked_ts") and not a.get("muted")
        ]
        return len(open_), sum(1 for a in open_ if a.get("severity") == "critical")
