"""The shapes of the analytics queries' answers (:mod:`.analytics`).

As :mod:`.market_answers`: typed so that ``/api/openapi.json`` documents them and the
live schemathesis test checks them, encoding to the JSON the dicts did. A field only
some answers carry is ``UnsetType`` (left out), not ``None``. Rows are the bus
messages (:class:`~..core.messages.BetaRow`) and the history store's points
(:class:`~..beta.history.HistoryPoint`, served as arrays), as before.
"""

from __future__ import annotations

from msgspec import UNSET, UnsetType

from virtuoso_daemon.beta.history import HistoryPoint
from virtuoso_daemon.core.messages import BetaRow, CandleGap
from virtuoso_daemon.read.market_answers import Answer


class Beta(Answer, frozen=True):
    """Every symbol's beta row (the table), or with ``symbol`` that symbol's ``row``
    alone (then the table's fields, ``sort`` to ``windows``, are left out)."""

    exchange: str
    timeframe: str
    window: str
    benchmark: str
    computed_at: float
    as_of: int | None  # open time (ms) of the newest candle in the window
    sort: str | UnsetType = UNSET
    order: str | UnsetType = UNSET
    count: int | UnsetType = UNSET
    total: int | UnsetType = UNSET
    rows: list[BetaRow] | UnsetType = UNSET
    # symbol -> candles of this timeframe missing from its history
    gaps: dict[str, list[CandleGap]] | UnsetType = UNSET
    # every configured timeframe -> its windows
    windows: dict[str, list[str]] | UnsetType = UNSET
    row: BetaRow | UnsetType = UNSET


class BetaWindow(Answer, frozen=True):
    timeframe: str
    window: str
    computed_at: float | None  # None: not computed yet
    row: BetaRow | None  # None: the symbol is not in that computation


class HistorySeries(Answer, frozen=True):
    timeframe: str
    window: str
    rows: list[HistoryPoint]


class BetaHistory(Answer, frozen=True):
    columns: list[str]
    series: list[HistorySeries]


#: one rolling beta point: open time (ms), beta, correlation, observations
RollingRow = tuple[int, float | None, float | None, int]


class Rolling(Answer, frozen=True):
    timeframe: str
    window: str
    columns: list[str]
    rows: list[RollingRow]
    note: str | UnsetType = UNSET  # why there are no rows (or fewer than asked)


class BetaSymbol(Answer, frozen=True):
    exchange: str
    symbol: str
    benchmark: str | None
    windows: list[BetaWindow]
    gaps: dict[str, list[CandleGap]]  # timeframe -> candles missing from its history
    history: BetaHistory
    rolling: Rolling


class Correlation(Answer, frozen=True):
    exchange: str
    timeframe: str
    window: str
    computed_at: float
    as_of: int | None
    order_by: str  # cluster | input
    symbols: list[str]  # in display order
    matrix: list[list[float | None]]  # None: not enough common observations
    order: list[int]  # the permutation: indices into input
    input: list[str]


class SentimentComponent(Answer, frozen=True):
    name: str
    value: float | None
    score: float | None
    weight: float
    base_weight: float


class FundingSource(Answer, frozen=True):
    symbols: int
    weighting: str | None  # open_interest | equal; None without any rate


class OiChangeSource(Answer, frozen=True):
    symbols: int
    span_hours: float | None


class BreadthSource(Answer, frozen=True):
    advancers: int
    decliners: int
    unchanged: int
    total: int


class VolatilitySource(Answer, frozen=True):
    symbol: str
    timeframe: str
    window: str


class FlowSource(Answer, frozen=True):
    window_seconds: float
    trades: int
    buy_volume: float
    sell_volume: float


class SentimentSources(Answer, frozen=True):
    exchange: str | None
    funding_rate: FundingSource
    oi_change: OiChangeSource
    breadth: BreadthSource
    volatility: VolatilitySource | None
    flow_imbalance: FlowSource
    long_short_ratio: str  # why it is missing


class CorrelationSource(Answer, frozen=True):
    exchange: str
    timeframe: str
    window: str


class SentimentRegime(Answer, frozen=True):
    label: str
    rule: str
    explanation: str
    inputs: dict[str, float | None]
    benchmark: str | None
    correlation_source: CorrelationSource | None
    computed_at: float


class Sentiment(Answer, frozen=True):
    """The composite sentiment, what each component contributed and from what, and
    the market regime."""

    score: float | None  # -1..1
    index: float | None  # 0..100
    label: str
    computed_at: float
    components: list[SentimentComponent]
    sources: SentimentSources
    regime: SentimentRegime
