"""Every message that travels on the bus, grouped by the actor that produces it.

All messages are frozen, tagged msgspec Structs, so the same objects go over the bus
in-process, into memcached, out of the HTTP API and over the control socket without
conversion. Timestamps: ``ts`` is the exchange's time in epoch milliseconds,
``recv_ts`` the daemon's receive time in epoch seconds (float), which is what latency
is measured against.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class Message(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """Base of all bus messages: frozen and tagged with the class name."""


# --- feeds: market data -------------------------------------------------------------


class Ticker(Message, frozen=True, kw_only=True):
    exchange: str
    symbol: str
    market: str = "spot"
    last: float
    bid: float | None = None
    ask: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    change_pct: float | None = None
    base_volume: float | None = None
    quote_volume: float | None = None
    ts: int
    recv_ts: float


class Candle(Message, frozen=True, kw_only=True):
    exchange: str
    symbol: str
    timeframe: str
    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool
    recv_ts: float


class CandleBatch(Message, frozen=True, kw_only=True):
    """Many candles of one series at once (backfill, REST polling)."""

    exchange: str
    symbol: str
    timeframe: str
    rows: list[tuple[int, float, float, float, float, float]]
    recv_ts: float


class Trade(Message, frozen=True, kw_only=True):
    exchange: str
    symbol: str
    id: str
    price: float
    amount: float
    side: Literal["buy", "sell"] | None
    ts: int
    recv_ts: float


class OrderBookTop(Message, frozen=True, kw_only=True):
    """The best few levels plus depth summaries; full books stay in the feed."""

    exchange: str
    symbol: str
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    bid_depth: float  # base amount within depth_pct of mid
    ask_depth: float
    depth_pct: float
    spread: float | None
    mid: float | None
    ts: int
    recv_ts: float
    # wall candidates from the full book the feed keeps: (price, amount, multiple of
    # the side's median level size), largest first; the signals actor applies its own
    # threshold. *_edge: the farthest price scanned on that side (walls beyond it are
    # not seen)
    bid_walls: list[tuple[float, float, float]] = []
    ask_walls: list[tuple[float, float, float]] = []
    bid_edge: float | None = None
    ask_edge: float | None = None


class Funding(Message, frozen=True, kw_only=True):
    exchange: str
    symbol: str
    rate: float | None
    mark_price: float | None
    index_price: float | None
    next_funding_ts: int | None
    ts: int
    recv_ts: float


class OpenInterest(Message, frozen=True, kw_only=True):
    exchange: str
    symbol: str
    amount: float | None
    value: float | None
    ts: int
    recv_ts: float


FeedState = Literal["starting", "connected", "degraded", "down", "paused"]


class CandleGap(msgspec.Struct, frozen=True, kw_only=True):
    """Candles a backfill asked for and the exchange did not return (after retries).

    ``start``/``end``: open times (ms) of the first missing candle and of the first
    one after the gap; ``where``: ``head`` (history starts later than asked: a young
    market, or lost), ``inside`` (a hole between candles) or ``tail`` (nothing
    between the last candle returned and the present).
    """

    start: int
    end: int
    missing: int
    where: Literal["head", "inside", "tail"]


class FeedStatus(Message, frozen=True, kw_only=True):
    exchange: str
    state: FeedState
    market: str = "spot"
    symbols: list[str] = []
    paused_symbols: list[str] = []
    modes: dict[str, str] = {}  # data kind -> "stream" | "rest"
    last_message_ts: float | None = None
    # newest message per data kind (receive time, epoch s): what the health monitor's
    # freshness check reads, so a stream that went silent while others flow shows
    last_by_kind: dict[str, float] = {}
    latency_ms: float | None = None
    errors: dict[str, int] = {}
    detail: str = ""
    # symbol -> timeframe -> what its backfill could not get (series without a gap
    # are absent); symbols the config names but the exchange does not list
    gaps: dict[str, dict[str, list[CandleGap]]] = {}
    unknown_symbols: list[str] = []
    timeframes: list[str] = []  # the candle timeframes this feed collects (and the store keeps)
    ts: float


# --- analytics ----------------------------------------------------------------------


class BetaRow(Message, frozen=True, kw_only=True):
    symbol: str
    beta: float | None
    alpha: float | None
    alpha_annual: float | None
    correlation: float | None
    r_squared: float | None
    beta_se: float | None
    volatility: float | None
    downside_beta: float | None
    n_obs: int
    risk_bucket: str | None


class BetaSnapshot(Message, frozen=True, kw_only=True):
    timeframe: str
    window: str
    benchmark: str
    computed_at: float
    rows: list[BetaRow]
    exchange: str | None = None
    as_of: int | None = None  # open time (ms) of the newest candle in the window


class CorrelationSnapshot(Message, frozen=True, kw_only=True):
    timeframe: str
    window: str
    symbols: list[str]
    matrix: list[list[float | None]]
    order: list[int]
    computed_at: float
    exchange: str | None = None
    as_of: int | None = None


class SentimentComponent(Message, frozen=True, kw_only=True):
    name: str
    value: float | None
    score: float | None
    weight: float


class SentimentSnapshot(Message, frozen=True, kw_only=True):
    score: float | None
    label: str
    components: list[SentimentComponent]
    computed_at: float


class RegimeSnapshot(Message, frozen=True, kw_only=True):
    label: str
    rule: str
    inputs: dict[str, float | None]
    computed_at: float


# --- signals, health, backups -------------------------------------------------------

Severity = Literal["info", "warning", "critical"]

# the kinds the signal detectors publish (``Condition.kind``); the health monitor adds
# its own ("health")
SIGNAL_KINDS = (
    "price_move",
    "volatility_breakout",
    "volume_spike",
    "whale_trade",
    "wall",
    "book_imbalance",
    "manipulation",
    "regime_change",
    "beta_change",
    "funding_extreme",
)


class Condition(Message, frozen=True, kw_only=True):
    """One detector's (or the health monitor's) reading of one condition, now.

    Producers publish these on ``Topics.CONDITIONS`` (lossless) whenever a condition
    starts, changes severity, or ends (``active=False``); they may repeat an active one.
    The alert manager (``alerts``) alone turns them into :class:`Alert`: it fires
    once per ``key``, repeats after ``repeat_interval``, re-fires on escalation, sends
    a resolution, groups for delivery. Producers never deduplicate or rate-limit.
    """

    key: str  # stable identity, e.g. "whale_trade:binance:BTC/USDT:buy" or "health:cache"
    kind: str  # price_move, volume_spike, whale_trade, wall, manipulation, health, ...
    severity: Severity
    active: bool = True
    exchange: str | None = None
    symbol: str | None = None
    message: str
    values: dict[str, float | str | None] = {}  # the numbers that triggered it
    ts: float
    # a one-off happening (a whale trade, a wall pulled or filled) rather than a state:
    # its key is unique to it, it is published once with active=True and never
    # resolved, so the alert manager fires it once and expects no resolution
    event: bool = False


#: the kinds of condition producers publish (the alert API rejects any other)
CONDITION_KINDS = (
    "price_move",
    "volatility_breakout",
    "volume_spike",
    "whale_trade",
    "wall",
    "book_imbalance",
    "manipulation",
    "regime_change",
    "beta_change",
    "funding_extreme",
    "health",
    "backup",
)

# "event": a one-off happening (Condition.event): delivered once, never repeated or resolved
AlertStatus = Literal["firing", "resolved", "event"]
#: what happened to the alert in this message: it fired, repeated after
#: repeat_interval, escalated in severity, resolved, or was acknowledged/updated
AlertEvent = Literal["firing", "repeat", "escalated", "resolved", "acknowledged", "updated"]


class Alert(Message, frozen=True, kw_only=True):
    """One alert (an episode of one condition key, from firing to resolution).

    Made only by the alert manager (``alerts``): ``id`` is stable for the episode,
    ``data`` holds the numbers that triggered it, ``event`` says what this message is
    (a firing, a repeat, an escalation, a resolution ...). Written to SQLite before
    it is published on ``Topics.ALERTS`` or delivered.
    """

    id: str
    kind: str  # price_move, volume_spike, whale_trade, manipulation, ...
    severity: Severity
    exchange: str | None
    symbol: str | None
    message: str
    value: float | None = None
    threshold: float | None = None
    data: dict[str, Any] = {}
    ts: float  # time of this event
    key: str = ""  # the condition key
    status: AlertStatus = "firing"
    event: AlertEvent = "firing"
    group_key: str = ""
    first_ts: float | None = None  # when it first fired
    notified_ts: float | None = None  # last firing/repeat/escalation sent to destinations
    fired: int = 0  # notifications sent so far (firing, repeats, escalations)
    resolved_ts: float | None = None
    acked_ts: float | None = None
    acked_by: str | None = None
    muted: str | None = None  # "silenced:<id>" or "inhibited:<exchange>" when not delivered


HealthStatus = Literal["ok", "warning", "critical"]


class HealthCheck(Message, frozen=True, kw_only=True):
    """One check of the health monitor, as it counts (after its hold-down).

    ``value`` is what was measured, ``threshold`` the limit it is compared with (the
    critical one when critical, else the warning one), ``raw`` the status of the newest
    measurement when the hold-down has not yet let it count."""

    name: str  # "api", "cache", "exchange:<name>", "data:<exchange>:<kind>", "memory" ...
    status: HealthStatus
    value: float | str | None
    threshold: float | str | None
    message: str
    category: str = ""  # api, cache, exchange, data, memory, cpu, disk, errors, actors
    unit: str = ""
    raw: HealthStatus | None = None
    since: float | None = None  # when the check entered its status


class HealthTransition(Message, frozen=True, kw_only=True):
    """A check's counted status changed (what became a Condition on the bus)."""

    check: str
    old: HealthStatus
    new: HealthStatus
    value: float | str | None = None
    message: str = ""
    ts: float


class HealthReport(Message, frozen=True, kw_only=True):
    status: HealthStatus
    checks: list[HealthCheck]
    ts: float
    summary: str = ""  # one line, what sd_notify STATUS= and the status line show
    transitions: list[HealthTransition] = []  # the newest few, newest last


class BackupEvent(Message, frozen=True, kw_only=True):
    """One step of a backup run (or a verify, or a prune), published on ``backups``.

    ``progress`` events come about twice a second while a run copies and verifies;
    ``failed`` carries the reason, ``verified`` the outcome (``error`` and
    ``damaged`` set when the backup is damaged)."""

    event: Literal["started", "progress", "completed", "failed", "verified", "pruned"]
    backup_id: str
    kind: str | None = None
    path: str | None = None
    size: int | None = None
    sha256: str | None = None
    error: str | None = None
    damaged: str | None = None  # the file verify found damaged
    phase: str | None = None  # copying, verifying, finishing, remote
    files_done: int | None = None
    files_total: int | None = None
    bytes_done: int | None = None
    bytes_total: int | None = None
    ts: float


class BackupInfo(Message, frozen=True, kw_only=True):
    """One row of the backup catalogue (``backup.list``, ``/api/system/backups``)."""

    id: str
    kind: str  # critical, full, config, data, remote (auto is resolved to one of them)
    status: Literal["completed", "failed", "damaged"]
    created: float
    finished: float | None = None
    archive: str | None = None  # file name in the backup directory
    size: int | None = None  # the archive's bytes
    sha256: str | None = None  # of the archive
    files: int = 0
    bytes: int = 0  # the files' bytes before compression
    compression: str = "none"
    encrypted: bool = False
    trigger: str = "manual"  # manual, schedule
    reason: str | None = None  # why auto chose this kind
    error: str | None = None
    verified_at: float | None = None
    damaged: str | None = None
    remote: str | None = None  # where a remote backup was copied


# --- runtime ------------------------------------------------------------------------

ActorState = Literal["pending", "starting", "running", "restarting", "failed", "stopped"]


class ActorEvent(Message, frozen=True, kw_only=True):
    """Actor lifecycle: published by the supervisor on every state change."""

    actor: str
    state: ActorState
    restarts: int
    error: str | None = None
    ts: float


class ConfigReloaded(Message, frozen=True, kw_only=True):
    """A reload applied: the changed sections, and the changed settings that take
    effect only on the next start."""

    sections: list[str]
    ts: float
    restart_required: list[str] = []


class LogRecord(Message, frozen=True, kw_only=True):
    level: str
    logger: str
    actor: str | None
    message: str
    ts: float


AnyMessage = (
    Ticker
    | Candle
    | CandleBatch
    | Trade
    | OrderBookTop
    | Funding
    | OpenInterest
    | FeedStatus
    | BetaSnapshot
    | CorrelationSnapshot
    | SentimentSnapshot
    | RegimeSnapshot
    | Condition
    | Alert
    | HealthReport
    | BackupEvent
    | ActorEvent
    | ConfigReloaded
    | LogRecord
)

json_encoder = msgspec.json.Encoder()
json_decoder: msgspec.json.Decoder[AnyMessage] = msgspec.json.Decoder(AnyMessage)
msgpack_encoder = msgspec.msgpack.Encoder()
msgpack_decoder: msgspec.msgpack.Decoder[AnyMessage] = msgspec.msgpack.Decoder(AnyMessage)
