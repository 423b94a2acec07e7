"""Per-client subscriptions: bus topic -> socket, each with its own bounded queue.

Every (client, topic) pair is one lossy bus subscription, whatever the topic's kind on
the bus: a client that stops reading fills its own queue and then loses events
(counted by the bus under ``control#<client>``, and told to the client with a
``_dropped`` event before its next delivery) while the feeds, the supervisor and every
other client carry on. Even lossless topics (alerts, lifecycle) are lossy *here*: a
socket client must never apply backpressure to the daemon.

A pump task per subscription drains whatever is queued in one go and writes it as one
batch, which is what lets one client take tens of thousands of events a second. With
``throttle_ms`` a topic that has a conflation key (tickers: exchange and symbol) is
instead collected into "newest per key" and flushed once per interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
import msgspec

from virtuoso_daemon.control.registry import Args, CommandFailed
from virtuoso_daemon.core.bus import Subscription, Topics
from virtuoso_daemon.protocol import (
    DROPPED_TOPIC,
    Dropped,
    ErrorCode,
    Event,
    encode_frame_into,
)

if TYPE_CHECKING:
    from virtuoso_daemon.control.session import Session
    from virtuoso_daemon.core.runtime import Runtime

log = logging.getLogger("virtuoso.control")

BATCH = 512  # events per write at most; bounds the size of one write


@dataclass(frozen=True)
class TopicSpec:
    """A subscribable topic: its bus topic and, if conflatable, its conflation key."""

    name: str
    bus_topic: str
    key: Callable[[Any], Hashable] | None = None
    help: str = ""
    # the newest value per key right now, sent first on subscribe: a topic that changes
    # once a minute (funding) is not blank for a minute after a client attaches
    current: Callable[[Runtime], Sequence[Any]] | None = None


TOPICS: dict[str, TopicSpec] = {}


def register_topic(
    name: str,
    bus_topic: str | None = None,
    *,
    key: Callable[[Any], Hashable] | None = None,
    help: str = "",
    current: Callable[[Runtime], Sequence[Any]] | None = None,
) -> TopicSpec:
    """Make a bus topic subscribable over the socket (later actors add theirs here)."""
    if name.startswith("_"):
        raise ValueError("topics starting with '_' belong to the protocol")
    name = str.__str__(name)  # a Topic is a str subclass; frames carry the exact str
    spec = TopicSpec(name, bus_topic or name, key, help, current)
    TOPICS[name] = spec
    return spec


def _by(*attrs: str) -> Callable[[Any], Hashable]:
    def key(msg: Any) -> Hashable:
        return (type(msg).__name__, *(getattr(msg, a, None) for a in attrs))

    return key


register_topic(Topics.TICKERS, key=_by("exchange", "symbol"), help="price updates")
register_topic(Topics.CANDLES, key=_by("exchange", "symbol", "timeframe"), help="OHLCV candles")
register_topic(
    Topics.CANDLE_HISTORY,
    key=_by("exchange", "symbol", "timeframe"),
    help="pages of candle history (backfill, catch-up)",
)
register_topic(Topics.TRADES, help="public trades")
register_topic(Topics.ORDERBOOK, key=_by("exchange", "symbol"), help="order book tops")


def _view_list(key: str) -> Callable[[Runtime], Sequence[Any]]:
    def current(rt: Runtime) -> Sequence[Any]:
        value = rt.views.value(key)
        if isinstance(value, dict):
            return list(value.values())
        return value if isinstance(value, list) else []

    return current


register_topic(
    Topics.FUNDING,
    key=_by("exchange", "symbol"),
    help="perpetual funding (the current rates first)",
    current=_view_list("market.funding"),
)
register_topic(
    Topics.OPEN_INTEREST,
    key=_by("exchange", "symbol"),
    help="open interest (the current values first)",
    current=_view_list("market.open_interest"),
)
register_topic(
    Topics.FEED_STATUS,
    key=_by("exchange", "market"),
    help="feed state (the current state first)",
    current=_view_list("feeds.status"),
)
register_topic(Topics.BETA, key=_by("timeframe", "window"), help="beta snapshots")
register_topic(Topics.CORRELATION, key=_by("timeframe", "window"), help="correlation matrices")
register_topic(Topics.SENTIMENT, key=_by(), help="sentiment and regime")
register_topic(Topics.HEALTH, key=_by(), help="health reports")
register_topic(Topics.ALERTS, help="alerts")
register_topic(Topics.CONDITIONS, help="detector readings (before the alert manager)")
register_topic(Topics.BACKUPS, help="backup events")
register_topic(Topics.LIFECYCLE, help="actor state changes")
register_topic(Topics.CONFIG, help="config reloads")
register_topic(Topics.LOGS, help="the daemon's log records")

LevelName = Literal["debug", "info", "warning", "error", "critical"]


class SubscribeArgs(Args, frozen=True):
    topics: Annotated[list[str], msgspec.Meta(min_length=1)]
    throttle_ms: Annotated[int, msgspec.Meta(ge=10, le=60_000)] | None = None
    exchange: str | None = None
    symbols: list[str] | None = None
    timeframes: list[str] | None = None
    level: LevelName | None = None  # logs: the lowest level to send
    queue: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None  # events buffered


class UnsubscribeArgs(Args, frozen=True):
    topics: list[str] = []  # empty: every topic


def _make_filter(args: SubscribeArgs) -> Callable[[Any], bool] | None:
    """A predicate over messages; fields a message does not have do not filter it out."""
    checks: list[Callable[[Any], bool]] = []
    if args.exchange is not None:
        exchange = args.exchange
        checks.append(lambda m: getattr(m, "exchange", exchange) == exchange)
    if args.symbols:
        symbols = frozenset(args.symbols)
        checks.append(lambda m: not hasattr(m, "symbol") or m.symbol in symbols)
    if args.timeframes:
        tfs = frozenset(args.timeframes)
        checks.append(lambda m: not hasattr(m, "timeframe") or m.timeframe in tfs)
    if args.level is not None:
        floor = logging.getLevelName(args.level.upper())
        checks.append(
            lambda m: logging.getLevelName(str(getattr(m, "level", "critical")).upper()) >= floor
        )
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda m: all(check(m) for check in checks)


@dataclass(eq=False)
class _Active:
    spec: TopicSpec
    sub: Subscription[Any]
    accept: Callable[[Any], bool] | None
    throttle: float | None
    queue: int  # the bus queue's size (counted against control.session_queue)
    initial: list[Any] = field(default_factory=list)  # sent before anything from the bus
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    reported: int = 0


class Subscriptions:
    """One client's subscriptions, their pump tasks, and their drop accounting."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.bus = session.server.runtime.bus
        self.active: dict[str, _Active] = {}
        self.closed_drops = 0  # drops of subscriptions already closed

    @property
    def name(self) -> str:
        return f"control#{self.session.id}"

    def dropped(self) -> int:
        return self.closed_drops + sum(a.sub.dropped for a in self.active.values())

    def add(self, args: SubscribeArgs) -> dict[str, Any]:
        unknown = [t for t in args.topics if t not in TOPICS]
        if unknown:
            raise CommandFailed(
                ErrorCode.BAD_ARGS,
                f"unknown topic(s) {', '.join(unknown)}; topics: {', '.join(sorted(TOPICS))}",
            )
        specs = [TOPICS[t] for t in dict.fromkeys(args.topics)]
        if args.throttle_ms is not None:
            flat = [s.name for s in specs if s.key is None]
            if flat:
                raise CommandFailed(
                    ErrorCode.BAD_ARGS,
                    f"throttle_ms needs a topic with a key to conflate on; subscribe to "
                    f"{', '.join(flat)} in a separate request without it",
                )
        accept = _make_filter(args)
        size = self._queue_size(args.queue or self.bus.lossy_queue, specs)
        throttle = None if args.throttle_ms is None else args.throttle_ms / 1000
        for spec in specs:
            self._close(spec.name)
            sub = self.bus.subscribe(spec.bus_topic, name=self.name, maxsize=size, lossy=True)
            initial = list(spec.current(self.session.server.runtime)) if spec.current else []
            active = self.active[spec.name] = _Active(spec, sub, accept, throttle, size, initial)
            pump = self._pump if throttle is None else self._conflate
            self.session.spawn(pump, active)
        return {
            "subscribed": [s.name for s in specs],
            "throttle_ms": args.throttle_ms,
            "queue": size,
            "active": sorted(self.active),
        }

    def _queue_size(self, asked: int, specs: list[TopicSpec]) -> int:
        """What each new subscription may queue: ``asked``, or its share of what is left
        of ``control.session_queue`` (a topic subscribed again gives its queue back)."""
        budget = self.session.limits.session_queue
        again = {s.name for s in specs}
        held = sum(a.queue for name, a in self.active.items() if name not in again)
        size = min(asked, (budget - held) // len(specs))
        if size < 1:
            raise CommandFailed(
                ErrorCode.BAD_ARGS,
                f"control.session_queue ({budget} events) is held by this client's other "
                f"subscriptions ({held}); unsubscribe some or ask for fewer topics",
            )
        return size

    def remove(self, topics: list[str]) -> dict[str, Any]:
        names = list(self.active) if not topics else [t for t in topics if t in self.active]
        for name in names:
            self._close(name)
        return {"unsubscribed": names, "active": sorted(self.active)}

    def close_all(self) -> None:
        for name in list(self.active):
            self._close(name)

    def _close(self, name: str) -> None:
        active = self.active.pop(name, None)
        if active is not None:
            active.scope.cancel()
            active.sub.close()
            self.closed_drops += active.sub.dropped

    # -- pumps --------------------------------------------------------------------------

    async def _pump(self, active: _Active) -> None:
        sub = active.sub
        with active.scope:
            try:
                if active.initial:
                    await self._emit(active, active.initial, filtered=False)
                while True:
                    batch = [await sub.receive()]
                    # take what is already queued without waiting: one write for all of it
                    while len(batch) < BATCH:
                        try:
                            batch.append(sub.receive_nowait())
                        except anyio.WouldBlock:
                            break
                    await self._emit(active, batch, filtered=False)
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return

    async def _conflate(self, active: _Active) -> None:
        key = active.spec.key
        accept = active.accept
        assert key is not None and active.throttle is not None
        # the current values go out with the first flush, unless newer ones replace them
        latest: dict[Hashable, Any] = {
            key(m): m for m in active.initial if accept is None or accept(m)
        }

        async def collect() -> None:
            sub = active.sub
            try:
                while True:
                    batch = [await sub.receive()]
                    while len(batch) < BATCH:  # drain without a loop iteration per item
                        try:
                            batch.append(sub.receive_nowait())
                        except anyio.WouldBlock:
                            break
                    for msg in batch:
                        if accept is None or accept(msg):
                            latest[key(msg)] = msg
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return

        with active.scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(collect)
                next_at = anyio.current_time() - active.throttle  # first flush at once
                while True:
                    next_at = max(next_at + active.throttle, anyio.current_time())
                    await anyio.sleep_until(next_at)
                    if latest or active.sub.dropped > active.reported:
                        batch = list(latest.values())
                        latest.clear()
                        await self._emit(active, batch, filtered=True)

    async def _emit(self, active: _Active, batch: list[Any], *, filtered: bool) -> None:
        buf = bytearray()
        dropped, reported = active.sub.dropped, active.reported
        if dropped > active.reported:
            data = Dropped(topic=active.spec.name, count=dropped - active.reported, total=dropped)
            encode_frame_into(Event(topic=DROPPED_TOPIC, data=data), buf)
            active.reported = dropped
        accept = None if filtered else active.accept
        name = active.spec.name
        sent = 0
        for msg in batch:
            if accept is None or accept(msg):
                mark = len(buf)
                try:
                    encode_frame_into(Event(topic=name, data=msg), buf)
                except (TypeError, ValueError) as exc:  # a producer published a non-message
                    del buf[mark:]
                    log.warning("cannot send a %s event (%s); skipped", name, exc)
                    continue
                sent += 1
        if buf:
            # waits for the client only briefly: past its byte budget the batch is
            # dropped, so one that does not read holds neither this pump nor the bus queue
            if await self.session.send_event(bytes(buf)):
                self.session.events_sent += sent
            else:
                active.sub.shed(sent)
                active.reported = reported  # the notice went with it: told next time
