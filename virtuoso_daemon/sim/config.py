"""Configuration of the simulated exchange: one frozen msgspec Struct, every field defaulted.

``SimConfig()`` is runnable as is: BTC plus 40 alts, spot and USD-M perpetuals, real time.
Rates (whales, walls, trades) are per market per *simulated* time unit, so a speed-up
makes them arrive proportionally faster in wall time.
"""

from __future__ import annotations

import msgspec


class SimConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything the simulator can be told; see ``docs/sim.md`` for the model behind it."""

    seed: int = 42
    # APIs served on the one port: "binance" (/api/v3, /fapi, /ws, /stream, /fstream)
    # and/or "okx" (/api/v5, /ws/v5); both from the same market
    dialects: tuple[str, ...] = ("binance",)
    n_alts: int = 40
    # explicit base assets, e.g. ["ETH", "SOL"]; BTC (the factor) is always added first
    symbols: list[str] | None = None
    quote: str = "USDT"
    perpetuals: bool = True  # also list USD-M perpetuals (``ETH/USDT:USDT``)

    speed: float = 1.0  # simulated seconds per wall second
    tick_interval: float = 0.25  # wall seconds between market steps and websocket pushes

    # factor model r_i = beta_i * r_BTC + eps_i, vols annualised (365 days)
    btc_price: float = 65_000.0
    btc_vol: float = 0.60
    beta_min: float = 0.6
    beta_max: float = 1.8
    idio_vol_min: float = 0.30
    idio_vol_max: float = 1.00
    history_candles: int = 1000  # closed candles of each timeframe available from the start

    # micro-structure
    book_levels: int = 300  # levels per side
    trade_rate: float = 3.0  # trades per simulated second on BTC spot; smaller markets fewer
    max_trades_per_step: int = 12  # per market and step (bounds the message rate at speed-ups)
    whale_rate: float = 2.0  # whale trades per market per simulated hour
    whale_multiplier: float = 150.0  # whale size vs the mean trade (at least)
    whale_min_notional: float = 250_000.0  # quote currency
    wall_rate: float = 1.0  # order-book walls per market per simulated hour
    wall_multiplier: float = 60.0  # wall size vs the typical level
    wall_duration: float = 900.0  # mean simulated seconds a wall stays
    funding_interval_hours: int = 8
    # scripted episodes (sim/episodes.py): the signal detectors' ground truth
    episodes: bool = True
    episode_first: float = 600.0  # simulated seconds after start
    episode_every: float = 900.0  # simulated seconds between episode starts
    episode_kinds: list[str] = msgspec.field(
        default_factory=lambda: ["move", "volume", "spoof", "pump"]
    )

    # Binance request-weight limits per client IP and window (wall seconds)
    rate_limits: bool = True
    spot_weight_limit: int = 6000
    futures_weight_limit: int = 2400
    rate_limit_window: float = 60.0
    ban_after: int = 10  # requests answered 429 in one window before the IP is banned (418)
    ban_seconds: float = 120.0

    # websockets
    ws_heartbeat: float = 20.0  # server ping interval (seconds); the client must pong
    ws_max_streams: int = 1024  # per connection (Binance: 1024 spot, 200 futures)
    ws_send_queue: int = 256  # ticks of unsent data before a slow consumer is dropped

    def __post_init__(self) -> None:
        if not self.dialects or set(self.dialects) - {"binance", "okx"}:
            raise ValueError("dialects: one or both of 'binance', 'okx'")
        if self.speed <= 0 or self.tick_interval <= 0:
            raise ValueError("speed and tick_interval must be positive")
        if self.n_alts < 0 or self.history_candles < 1 or self.book_levels < 20:
            raise ValueError("n_alts >= 0, history_candles >= 1 and book_levels >= 20 required")
        if (
            not 0 < self.beta_min <= self.beta_max
            or not 0 <= self.idio_vol_min <= self.idio_vol_max
            or self.btc_vol <= 0
        ):
            raise ValueError(
                "need 0 < beta_min <= beta_max, 0 <= idio_vol_min <= idio_vol_max and btc_vol > 0"
            )
