"""The live loop: connect, load snapshots, follow subscriptions, reconnect with backoff.

It runs in a Textual worker (see :meth:`tui.app.VirtuosoApp.on_mount`) and is the only
code that reads from the daemon continuously. It never touches widgets: tickers go into
a :class:`~tui.model.Conflator` (a newer ticker replaces a queued older one; the app
drains it once per frame, so however fast tickers come, each symbol costs the UI at
most one update per frame), everything else is posted as a
:class:`~tui.events.LiveData` message (feed state, actors, analytics, logs: a few per
second). When the daemon goes away the loop says so
(:class:`~tui.events.LinkChanged`), waits with exponential backoff and jitter, and
attaches again by itself; the screens keep their last data (greyed) meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from textual.message import Message

from virtuoso_daemon.core.messages import Ticker
from virtuoso_daemon.protocol import Hello

from . import answers
from .client import ClientError, DaemonClient, Disconnected
from .events import LinkChanged, LiveData, Unavailable
from .model import Conflator

# Keyed topics the daemon can conflate per key (tickers per symbol ...): one throttled
# subscription. Unkeyed ones (lifecycle) go unthrottled; logs with a level floor.
THROTTLED_TOPICS = ("tickers", "funding", "feed_status", "beta", "correlation", "sentiment")
PLAIN_TOPICS = ("lifecycle", "alerts", "health")
LOG_LEVEL = "info"
DEFAULT_TOPICS = (*THROTTLED_TOPICS, *PLAIN_TOPICS, "logs")


class Snapshot(NamedTuple):
    """A request made on every (re)connect; its answer, decoded into structs by
    ``decode``, is posted as ``topic``."""

    cmd: str
    args: dict[str, Any]
    topic: str
    decode: Callable[[Any], Any]


SNAPSHOTS: tuple[Snapshot, ...] = (
    Snapshot("status", {}, "snapshot.status", answers.status),
    Snapshot("feeds.list", {}, "snapshot.feeds", answers.feeds),
    Snapshot("tickers", {}, "snapshot.tickers", answers.tickers),
    Snapshot("beta", {}, "snapshot.beta", answers.beta),
    Snapshot("correlation", {}, "snapshot.correlation", answers.correlation),
    Snapshot("alerts.list", {"limit": 200}, "snapshot.alerts", answers.alerts),
    Snapshot("health", {"transitions": 200}, "snapshot.health", answers.health),
)
DECODERS = {s.topic: s.decode for s in SNAPSHOTS}

# Re-read every ``status_interval`` (uptime, actors, bus drops, feed latency).
POLLED = (("status", "snapshot.status"), ("feeds.list", "snapshot.feeds"))


class Backoff:
    """Exponential reconnect delays with jitter: 0.25 s doubling up to ``cap``, +-20 %."""

    def __init__(self, initial: float = 0.25, cap: float = 5.0, jitter: float = 0.2) -> None:
        self.initial = initial
        self.cap = cap
        self.jitter = jitter

    def delay(self, attempt: int) -> float:
        base = min(self.cap, self.initial * 2 ** max(0, attempt - 1))
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)  # jitter, not crypto


class LiveLink:
    """Owns the reading side of one client for the lifetime of the app."""

    def __init__(
        self,
        client: DaemonClient,
        post: Callable[[Message], object],
        conflator: Conflator,
        *,
        topics: Sequence[str] = DEFAULT_TOPICS,
        throttle_ms: int | None = 200,
        status_interval: float = 2.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = client
        self.post = post
        self.conflator = conflator
        self.topics = tuple(topics)
        self.throttle_ms = throttle_ms
        self.status_interval = status_interval
        self.backoff = backoff or Backoff()
        self.connected = False
        self.hello: Hello | None = None
        self.events = 0
        self.detail: tuple[str, str] | None = None  # (exchange, symbol) watched in detail
        self._wake = asyncio.Event()

    def retry_now(self) -> None:
        """Cut the current backoff short (the operator pressed reconnect)."""
        self._wake.set()

    def serves(self, cmd: str) -> bool:
        """Whether the daemon said it has ``cmd`` (assume yes if it did not say)."""
        commands = self.hello.commands if self.hello else None
        return not commands or cmd in commands

    def offers(self, topic: str) -> bool:
        return topic in self.topics and self.offers_detail(topic)

    async def run(self) -> None:
        failures = 0
        while True:
            self.post(LinkChanged("connecting", self.client.address, attempt=failures))
            reason = ""
            try:
                self.hello = await self.client.connect()
                failures = 0
                self.connected = True
                self.post(LinkChanged("connected", self.client.address, hello=self.hello))
                await self._session()
            except Disconnected as exc:
                reason = exc.message
            except ClientError as exc:  # the daemon refused a subscription
                reason = f"{exc.code}: {exc.message}"
            finally:
                self.connected = False
                with contextlib.suppress(Exception):
                    await self.client.close()
            failures += 1
            delay = self.backoff.delay(failures)
            self.post(LinkChanged("disconnected", reason, retry_in=delay, attempt=failures))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _session(self) -> None:
        """One connection's life: subscribe, then snapshots and polling beside the pump."""
        await self._subscribe()
        poller = asyncio.create_task(self._poll(), name="virtuoso-tui-poll")
        try:
            await self._pump()
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await poller

    async def _subscribe(self) -> None:
        keyed = [t for t in THROTTLED_TOPICS if self.offers(t)]
        if keyed:
            await self.client.subscribe(keyed, throttle_ms=self.throttle_ms)
        plain = [t for t in PLAIN_TOPICS if self.offers(t)]
        if plain:
            await self.client.subscribe(plain)
        if self.offers("logs"):
            await self.client.subscribe(["logs"], level=LOG_LEVEL)
        if self.detail is not None:
            await self.watch(*self.detail)

    async def watch(self, exchange: str, symbol: str) -> None:
        """Follow one symbol's order book and trades (the market detail panel)."""
        self.detail = (exchange, symbol)
        if not self.connected:
            return
        filters: dict[str, Any] = {"exchange": exchange, "symbols": [symbol]}
        if self.offers_detail("orderbook"):
            await self.client.subscribe(["orderbook"], throttle_ms=250, **filters)
        if self.offers_detail("trades"):
            await self.client.subscribe(["trades"], **filters)

    def offers_detail(self, topic: str) -> bool:
        topics = self.hello.topics if self.hello else None
        return not topics or topic in topics

    async def _pump(self) -> None:
        conflator, post = self.conflator, self.post
        async for event in self.client.events():
            self.events += 1
            data = event.data
            if type(data) is Ticker:
                # no message per ticker: the app drains the conflator once per frame
                conflator.put((data.exchange, data.symbol), data)
            else:
                post(LiveData(event.topic, data))
        raise Disconnected("the daemon ended the event stream")

    async def _poll(self) -> None:
        for cmd, args, topic, _ in SNAPSHOTS:
            result = await self._load(cmd, args, topic)
            if cmd == "beta":
                await self._load_windows(result)
        polled = [(c, t) for c, t in POLLED if self.serves(c)]
        while polled:
            await asyncio.sleep(self.status_interval)
            for cmd, topic in polled:
                await self._load(cmd, {}, topic)

    async def _load_windows(self, first: Any) -> None:
        """Every other configured timeframe x window (the ``beta`` answer lists them), so
        the Beta screen's ``t``/``w`` have them now, not at their next recompute."""
        if not isinstance(first, answers.BetaAnswer):
            return
        have = (first.snapshot.timeframe, first.snapshot.window)
        for tf, labels in first.windows.items():
            for window in labels:
                if (tf, window) != have:
                    args = {"timeframe": tf, "window": window}
                    await self._load("beta", args, "snapshot.beta", quiet=True)

    async def _load(
        self, cmd: str, args: dict[str, Any], topic: str, *, quiet: bool = False
    ) -> Any:
        """One request, its answer decoded and posted as ``topic`` (and returned);
        ``quiet``: a refusal (a window not computed yet) is not reported as the command
        being unavailable."""
        if not self.serves(cmd):
            message = f"the daemon does not serve {cmd!r} yet"
            self.post(LiveData("unavailable", Unavailable(cmd, message)))
            return None
        try:
            result = await self.client.request(cmd, args)
        except Disconnected:
            raise
        except ClientError as exc:
            if not quiet:
                self.post(LiveData("unavailable", Unavailable(cmd, exc.message)))
            return None
        decoded = answer_message(topic, result)
        self.post(decoded)
        return decoded.data


def answer_message(topic: str, result: Any) -> LiveData:
    """A command's answer as the message the app routes: decoded into structs by its
    snapshot's decoder (None when it does not fit, which no handler takes)."""
    decode = DECODERS.get(topic)
    return LiveData(topic, decode(result) if decode is not None else result)
