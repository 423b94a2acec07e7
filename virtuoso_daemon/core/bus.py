"""In-process publish/subscribe over anyio memory object streams.

Two kinds of topic:

* **lossy** (market data, snapshots): :meth:`Bus.publish` never blocks. A subscriber
  whose queue is full loses the message and the loss is counted per subscriber and
  topic, so a slow TUI can never stall an exchange feed.
* **lossless** (commands, alerts, lifecycle): :meth:`Bus.publish` waits until every
  subscriber has room: backpressure instead of loss.

Subscribing and unsubscribing are safe at any time, including while a publish is in
progress (publishers iterate over a snapshot of the subscriber list).

A **tap** (:meth:`Bus.tap`) is a synchronous subscriber: a plain function the
publisher calls inline, before any queue gets the message. It is for the owner of a
"newest value" table whose per-message work is a few dict writes (the ticker cache):
the value is visible the moment it is published, with no task switch per message,
which is what keeps push-to-API latency flat during a burst. A tap must not block or
await; an exception in it is logged and counted (``tap_errors``) and never reaches
the publisher.

Requests that need an answer (``feeds.pause``, ``symbols.add`` ...) go to the owning
actor with :meth:`Bus.request`, which publishes a :class:`Request` on a lossless
topic and waits (under a timeout) for the actor to call :meth:`Request.reply`.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, overload

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from virtuoso_daemon.core.messages import (
    ActorEvent,
    Alert,
    BackupEvent,
    BetaSnapshot,
    Candle,
    CandleBatch,
    Condition,
    ConfigReloaded,
    CorrelationSnapshot,
    FeedStatus,
    Funding,
    HealthReport,
    LogRecord,
    OpenInterest,
    OrderBookTop,
    RegimeSnapshot,
    SentimentSnapshot,
    Ticker,
    Trade,
)
from virtuoso_daemon.core.requests import command_name

T = TypeVar("T")

log = logging.getLogger("virtuoso.bus")


class Topic(str, Generic[T]):
    """A topic: its name (it *is* the name, so dict keys and the control socket's
    strings match it), the type of message it carries, and whether it is lossy.

    ``bus.subscribe(Topics.TICKERS)`` is a ``Subscription[Ticker]`` and
    ``bus.publish(Topics.TICKERS, x)`` type-checks ``x``; plain strings (per-actor
    request topics such as ``feed_commands:<name>``) still work, untyped and lossless.
    Every Topic is registered by name, so a name from the socket finds its kind.
    """

    name: str
    message_type: Any
    lossy: bool
    _registry: ClassVar[dict[str, Topic[Any]]] = {}

    def __new__(cls, name: str, message_type: Any, *, lossy: bool) -> Topic[T]:
        topic = super().__new__(cls, name)
        # the plain str the bus keys on and messages carry (msgspec encodes only exact
        # str, so a Topic never leaves the bus: subscriptions, counters use this)
        topic.name = name
        topic.message_type = message_type
        topic.lossy = lossy
        cls._registry[name] = topic
        return topic

    @classmethod
    def named(cls, name: str) -> Topic[Any] | None:
        """The registered topic called ``name`` (None for ad-hoc request topics)."""
        return cls._registry.get(name)

    def __repr__(self) -> str:
        kind = "lossy" if self.lossy else "lossless"
        carries = getattr(self.message_type, "__name__", self.message_type)
        return f"Topic({str.__repr__(self)}, {carries}, {kind})"


class RequestError(Exception):
    """The owning actor refused or failed a request; the message is for the caller."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(eq=False)
class Request:
    """A message that expects one reply from the actor that owns the topic.

    ``body`` is the typed request (a tagged struct of the owner's request union, see
    :mod:`.requests`); the owner dispatches with ``match req.body``."""

    body: Any
    _done: anyio.Event = field(default_factory=anyio.Event)
    _result: Any = None
    _error: RequestError | None = None

    @property
    def command(self) -> str:
        """The request's command name (its tag), for logs and error messages."""
        return command_name(self.body)

    def reply(self, result: Any = None) -> None:
        if not self._done.is_set():
            self._result = result
            self._done.set()

    def fail(self, code: str, message: str) -> None:
        if not self._done.is_set():
            self._error = RequestError(code, message)
            self._done.set()

    async def wait(self) -> Any:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result


def _plain(topic: str) -> str:
    """The exact-str name of ``topic`` (a Topic or a plain name)."""
    return topic.name if type(topic) is Topic else topic


class Topics:
    """Every topic of the daemon, with its message type and kind.

    Lossy (market data, snapshots): a slow subscriber loses messages, counted.
    Lossless (history, commands, conditions, alerts, lifecycle): publishers wait.
    """

    TICKERS: Topic[Ticker] = Topic("tickers", Ticker, lossy=True)
    CANDLES: Topic[Candle] = Topic("candles", Candle, lossy=True)
    # history pages (backfill, catch-up): lossless, so a slow store slows the backfill
    # down instead of losing history, and a queue holds a few pages, not thousands
    CANDLE_HISTORY: Topic[CandleBatch] = Topic("candle_history", CandleBatch, lossy=False)
    TRADES: Topic[Trade] = Topic("trades", Trade, lossy=True)
    ORDERBOOK: Topic[OrderBookTop] = Topic("orderbook", OrderBookTop, lossy=True)
    FUNDING: Topic[Funding] = Topic("funding", Funding, lossy=True)
    OPEN_INTEREST: Topic[OpenInterest] = Topic("open_interest", OpenInterest, lossy=True)
    FEED_STATUS: Topic[FeedStatus] = Topic("feed_status", FeedStatus, lossy=True)
    BETA: Topic[BetaSnapshot] = Topic("beta", BetaSnapshot, lossy=True)
    CORRELATION: Topic[CorrelationSnapshot] = Topic("correlation", CorrelationSnapshot, lossy=True)
    SENTIMENT: Topic[SentimentSnapshot | RegimeSnapshot] = Topic(
        "sentiment", SentimentSnapshot | RegimeSnapshot, lossy=True
    )
    HEALTH: Topic[HealthReport] = Topic("health", HealthReport, lossy=True)
    LOGS: Topic[LogRecord] = Topic("logs", LogRecord, lossy=True)
    # detectors and the health monitor -> the alert manager (lossless: never drop a
    # condition change); the alert manager publishes what it fires on ALERTS
    CONDITIONS: Topic[Condition] = Topic("conditions", Condition, lossy=False)
    ALERTS: Topic[Alert] = Topic("alerts", Alert, lossy=False)
    BACKUPS: Topic[BackupEvent] = Topic("backups", BackupEvent, lossy=False)
    LIFECYCLE: Topic[ActorEvent] = Topic("lifecycle", ActorEvent, lossy=False)
    CONFIG: Topic[ConfigReloaded] = Topic("config", ConfigReloaded, lossy=False)
    # request topics, one per owning actor
    FEED_COMMANDS: Topic[Request] = Topic("feed_commands", Request, lossy=False)
    STORE_QUERIES: Topic[Request] = Topic("store_queries", Request, lossy=False)
    BACKUP_COMMANDS: Topic[Request] = Topic("backup_commands", Request, lossy=False)
    ALERT_COMMANDS: Topic[Request] = Topic("alert_commands", Request, lossy=False)
    CACHE_COMMANDS: Topic[Request] = Topic("cache_commands", Request, lossy=False)


#: names of the lossy topics (derived from the Topic objects; kept for readers of names)
LOSSY_TOPICS = frozenset(name for name, topic in Topic._registry.items() if topic.lossy)


class Subscription(Generic[T]):
    """One subscriber's queue on one topic. Iterate it; close it when done."""

    _ids = itertools.count(1)

    def __init__(self, bus: Bus, topic: str, name: str, maxsize: int, lossy: bool) -> None:
        self.bus = bus
        self.topic = topic
        self.name = name
        self.lossy = lossy
        self.id = next(self._ids)
        self._send: MemoryObjectSendStream[T]
        self._recv: MemoryObjectReceiveStream[T]
        self._send, self._recv = anyio.create_memory_object_stream[T](maxsize)
        self.dropped = 0
        self.closed = False

    def shed(self, n: int) -> None:
        """The consumer dropped ``n`` messages it had taken (its own output was full):
        counted with the queue's drops, so a subscriber's losses are in one place."""
        self.dropped += n
        self.bus._drops[(self.name, self.topic)] += n

    async def receive(self) -> T:
        return await self._recv.receive()

    def receive_nowait(self) -> T:
        return self._recv.receive_nowait()

    def pending(self) -> int:
        return self._recv.statistics().current_buffer_used

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[T]:
        try:
            async for item in self._recv:
                yield item
        except anyio.ClosedResourceError:
            return

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.bus._remove(self)
            self._send.close()
            self._recv.close()

    def __enter__(self) -> Subscription[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Tap:
    """A synchronous subscriber (see the module docstring); close it to detach."""

    def __init__(self, bus: Bus, topic: str, name: str, fn: Callable[[Any], None]) -> None:
        self.bus = bus
        self.topic = topic
        self.name = name
        self.fn = fn
        self.errors = 0
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            taps = self.bus._taps.get(self.topic)
            if taps and self in taps:
                taps.remove(self)

    def __enter__(self) -> Tap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bus:
    """Topic fan-out with per-subscriber queues and per-subscriber drop counters."""

    def __init__(self, lossy_queue: int = 1024, lossless_queue: int = 64) -> None:
        self.lossy_queue = lossy_queue
        self.lossless_queue = lossless_queue
        self._subs: dict[str, list[Subscription[Any]]] = defaultdict(list)
        # drops survive the subscription, so status shows what a gone client lost
        self._drops: dict[tuple[str, str], int] = defaultdict(int)
        self.published: dict[str, int] = defaultdict(int)
        self._taps: dict[str, list[Tap]] = {}
        self.tap_errors: dict[tuple[str, str], int] = defaultdict(int)

    @staticmethod
    def is_lossy(topic: str) -> bool:
        known = topic if isinstance(topic, Topic) else Topic.named(topic)
        return known is not None and known.lossy

    @overload
    def subscribe(
        self,
        topic: Topic[T],
        *,
        name: str = ...,
        maxsize: int | None = ...,
        lossy: bool | None = ...,
    ) -> Subscription[T]: ...
    @overload
    def subscribe(
        self,
        topic: str,
        *,
        name: str = ...,
        maxsize: int | None = ...,
        lossy: bool | None = ...,
    ) -> Subscription[Any]: ...
    def subscribe(
        self,
        topic: str,
        *,
        name: str = "anonymous",
        maxsize: int | None = None,
        lossy: bool | None = None,
    ) -> Subscription[Any]:
        """Subscribe to ``topic``. ``lossy``/``maxsize`` default to the topic's kind."""
        is_lossy = self.is_lossy(topic) if lossy is None else lossy
        size = (
            maxsize
            if maxsize is not None
            else (self.lossy_queue if is_lossy else self.lossless_queue)
        )
        if size == math.inf:
            raise ValueError("unbounded subscriptions are not allowed")
        topic = _plain(topic)
        sub: Subscription[Any] = Subscription(self, topic, name, int(size), is_lossy)
        self._subs[topic].append(sub)
        return sub

    def _remove(self, sub: Subscription[Any]) -> None:
        subs = self._subs.get(sub.topic)
        if subs and sub in subs:
            subs.remove(sub)

    def tap(self, topic: str, fn: Callable[[Any], None], *, name: str = "anonymous") -> Tap:
        """Call ``fn(message)`` inline for every message published on ``topic``."""
        topic = _plain(topic)
        tap = Tap(self, topic, name, fn)
        self._taps.setdefault(topic, []).append(tap)
        return tap

    def _run_taps(self, taps: list[Tap], message: Any) -> None:
        for tap in tuple(taps):
            try:
                tap.fn(message)
            except Exception:
                tap.errors += 1
                self.tap_errors[(tap.name, tap.topic)] += 1
                if tap.errors == 1 or tap.errors % 1000 == 0:
                    log.exception(
                        "tap %s on %s failed (%d so far)", tap.name, tap.topic, tap.errors
                    )

    def subscribers(self, topic: str) -> int:
        return len(self._subs.get(_plain(topic), ()))

    def _begin(self, topic: str, message: Any) -> tuple[str, tuple[Subscription[Any], ...]]:
        """What both publish paths do first: count, run the taps, snapshot the subscribers
        (a subscriber may leave while a lossless send waits)."""
        topic = _plain(topic)
        self.published[topic] += 1
        taps = self._taps.get(topic)
        if taps:
            self._run_taps(taps, message)
        return topic, tuple(self._subs.get(topic, ()))

    def _drop(self, sub: Subscription[Any], topic: str) -> None:
        sub.dropped += 1
        self._drops[(sub.name, topic)] += 1

    @overload
    def publish_nowait(self, topic: Topic[T], message: T) -> int: ...
    @overload
    def publish_nowait(self, topic: str, message: Any) -> int: ...
    def publish_nowait(self, topic: str, message: Any) -> int:
        """Deliver to every subscriber with room; count drops. Returns deliveries.

        For lossless subscribers this raises :class:`anyio.WouldBlock` when one is full,
        so callers on lossless topics must use :meth:`publish`.
        """
        topic, subs = self._begin(topic, message)
        delivered = 0
        for sub in subs:
            try:
                sub._send.send_nowait(message)
                delivered += 1
            except anyio.WouldBlock:
                if not sub.lossy:
                    raise
                self._drop(sub, topic)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._remove(sub)
        return delivered

    @overload
    async def publish(self, topic: Topic[T], message: T) -> int: ...
    @overload
    async def publish(self, topic: str, message: Any) -> int: ...
    async def publish(self, topic: str, message: Any) -> int:
        """Publish; waits for room on lossless subscribers (backpressure)."""
        topic, subs = self._begin(topic, message)
        delivered = 0
        for sub in subs:
            try:
                if sub.lossy:
                    try:
                        sub._send.send_nowait(message)
                    except anyio.WouldBlock:
                        self._drop(sub, topic)
                        continue
                else:
                    await sub._send.send(message)
                delivered += 1
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._remove(sub)
        return delivered

    async def request(self, topic: str, body: Any, *, timeout: float = 5.0) -> Any:
        """Send ``body`` (a typed request) to the actor owning ``topic``; wait for its
        reply."""
        req = Request(body)
        with anyio.fail_after(timeout):
            if await self.publish(topic, req) == 0:
                raise RequestError("unavailable", f"no actor is serving {topic!r} right now")
            return await req.wait()

    def drops(self) -> dict[str, dict[str, int]]:
        """Drops so far as ``{subscriber: {topic: count}}``."""
        out: dict[str, dict[str, int]] = defaultdict(dict)
        for (name, topic), n in self._drops.items():
            out[name][topic] = n
        return dict(out)

    def total_drops(self) -> int:
        return sum(self._drops.values())
