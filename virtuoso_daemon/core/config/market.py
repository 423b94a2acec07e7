"""Sections of the market data: the exchange feeds, the market store, the beta
calculator and the built-in simulated exchange (``--demo``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from virtuoso_daemon.core.config.base import (
    Count,
    CountOrNone,
    MarketType,
    Port,
    Positive,
    Seconds,
    Section,
    per_timeframe,
)


class ExchangeConfig(Section):
    """One exchange feed: which ccxt exchange, which market type, which symbols."""

    name: str
    ccxt_id: str = "binance"
    market: MarketType = "spot"
    symbols: list[str] = []  # explicit list, or empty with top_n > 0
    top_n: CountOrNone = 0
    quote: str = "USDT"
    top_refresh: Seconds = 3600.0
    streaming: bool = True
    timeframes: list[str] = msgspec.field(default_factory=lambda: ["1m", "1h", "4h", "1d"])
    # candles of history fetched per series at start: one number for every timeframe,
    # or a table by timeframe ("*" for the others). The defaults cover the analytics
    # windows (90 days of 1h = 2160, of 4h = 540, of 1d = 90) and 12 h of 1m.
    backfill_candles: int | dict[str, int] = msgspec.field(
        default_factory=lambda: {"1m": 720, "1h": 2200, "4h": 600, "1d": 120, "*": 1000}
    )
    poll_interval: Seconds = 2.0
    silent_timeout: Seconds = 30.0
    markets_refresh: Seconds = 6 * 3600.0
    backoff_initial: Seconds = 1.0
    backoff_max: Seconds = 60.0
    timeout_ms: Count = 10_000
    # deep-merged into ccxt's urls / options (demo mode points urls at the simulator);
    # every key inside urls must be one of the exchange's own (checked at load)
    urls: dict[str, Any] = {}
    options: dict[str, Any] = {}
    # ccxt's proxy settings (one of http/https/socks for REST; ws_proxy for websockets)
    http_proxy: str = ""
    https_proxy: str = ""
    socks_proxy: str = ""
    ws_proxy: str = ""
    headers: dict[str, str] = {}  # extra HTTP headers on every REST request
    sandbox: bool = False  # the exchange's testnet (ccxt set_sandbox_mode) before urls
    api_key: str = ""
    api_key_file: str = ""
    secret: str = ""
    secret_file: str = ""
    # data kinds to collect; perps add funding and open_interest on their own
    kinds: list[str] = msgspec.field(
        default_factory=lambda: ["tickers", "ohlcv", "trades", "orderbook"]
    )
    stream_retry: Seconds = 60.0  # after falling back to REST, try streaming again after this
    derivatives_refresh: Seconds = 60.0  # funding and open interest poll period (perps)
    orderbook_levels: Annotated[int, msgspec.Meta(ge=1, le=1000)] = (
        5  # levels per side in OrderBookTop
    )
    depth_pct: Annotated[float, msgspec.Meta(gt=0, le=100)] = (
        1.0  # depth summary band around mid, percent
    )
    rate_limit_ms: CountOrNone = 0  # ccxt rateLimit override; 0 = ccxt's value for the exchange
    # seconds between two publications of a streamed kind (the newest state then);
    # tickers are published on every update whatever this says for them
    conflate: dict[str, float] = msgspec.field(
        default_factory=lambda: {"ohlcv": 0.5, "orderbook": 0.25, "trades": 0.1}
    )

    def backfill_for(self, timeframe: str) -> int:
        """Candles of history to fetch for one timeframe (see ``backfill_candles``)."""
        return per_timeframe(self.backfill_candles, timeframe, 0)

    def backfill_max(self) -> int:
        return max((self.backfill_for(tf) for tf in self.timeframes), default=0)


DEFAULT_STORE_CANDLES = 2400  # a table without "*" keeps this many of the others


class StoreConfig(Section):
    """Market store sizes: candles kept per symbol and timeframe, trades, books."""

    # candles kept per series: one number, or a table by timeframe ("*" for the
    # others). 2 400 covers the 90-day beta windows of 1h (2 161 closes); 1 440 1m
    # candles are a day (2 400 would be 40 h, +24 MB at 300 markets once filled).
    candles: int | dict[str, int] = msgspec.field(default_factory=lambda: {"1m": 1440, "*": 2400})
    trades: Count = 500
    persist_interval: Seconds = 60.0

    def candles_for(self, timeframe: str) -> int:
        """Candles kept per series of one timeframe (see ``candles``)."""
        return per_timeframe(self.candles, timeframe, DEFAULT_STORE_CANDLES)


class BetaConfig(Section):
    """Beta calculator: which timeframes and windows to compute."""

    benchmark: str = "BTC/USDT"
    windows: dict[str, list[str]] = msgspec.field(
        default_factory=lambda: {"1h": ["7d", "30d", "90d"], "4h": ["30d", "90d"], "1d": ["90d"]}
    )
    min_obs: Annotated[int, msgspec.Meta(ge=2)] = 30  # a regression needs two points
    history: Count = 500


class DemoConfig(Section):
    """The built-in simulated exchange started by ``--demo``."""

    seed: CountOrNone = 42  # numpy seeds are >= 0
    n_alts: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 40
    speed: Positive = 1.0
    port: Port = 0  # 0 = any free port
    perpetuals: bool = True
    # the API the perpetuals feed reads: "binance" (binanceusdm) or "okx" (OKX v5 USDT
    # swaps); spot is always Binance, so "okx" runs two exchanges in one daemon
    perp_dialect: Literal["binance", "okx"] = "binance"
