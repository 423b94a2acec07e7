"""The signal engine fed plain messages: each detector's Conditions (start, severity,
end, events) from the market data that should (and should not) trigger it."""

from __future__ import annotations

import math

import numpy as np

from virtuoso_daemon.core.config import SignalsConfig, load_config
from virtuoso_daemon.core.messages import (
    BetaRow,
    BetaSnapshot,
    Candle,
    Condition,
    Funding,
    OpenInterest,
    OrderBookTop,
    RegimeSnapshot,
    Trade,
)
from virtuoso_daemon.signals.engine import SignalEngine
from virtuoso_daemon.signals.state import MinuteSeries

EX, SYM = "sim", "ALT/USDT"
T0 = 1_700_000_040_000  # a minute boundary (ms)


def engine(**over: object) -> SignalEngine:
    cfg = load_config(overrides={"signals": over}) if over else load_config()
    return SignalEngine(cfg.signals)


def candle(minute: int, close: float, volume: float = 10.0, sym: str = SYM) -> Candle:
    return Candle(
        exchange=EX,
        symbol=sym,
        timeframe="1m",
        open_time=T0 + minute * 60_000,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=volume,
        closed=True,
        recv_ts=0.0,
    )


def trade(i: int, price: float, amount: float, side: str = "buy", t: float = 0.0) -> Trade:
    return Trade(
        exchange=EX,
        symbol=SYM,
        id=str(i),
        price=price,
        amount=amount,
        side=side,  # type: ignore[arg-type]
        ts=T0 + int(t * 1000),
        recv_ts=0.0,
    )


def book(
    t: float,
    bid: float = 99.9,
    ask: float = 100.1,
    bid_walls: list[tuple[float, float, float]] | None = None,
    ask_walls: list[tuple[float, float, float]] | None = None,
    bid_depth: float = 100.0,
    ask_depth: float = 100.0,
) -> OrderBookTop:
    return OrderBookTop(
        exchange=EX,
        symbol=SYM,
        bids=[(bid, 1.0)],
        asks=[(ask, 1.0)],
        bid_depth=bid_depth,
        ask_depth=ask_depth,
        depth_pct=1.0,
        spread=ask - bid,
        mid=(bid + ask) / 2,
        ts=T0 + int(t * 1000),
        recv_ts=0.0,
        bid_walls=bid_walls or [],
        ask_walls=ask_walls or [],
        bid_edge=bid * 0.95,
        ask_edge=ask * 1.05,
    )


def kinds(out: list[Condition]) -> list[tuple[str, bool, str]]:
    return [(c.kind, c.active, c.severity) for c in out]


def feed_minutes(
    e: SignalEngine, closes: list[float], vols: list[float] | None = None
) -> list[Condition]:
    out: list[Condition] = []
    for i, c in enumerate(closes):
        out += e.on_candle(candle(i, c, vols[i] if vols else 10.0))
    return out


def quiet_closes(n: int, seed: int = 1) -> list[float]:
    rng = np.random.default_rng(seed)
    return (100 * np.exp(np.cumsum(rng.normal(0, 0.0005, n)))).tolist()


def test_a_quiet_market_raises_nothing() -> None:
    e = engine()
    assert feed_minutes(e, quiet_closes(180)) == []


def test_a_sharp_move_fires_price_move_and_volatility_then_resolves() -> None:
    e = engine()
    closes = quiet_closes(120)
    feed_minutes(e, closes)
    last = closes[-1]
    out = e.on_candle(candle(120, last * 1.025))
    keys = {c.key: c for c in out}
    move = keys[f"price_move:{EX}:{SYM}:5m"]
    assert move.active and move.severity == "warning" and move.values["change_pct"] > 2
    assert keys[f"volatility_breakout:{EX}:{SYM}"].active
    # a bigger move escalates; holding still resolves the 5-minute window later
    out = e.on_candle(candle(121, last * 1.05))
    assert (f"price_move:{EX}:{SYM}:5m", "critical") in {(c.key, c.severity) for c in out}
    later: list[Condition] = []
    for m in range(122, 140):
        later += e.on_candle(candle(m, last * 1.05))
    ended = [c for c in later if c.key == f"price_move:{EX}:{SYM}:5m"]
    assert ended and not ended[-1].active


def test_a_volume_spike_fires_once_and_ends() -> None:
    e = engine()
    feed_minutes(e, quiet_closes(100), [10.0 + (i % 3) for i in range(100)])
    out = e.on_candle(candle(100, 100.0, volume=200.0))
    spikes = [c for c in out if c.kind == "volume_spike"]
    assert len(spikes) == 1 and spikes[0].values["ratio"] > 8
    out = e.on_candle(candle(101, 100.0, volume=10.0))
    assert [c.active for c in out if c.kind == "volume_spike"] == [False]


def ordinary_trades(n: int, rng: np.random.Generator) -> list[Trade]:
    sizes = rng.lognormal(0, 1.0, n)  # ~ 100 USD trades at price 100
    return [
        trade(i, 100.0, float(q), "buy" if i % 2 else "sell", t=i * 0.5)
        for i, q in enumerate(sizes)
    ]


def test_a_whale_trade_is_one_event_with_side_and_usd() -> None:
    e = engine()
    rng = np.random.default_rng(3)
    assert e.on_trades(ordinary_trades(400, rng)) == []
    out = e.on_trades([trade(9999, 100.0, 2_000.0, "sell", t=201.0)])
    assert len(out) == 1
    w = out[0]
    assert (w.kind, w.event, w.severity) == ("whale_trade", True, "warning")
    assert w.key == f"whale_trade:{EX}:{SYM}:9999"
    assert w.values["side"] == "sell" and w.values["usd"] == 200_000.0
    assert e.whales_view()["whales"][0]["trade_id"] == "9999"


def test_a_big_trade_below_the_usd_line_is_no_whale() -> None:
    e = engine()
    rng = np.random.default_rng(4)
    e.on_trades(ordinary_trades(400, rng))
    assert e.on_trades([trade(9999, 100.0, 900.0, t=201.0)]) == []  # 90k < 100k


def test_a_same_side_burst_is_reported_once() -> None:
    e = engine()
    rng = np.random.default_rng(5)
    e.on_trades(ordinary_trades(400, rng))
    burst = [trade(10_000 + k, 100.0, 600.0, "buy", t=201 + k * 0.5) for k in range(12)]
    out = e.on_trades(burst)
    bursts = [c for c in out if c.values.get("type") == "burst"]
    assert len(bursts) == 1 and bursts[0].values["side"] == "buy"
    assert bursts[0].values["usd"] >= 500_000


def wall(price: float, amount: float = 5_000.0, ratio: float = 120.0) -> tuple[float, float, float]:
    return (price, amount, ratio)


def test_a_wall_pulled_before_it_is_hit_is_reported_pulled() -> None:
    e = engine()
    out = e.on_book(book(0, bid_walls=[wall(99.0)]))
    assert kinds(out) == [("wall", True, "info")]
    assert e.walls_view()["active"][0]["price"] == 99.0
    assert e.on_book(book(1, bid_walls=[wall(99.0)])) == []
    out = e.on_book(book(300))  # gone while the best bid stayed at 99.9
    assert [(c.active, c.event, c.values["outcome"]) for c in out] == [
        (False, False, "pulled"),
        (True, True, "pulled"),
    ]
    assert e.walls_view()["recent"][0]["outcome"] == "pulled"


def test_a_wall_the_price_ran_through_is_filled() -> None:
    e = engine()
    e.on_book(book(0, bid_walls=[wall(99.0)]))
    out = e.on_book(book(5, bid=98.9, ask=99.0))
    assert [(c.active, c.values["outcome"]) for c in out] == [(False, "filled")]


def test_small_or_ordinary_levels_are_no_walls() -> None:
    e = engine()
    assert e.on_book(book(0, ask_walls=[wall(101.0, ratio=20.0), wall(101.5, amount=10.0)])) == []


def test_imbalance_fires_after_being_held_and_ends_with_hysteresis() -> None:
    e = engine()
    assert e.on_book(book(0, bid_depth=900, ask_depth=100)) == []
    assert e.on_book(book(30, bid_depth=900, ask_depth=100)) == []
    out = e.on_book(book(61, bid_depth=900, ask_depth=100))
    assert kinds(out) == [("book_imbalance", True, "warning")]
    assert e.on_book(book(62, bid_depth=700, ask_depth=150)) == []  # 0.65: still held
    out = e.on_book(book(63, bid_depth=500, ask_depth=400))
    assert kinds(out) == [("book_imbalance", False, "warning")]


def oi_spike(e: SignalEngine) -> list[Condition]:
    """150 quiet minutes, then open interest up 1.5 % a minute while the price drifts down."""
    closes = quiet_closes(150)
    for i in range(150):
        e.on_open_interest(
            OpenInterest(
                exchange=EX,
                symbol=SYM,
                amount=1e6,
                value=None,
                ts=T0 + i * 60_000 + 30_000,
                recv_ts=0.0,
            )
        )
        e.on_candle(candle(i, closes[i]))
    out: list[Condition] = []
    for k in range(10):
        i = 150 + k
        oi = 1e6 * (1 + 0.015 * (k + 1))
        e.on_open_interest(
            OpenInterest(
                exchange=EX,
                symbol=SYM,
                amount=oi,
                value=None,
                ts=T0 + i * 60_000 + 30_000,
                recv_ts=0.0,
            )
        )
        out += e.on_candle(candle(i, closes[-1] * (1 - 0.001 * k), volume=60.0))
    return out


def test_manipulation_scores_an_oi_spike_against_the_price() -> None:
    e = engine()
    out = oi_spike(e)
    manip = [c for c in out if c.kind == "manipulation"]
    assert manip and manip[0].active and manip[0].values["score"] >= 0.6
    row = e.manipulation_view()["symbols"][0]
    assert {c["name"] for c in row["components"]} == {"oi_change", "volume", "price", "divergence"}
    assert math.isclose(sum(c["weight"] for c in row["components"]), 1.0)


def test_funding_extremes_by_severity() -> None:
    e = engine()

    def f(rate: float) -> list[Condition]:
        return e.on_funding(
            Funding(
                exchange=EX,
                symbol="ALT/USDT:USDT",
                rate=rate,
                mark_price=1.0,
                index_price=1.0,
                next_funding_ts=None,
                ts=T0,
                recv_ts=0.0,
            )
        )

    assert f(0.0001) == []
    assert kinds(f(0.0015)) == [("funding_extreme", True, "warning")]
    assert kinds(f(-0.004)) == [("funding_extreme", True, "critical")]
    assert kinds(f(0.0002)) == [("funding_extreme", False, "critical")]


def beta_snap(beta: float, at: float) -> BetaSnapshot:
    row = BetaRow(
        symbol=SYM,
        beta=beta,
        alpha=None,
        alpha_annual=None,
        correlation=None,
        r_squared=None,
        beta_se=None,
        volatility=None,
        downside_beta=None,
        n_obs=100,
        risk_bucket=None,
    )
    return BetaSnapshot(
        timeframe="1h", window="7d", benchmark="BTC/USDT", computed_at=at, rows=[row], exchange=EX
    )


def test_beta_change_against_the_reference_and_regime_change_event() -> None:
    e = engine()
    assert e.on_beta(beta_snap(1.0, 0.0)) == []
    assert e.on_beta(beta_snap(1.3, 3600.0)) == []
    assert kinds(e.on_beta(beta_snap(1.6, 7200.0))) == [("beta_change", True, "warning")]
    assert e.on_regime(RegimeSnapshot(label="risk_on", rule="", inputs={}, computed_at=1.0)) == []
    out = e.on_regime(RegimeSnapshot(label="risk_off", rule="r", inputs={}, computed_at=2.0))
    assert kinds(out) == [("regime_change", True, "info")] and out[0].event


def test_per_symbol_overrides_apply_to_that_symbol_only() -> None:
    e = engine(overrides={SYM: {"whales": {"min_usd": 1_000_000}}})
    rng = np.random.default_rng(3)
    e.on_trades(ordinary_trades(400, rng))
    assert e.on_trades([trade(9999, 100.0, 2_000.0, t=201.0)]) == []  # 200k < 1M here


def test_disabled_detectors_stay_silent() -> None:
    e = engine(detectors=["price_move"])
    assert e.on_book(book(0, bid_walls=[wall(99.0)])) == []
    assert isinstance(e.config, SignalsConfig)


def test_a_full_trade_window_keeps_its_trades_in_about_25_bytes_each() -> None:
    """The per-symbol trade windows are the detectors' largest memory (300 markets x
    ``whales.sample`` trades): kept as numpy rings, not float and tuple objects (which
    took ~145 bytes per trade, ~22 MB at 300 markets once full)."""
    import tracemalloc

    e = engine()
    sample = e.config.whales.sample
    symbols = [f"S{k}/USDT" for k in range(20)]
    batches = [
        [
            Trade(
                exchange=EX,
                symbol=s,
                id=str(i),
                price=100.0,
                amount=1.0 + (i % 7) / 10,
                side="sell" if i % 3 else "buy",
                ts=T0 + i * 100,
                recv_ts=0.0,
            )
            for s in symbols
        ]
        for i in range(2 * sample)
    ]
    for batch in batches[:50]:  # windows made, statistics (and their lazy imports) done
        e.on_trades(batch)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for batch in batches[50:]:
            e.on_trades(batch)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown / len(symbols) < 4 * sample  # per symbol: nothing kept per trade
    window = e.state(EX, symbols[0]).trades
    assert len(window) == sample  # full: twice the sample went through it
    assert window.nbytes <= 25 * sample


def test_open_interest_keeps_only_the_polls_a_window_can_read() -> None:
    e = engine()
    for i in range(2160):  # a day and a half at one poll a minute
        e.on_open_interest(
            OpenInterest(
                exchange=EX,
                symbol=SYM,
                amount=float(i),
                value=None,
                ts=T0 + i * 60_000 + 30_000,
                recv_ts=0.0,
            )
        )
    st = e.state(EX, SYM)
    span = st.minutes.capacity + MinuteSeries.SLACK
    assert len(st.oi_ts) <= span + 2  # not the 2000 a deque bound would keep
    first0 = T0 // 60_000
    n = st.minutes.capacity
    first = first0 + 2159 - n + 1  # the window that ends at the newest poll's minute
    oi = st.oi_on_minutes(first, n)
    assert oi.tolist() == [float(2159 - n + 1 + k) for k in range(n)]  # as with every poll
