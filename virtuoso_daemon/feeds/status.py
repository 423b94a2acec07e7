"""What one feed knows about its own health, and the rule that turns it into a state.

The data loops report into :class:`FeedHealth` (cheaply: the success path is two
attribute writes per batch); the actor's status loop turns it into a
:class:`~virtuoso_daemon.core.messages.FeedStatus` a few times a second and publishes it
when something an operator would notice changed, and at least every
:data:`HEARTBEAT` seconds.

State rule (documented here because the API and TUI show it):

* ``paused``: an operator paused the whole exchange.
* ``starting``: nothing received yet and nothing failed yet.
* ``down``: every data kind is failing, or nothing at all arrived for longer than
  the feed's ``silent_timeout`` (or nothing ever arrived and calls are failing).
* ``degraded``: data flows, but some kind is failing right now, runs on its REST
  fallback although streaming was wanted, or lost data in the last
  :data:`LOSS_HOLD` seconds (trades that overflowed ccxt's cache, say).
* ``connected``: otherwise.
"""

from __future__ import annotations

import time
from collections import Counter

from virtuoso_daemon.core.messages import CandleGap, FeedState, FeedStatus

HEARTBEAT = 2.0  # seconds: a FeedStatus goes out at least this often
#: seconds a loss keeps the feed ``degraded`` after the last one (long enough that an
#: operator or a health check polling every few seconds sees it)
LOSS_HOLD = 60.0


class FeedHealth:
    """Mutable health record of one feed; owned by the feed actor's task tree."""

    def __init__(self, exchange: str, market: str, silent_timeout: float) -> None:
        self.exchange = exchange
        self.market = market
        self.silent_timeout = silent_timeout
        # keys are a data kind, or "kind#i" for the i-th symbol chunk of a kind
        self.modes: dict[str, str] = {}  # key -> "stream" | "rest"
        self.preferred: dict[str, str] = {}  # key -> what it would run if all were well
        self.failing: dict[str, str] = {}  # key -> last error message while failing
        self.errors: Counter[str] = Counter()  # error kind -> count since start
        self.messages: Counter[str] = Counter()  # data kind -> messages published
        self.reconnects = 0
        self.last_message: float | None = None
        self.last_by_kind: dict[str, float] = {}  # data kind -> newest receive time
        self.latency_ms: float | None = None
        self.paused = False
        self.note = ""  # a standing remark (e.g. "loading markets")
        # data kind -> (time of the last loss, what was lost)
        self.losses: dict[str, tuple[float, str]] = {}
        # symbol -> timeframe -> candles its backfill could not get (see backfill)
        self.gaps: dict[str, dict[str, list[CandleGap]]] = {}
        self.unknown_symbols: list[str] = []  # configured, but not listed

    # --- reporting (called from the data loops) --------------------------------------

    def ok(self, key: str, kind: str, recv: float, n: int = 1) -> None:
        """A batch of ``n`` messages of ``kind`` arrived (via ``key``) and was published."""
        self.last_message = recv
        self.last_by_kind[kind] = recv
        self.messages[kind] += n
        if self.failing:
            self.failing.pop(key, None)

    def clear(self, key: str) -> None:
        """``key`` works again (a call succeeded without producing messages)."""
        self.failing.pop(key, None)

    def latency(self, exchange_ts_ms: int, recv: float) -> None:
        """Fold one exchange-timestamp vs receive-time sample into a moving average."""
        sample = recv * 1000.0 - exchange_ts_ms
        if self.latency_ms is None:
            self.latency_ms = sample
        else:
            self.latency_ms += 0.1 * (sample - self.latency_ms)

    def fail(self, key: str, error_kind: str, message: str) -> None:
        self.errors[error_kind] += 1
        self.failing[key] = f"{key}: {error_kind}: {message}"[:300]

    def lost(self, kind: str, reason: str, now: float | None = None) -> None:
        """Data of ``kind`` was lost (counted as ``<kind>_lost``); the feed reports
        ``degraded`` with ``reason`` for :data:`LOSS_HOLD` seconds after the last one."""
        self.errors[f"{kind}_lost"] += 1
        self.losses[kind] = (time.time() if now is None else now, reason[:200])

    def recent_losses(self, now: float) -> list[str]:
        return [
            f"{kind} lost: {reason}"
            for kind, (at, reason) in sorted(self.losses.items())
            if now - at < LOSS_HOLD
        ]

    def set_mode(self, key: str, mode: str, preferred: str) -> None:
        self.modes[key] = mode
        self.preferred[key] = preferred

    def drop(self, key: str) -> None:
        self.modes.pop(key, None)
        self.preferred.pop(key, None)
        self.failing.pop(key, None)

    def kind_modes(self) -> dict[str, str]:
        """Mode per data kind: "rest" as soon as one chunk of it is on REST."""
        out: dict[str, str] = {}
        for key, mode in self.modes.items():
            kind = key.partition("#")[0]
            if out.get(kind) != "rest":
                out[kind] = mode
        return out

    # --- the rule --------------------------------------------------------------------

    def state(self, now: float | None = None) -> FeedState:
        now = time.time() if now is None else now
        if self.paused:
            return "paused"
        if self.last_message is None:
            return "down" if (self.failing or self.errors) else "starting"
        active = set(self.modes)
        if active and active <= set(self.failing):
            return "down"
        if now - self.last_message > self.silent_timeout:
            return "down"
        if (
            self.failing
            or any(self.modes[k] != self.preferred.get(k, self.modes[k]) for k in active)
            or self.recent_losses(now)
        ):
            return "degraded"
        return "connected"

    def detail(self, now: float | None = None) -> str:
        if self.paused:
            return "paused by operator"
        parts = sorted(self.failing.values()) + self.recent_losses(
            time.time() if now is None else now
        )
        if parts:
            return "; ".join(parts)[:600]
        return self.note

    def snapshot(
        self, symbols: list[str], paused_symbols: list[str], timeframes: list[str] | None = None
    ) -> FeedStatus:
        now = time.time()
        return FeedStatus(
            exchange=self.exchange,
            state=self.state(now),
            market=self.market,
            symbols=symbols,
            paused_symbols=paused_symbols,
            modes=self.kind_modes(),
            last_message_ts=self.last_message,
            last_by_kind=dict(self.last_by_kind),
            latency_ms=None if self.latency_ms is None else round(self.latency_ms, 1),
            errors=dict(self.errors),
            detail=self.detail(now),
            gaps={s: dict(by_tf) for s, by_tf in self.gaps.items()},
            unknown_symbols=list(self.unknown_symbols),
            timeframes=list(timeframes or []),
            ts=now,
        )


def significant(s: FeedStatus) -> tuple[object, ...]:
    """The parts of a status whose change is worth an immediate publish."""
    return (
        s.state,
        tuple(sorted(s.modes.items())),
        tuple(sorted(s.errors.items())),
        s.detail,
        tuple(s.symbols),
        tuple(s.paused_symbols),
        tuple(
            (sym, tf, len(g)) for sym, by_tf in sorted(s.gaps.items()) for tf, g in by_tf.items()
        ),
        tuple(s.unknown_symbols),
    )
