"""The beta actor's pure parts: windows, benchmark choice, debouncing, computing, inputs."""

from __future__ import annotations

import functools
import math
import tracemalloc

import msgspec
import numpy as np
import pytest

from tests.beta.helpers import BETAS, factor_closes
from virtuoso_daemon import analytics
from virtuoso_daemon.beta.compute import (
    Coalescer,
    CorrelationView,
    Universe,
    compute,
    correlation_body,
    history_points,
    parse_windows,
    pick_benchmark,
    slim_correlation,
    view_key,
)
from virtuoso_daemon.beta.sentiment import (
    OpenInterestHistory,
    RegimeWindow,
    TradeFlow,
    build,
)
from virtuoso_daemon.core.messages import (
    BetaSnapshot,
    CorrelationSnapshot,
    Funding,
    OpenInterest,
    Ticker,
    Trade,
)
from virtuoso_daemon.core.runtime import Views

HOUR = 3_600_000

# --- windows and view keys -------------------------------------------------------------


def test_parse_windows_counts_candles_and_reports_bad_entries() -> None:
    good, problems = parse_windows(
        {"1h": ["7d", "30d", "7d"], "4h": ["90d", "5h"], "xx": ["1d"], "1d": ["bogus"]}
    )
    assert good == {"1h": (("7d", 168), ("30d", 720)), "4h": (("90d", 540),)}
    assert len(problems) == 3
    assert any("4h" in p and "5h" in p for p in problems)
    assert any(p.startswith("beta.windows.xx") for p in problems)
    assert any("bogus" in p for p in problems)


def test_view_keys_per_exchange_and_alias() -> None:
    assert view_key("beta", "1h", "30d", "sim-spot") == "beta.sim-spot.1h.30d"
    assert view_key("correlation", "4h", "90d") == "correlation.4h.90d"


# --- benchmark selection -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "market", "symbols", "expected"),
    [
        ("BTC/USDT", "spot", ["ETH/USDT", "BTC/USDT"], "BTC/USDT"),
        # perpetuals: the configured spot benchmark translated to the perp
        ("BTC/USDT", "linear", ["ETH/USDT:USDT", "BTC/USDT:USDT"], "BTC/USDT:USDT"),
        # an exchange listing both: the market type decides
        ("BTC/USDT", "linear", ["BTC/USDT", "BTC/USDT:USDT"], "BTC/USDT:USDT"),
        ("BTC/USDT", "spot", ["BTC/USDT:USDT", "BTC/USDT"], "BTC/USDT"),
        ("BTC/USDT:USDT", "spot", ["BTC/USDT", "ETH/USDT"], "BTC/USDT"),
        # same base in another quote when the configured quote is missing
        ("BTC/USDT", "spot", ["ETH/USDC", "BTC/USDC"], "BTC/USDC"),
        ("BTC/USDT", "spot", ["BTC/USDC", "BTC/USDT"], "BTC/USDT"),
        # only the wrong market type: better than nothing
        ("BTC/USDT", "spot", ["BTC/USDT:USDT"], "BTC/USDT:USDT"),
        # no BTC at all: no benchmark (never a made-up one)
        ("BTC/USDT", "spot", ["ETH/USDT", "WBTC/USDT"], None),
        ("BTC/USDT", "linear", [], None),
    ],
)
def test_pick_benchmark(
    configured: str, market: str, symbols: list[str], expected: str | None
) -> None:
    assert pick_benchmark(configured, market, symbols) == expected


# --- debouncing ---------------------------------------------------------------------------


def test_a_burst_of_closes_recomputes_once_after_the_benchmark_settles() -> None:
    c: Coalescer[str] = Coalescer(settle=0.3, max_wait=1.0)
    for i in range(40):  # 40 alts close within 40 ms, benchmark not yet in
        c.mark("spot/1h", 10.0 + i * 0.001, ready=False)
    assert c.next_deadline() == pytest.approx(11.0)  # waits for the benchmark, at most 1 s
    c.mark("spot/1h", 10.1, ready=True)  # the benchmark's candle
    assert c.next_deadline() == pytest.approx(10.4)
    assert c.due(10.39) == []
    assert c.due(10.4) == ["spot/1h"]
    assert c.due(20.0) == [] and c.next_deadline() is None


def test_without_the_benchmark_a_burst_fires_after_max_wait() -> None:
    c: Coalescer[str] = Coalescer(settle=0.3, max_wait=1.0)
    c.mark("perp/1h", 5.0, ready=False)
    assert c.due(5.99) == []
    assert c.due(6.0) == ["perp/1h"]


def test_continuous_marks_are_capped_at_max_wait() -> None:
    c: Coalescer[str] = Coalescer(settle=0.3, max_wait=1.0)
    fired = []
    for i in range(30):  # backfill pages every 100 ms for 3 s
        t = i / 10
        c.mark("spot/1h", t)
        fired += [t for _ in c.due(t)]
    # one recompute per max_wait while pages keep coming, not one per page
    assert len(fired) == 2
    assert fired[0] == pytest.approx(1.0) and fired[1] - fired[0] <= 1.1


def test_history_pages_recompute_every_history_max_wait_and_after_the_last_page() -> None:
    c: Coalescer[str] = Coalescer(
        settle=0.3, max_wait=1.0, history_settle=2.0, history_max_wait=15.0
    )
    fired = []
    for i in range(300):  # a backfill: a page every 100 ms for 30 s
        t = i / 10
        c.mark("spot/1h", t, history=True)
        fired += [t for _ in c.due(t)]
    assert fired == [pytest.approx(15.0)]  # progress while paging, not once per second
    assert c.next_deadline() == pytest.approx(15.1 + 15.0)  # the next burst's cap


def test_a_short_backfill_recomputes_once_soon_after_its_last_page() -> None:
    c: Coalescer[str] = Coalescer(
        settle=0.3, max_wait=1.0, history_settle=2.0, history_max_wait=15.0
    )
    for i in range(30):  # pages every 100 ms for 3 s
        c.mark("spot/1h", i / 10, history=True)
        assert c.due(i / 10) == []
    assert c.next_deadline() == pytest.approx(2.9 + 2.0)


def test_a_live_close_in_a_history_burst_keeps_the_live_deadline() -> None:
    c: Coalescer[str] = Coalescer(
        settle=0.3, max_wait=1.0, history_settle=2.0, history_max_wait=15.0
    )
    c.mark("spot/1h", 1.0, history=True)
    c.mark("spot/1h", 1.1, ready=True)  # the benchmark's live close
    assert c.next_deadline() == pytest.approx(1.4)


def test_keys_are_independent_and_due_in_deadline_order() -> None:
    c: Coalescer[tuple[str, str]] = Coalescer(settle=0.3, max_wait=1.0)
    c.mark(("spot", "4h"), 1.0)
    c.mark(("spot", "1h"), 1.1, ready=False)
    c.schedule(("perp", "1h"), 0.5)
    assert set(c.pending()) == {("spot", "4h"), ("spot", "1h"), ("perp", "1h")}
    assert c.due(3.0) == [("perp", "1h"), ("spot", "4h"), ("spot", "1h")]


def test_marks_after_due_open_a_new_burst() -> None:
    c: Coalescer[str] = Coalescer(settle=0.3, max_wait=1.0)
    c.mark("k", 0.0)
    assert c.due(0.3) == ["k"]
    c.mark("k", 0.35)  # a late candle of the same close: recompute again
    assert c.due(0.65) == ["k"]


def test_schedule_only_moves_a_deadline_earlier() -> None:
    c: Coalescer[str] = Coalescer(settle=0.3, max_wait=1.0)
    c.schedule("k", 5.0)
    c.schedule("k", 7.0)
    assert c.next_deadline() == 5.0
    c.mark("k", 1.0)
    assert c.next_deadline() == pytest.approx(1.3)


# --- computing -------------------------------------------------------------------------------


def _closes(n: int = 300, seed: int = 3) -> tuple[Universe, np.ndarray, np.ndarray]:
    bases = list(BETAS)
    data = factor_closes(bases, n, seed)
    closes = np.vstack([data[b] for b in bases])  # (symbols, n) as the store answers
    closes[2, 250:260] = np.nan  # SOL: a gap of 10 candles inside the 7d window
    closes[4, :-12] = np.nan  # NEW: listed 12 candles ago
    times = (1_000 + np.arange(n)) * HOUR
    symbols = tuple(f"{b}/USDT" for b in bases)
    return Universe("spot", "spot", symbols, "BTC/USDT"), times, closes


def test_compute_matches_the_analytics_library_and_marks_insufficient_symbols() -> None:
    uni, times, closes = _closes()
    comp = compute(uni, "1h", ["2d", "7d"], times, closes, min_obs=30, computed_at=123.0)
    assert comp.as_of == int(times[-1]) and comp.benchmark == "BTC/USDT"
    aligned = analytics.align_closes(
        {s: (times, closes[i]) for i, s in enumerate(uni.symbols)}, "1h"
    )
    ref = analytics.compute_betas(aligned.log_returns(), ["2d", "7d"], min_obs=30)
    for snap, table in zip(comp.betas, ref, strict=True):
        assert snap.window == table.label and snap.computed_at == 123.0
        for row, stats in zip(snap.rows, table.rows(), strict=True):
            assert row.symbol == stats.symbol and row.n_obs == stats.n_obs
            for field in ("beta", "alpha", "correlation", "r_squared", "beta_se", "volatility"):
                got, want = getattr(row, field), getattr(stats, field)
                # (BTC's own SE is rounding noise, ~1e-9: hence the absolute part)
                assert (got is None and want is None) or got == pytest.approx(
                    want, rel=1e-9, abs=1e-8
                )
    rows = {r.symbol: r for r in comp.betas[1].rows}
    btc = rows["BTC/USDT"]
    assert btc.beta == pytest.approx(1.0) and btc.r_squared == pytest.approx(1.0, abs=1e-12)
    assert rows["ETH/USDT"].risk_bucket == "aggressive"  # beta ~1.4
    assert rows["DOGE/USDT"].risk_bucket == "moderate"  # beta ~0.5
    assert rows["SOL/USDT"].n_obs == 168 - 11  # the gap costs 11 returns
    new = rows["NEW/USDT"]  # 11 returns < min_obs: no beta, not 1.0
    assert new.beta is None and new.correlation is None and new.n_obs == 11
    assert new.risk_bucket == "insufficient"


def test_correlation_snapshots_are_symmetric_with_unit_diagonal_and_a_permutation() -> None:
    uni, times, closes = _closes()
    comp = compute(uni, "1h", ["7d"], times, closes, min_obs=30, computed_at=0.0)
    snap = comp.correlations[0]
    m = np.array(snap.matrix, dtype=np.float64)
    k = len(uni.symbols)
    assert snap.symbols == list(uni.symbols) and m.shape == (k, k)
    assert sorted(snap.order) == list(range(k))
    sufficient = [i for i, s in enumerate(snap.symbols) if s != "NEW/USDT"]
    sub = m[np.ix_(sufficient, sufficient)]
    assert np.array_equal(sub, sub.T) and np.all(np.diag(sub) == 1.0)
    new = snap.symbols.index("NEW/USDT")
    assert snap.matrix[new][new] is None  # too few observations: no number at all
    row = comp.correlation_rows["7d"]
    assert row["BTC/USDT"] == 1.0 and row["ETH/USDT"] == pytest.approx(m[0, 1])


def test_beta_snapshots_are_encoded_once_in_the_worker_thread() -> None:
    uni, times, closes = _closes()
    comp = compute(uni, "1h", ["2d", "7d"], times, closes, min_obs=30, computed_at=1.0)
    for snap, body in zip(comp.betas, comp.beta_bodies, strict=True):
        assert msgspec.json.decode(body, type=BetaSnapshot) == snap


def test_a_correlation_view_encodes_the_full_snapshot_on_first_read() -> None:
    uni, times, closes = _closes()
    comp = compute(uni, "1h", ["2d", "7d"], times, closes, min_obs=30, computed_at=1.0)
    views = Views()
    for corr, values in zip(comp.correlations, comp.correlation_values, strict=True):
        value = CorrelationView(slim_correlation(corr), values)
        view = views.publish("k", value, body=functools.partial(correlation_body, value))
        assert not isinstance(view.encoded, bytes)  # nothing encoded until read
        assert msgspec.json.decode(view.body, type=CorrelationSnapshot) == corr
        assert view.body is view.encoded  # then kept


def test_history_points_leave_out_symbols_without_a_beta() -> None:
    uni, times, closes = _closes()
    comp = compute(uni, "1h", ["2d", "7d"], times, closes, min_obs=30, computed_at=0.0)
    points = history_points(comp)
    keys = {(k.symbol, k.window) for k, _ in points}
    assert ("NEW/USDT", "7d") not in keys and ("ETH/USDT", "2d") in keys
    assert len(points) == 2 * 4
    assert all(p.ts == comp.as_of for _, p in points)


# --- sentiment inputs --------------------------------------------------------------------------


def _trade(side: str | None, price: float, amount: float, recv: float) -> Trade:
    return Trade(
        exchange="x",
        symbol="BTC/USDT",
        id="1",
        price=price,
        amount=amount,
        side=side,  # type: ignore[arg-type]
        ts=int(recv * 1000),
        recv_ts=recv,
    )


def test_trade_flow_sums_quote_volume_per_side_over_the_window() -> None:
    flow = TradeFlow(window=3600.0, bucket=60.0)
    flow.add(_trade("buy", 100.0, 2.0, 500.0))  # 200 buy, older than the window
    flow.add(_trade("buy", 100.0, 3.0, 4_000.0))
    flow.add(_trade("sell", 50.0, 2.0, 4_100.0))
    flow.add(_trade(None, 100.0, 9.0, 4_100.0))  # no side: ignored
    assert flow.totals(4_200.0) == (300.0, 100.0, 2)
    assert analytics.flow_imbalance(300.0, 100.0) == pytest.approx(0.5)
    assert flow.totals(9_000.0) == (0.0, 0.0, 0)


def _oi(symbol: str, ts_h: float, value: float | None, amount: float | None = None) -> OpenInterest:
    return OpenInterest(
        exchange="perp",
        symbol=symbol,
        amount=amount,
        value=value,
        ts=int(ts_h * HOUR),
        recv_ts=0.0,
    )


def test_open_interest_change_needs_an_hour_and_uses_the_24h_reference() -> None:
    oi = OpenInterestHistory()
    oi.add(_oi("BTC/USDT:USDT", 0.0, 1000.0))
    oi.add(_oi("BTC/USDT:USDT", 0.5, 1100.0))
    assert oi.change().value is None  # half an hour: not enough to say anything
    oi.add(_oi("BTC/USDT:USDT", 2.0, 1200.0))
    first = oi.change()
    assert first.value == pytest.approx(0.2) and first.span_hours == pytest.approx(2.0)
    for h in range(3, 31):
        oi.add(_oi("BTC/USDT:USDT", float(h), 1000.0 + 10 * h))
    later = oi.change()  # newest (30 h) against the newest sample >= 24 h older (6 h)
    assert later.value == pytest.approx(1300.0 / 1060.0 - 1.0)
    assert later.span_hours == pytest.approx(24.0)


def test_open_interest_history_of_minute_polls_keeps_the_24h_reference_in_24_bytes_a_poll() -> None:
    oi = OpenInterestHistory()
    symbols = [f"A{i}/USDT:USDT" for i in range(20)]
    tracemalloc.start()
    try:
        for m in range(30 * 60):  # 30 h of one-minute polls: the oldest 6 h are dropped
            for sym in symbols:
                oi.add(_oi(sym, m / 60, 1000.0 + m))
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    kept = len(oi)
    assert kept == 20 * (24 * 60 + 1)  # the window and its reference
    assert held / kept < 32  # ~150 bytes a poll as (ts, value, amount) tuples
    later = oi.change()  # newest (30 h) against the sample exactly 24 h older (6 h)
    assert later.value == pytest.approx((1000.0 + 1799) / (1000.0 + 1799 - 1440) - 1.0)
    assert later.span_hours == pytest.approx(24.0)


def test_open_interest_change_is_weighted_by_reference_value() -> None:
    oi = OpenInterestHistory()
    oi.add(_oi("A", 0.0, 1000.0))
    oi.add(_oi("A", 2.0, 1100.0))  # +10 %, weight 1000
    oi.add(_oi("B", 0.0, 3000.0))
    oi.add(_oi("B", 2.0, 2700.0))  # -10 %, weight 3000
    assert oi.change().value == pytest.approx((0.1 * 1000 - 0.1 * 3000) / 4000)
    amounts = OpenInterestHistory()
    amounts.add(_oi("A", 0.0, None, 10.0))
    amounts.add(_oi("A", 2.0, None, 12.0))
    assert amounts.change().value == pytest.approx(0.2)  # no values: equal weights


def _ticker(symbol: str, change: float) -> Ticker:
    return Ticker(exchange="spot", symbol=symbol, last=1.0, change_pct=change, ts=0, recv_ts=0.0)


def test_sentiment_reports_every_component_and_the_regime_uses_correlation() -> None:
    tickers = [_ticker("BTC/USDT", -5.0), _ticker("ETH/USDT", -7.0), _ticker("SOL/USDT", -9.0)]
    tickers.append(_ticker("DOGE/USDT", 1.0))
    funding = [
        Funding(
            exchange="perp",
            symbol=s,
            rate=r,
            mark_price=1.0,
            index_price=None,
            next_funding_ts=None,
            ts=0,
            recv_ts=0.0,
        )
        for s, r in (("BTC/USDT:USDT", 0.0003), ("ETH/USDT:USDT", -0.0001))
    ]
    oi = [_oi("BTC/USDT:USDT", 0.0, 3000.0), _oi("ETH/USDT:USDT", 0.0, 1000.0)]
    window = RegimeWindow(
        exchange="spot",
        timeframe="1h",
        window="7d",
        benchmark="BTC/USDT",
        benchmark_volatility=1.0,
        correlations={"BTC/USDT": 1.0, "ETH/USDT": 0.9, "SOL/USDT": 0.8, "DOGE/USDT": None},
    )
    sent, regime, doc = build(
        exchange="spot",
        tickers=tickers,
        benchmark="BTC/USDT",
        funding=funding,
        open_interest=oi,
        oi_change=OpenInterestHistory().change(),
        flow=(100.0, 300.0, 12),
        regime_window=window,
        now=42.0,
    )
    comps = {c.name: c for c in sent.components}
    assert [c.name for c in sent.components] == [r.name for r in analytics.COMPONENT_RULES]
    assert comps["funding_rate"].value == pytest.approx((0.0003 * 3000 - 0.0001 * 1000) / 4000)
    assert comps["breadth"].value == pytest.approx(0.25)
    assert comps["volatility"].value == 1.0 and comps["volatility"].score == -1.0
    assert comps["flow_imbalance"].value == pytest.approx(-0.5)
    assert comps["oi_change"].value is None and comps["oi_change"].weight == 0.0
    assert comps["long_short_ratio"].weight == 0.0
    assert math.isclose(sum(c.weight for c in sent.components), 1.0)
    assert sent.score is not None and -1.0 <= sent.score <= 1.0 and sent.computed_at == 42.0
    # BTC -5 %, breadth 0.25, alts move with BTC (mean corr 0.85): correlated sell-off
    assert regime.label == "correlated sell-off" and regime.rule == "correlated_selloff"
    assert regime.inputs["avg_correlation"] == pytest.approx(0.85)
    assert doc["regime"]["explanation"].startswith("btc_change_pct=-5 <= -3")
    assert doc["regime"]["inputs"]["btc_change_pct"] == pytest.approx(-5.0)
    assert doc["index"] == pytest.approx(50 * (sent.score + 1))
    assert doc["sources"]["funding_rate"] == {"symbols": 2, "weighting": "open_interest"}


def test_sentiment_without_any_input_is_unknown() -> None:
    sent, regime, _ = build(
        exchange=None,
        tickers=[],
        benchmark="BTC/USDT",
        funding=[],
        open_interest=[],
        oi_change=OpenInterestHistory().change(),
        flow=(0.0, 0.0, 0),
        regime_window=None,
        now=0.0,
    )
    assert sent.score is None and sent.label == "unknown" and regime.label == "unknown"
