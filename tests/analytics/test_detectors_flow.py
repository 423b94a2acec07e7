"""Whale trades, same-side bursts, walls, imbalance, beta changes and funding extremes
against naive reference implementations."""

from __future__ import annotations

import math
import statistics

import numpy as np

from virtuoso_daemon.analytics.detectors import (
    beta_changes,
    book_imbalance,
    funding_severity,
    log_size_stats,
    same_side_sums,
    wall_levels,
    wall_outcome,
    whale_mask,
)


def test_log_size_stats_are_median_and_scaled_mad_of_logs() -> None:
    rng = np.random.default_rng(1)
    values = rng.lognormal(8, 1.0, 2000)
    values[:5] = [0.0, -1.0, np.nan, np.inf, 1e9]  # junk and one whale
    med, sig = log_size_stats(values)
    logs = [math.log(x) for x in values if math.isfinite(x) and x > 0]
    ref_med = statistics.median(logs)
    ref_sig = 1.4826 * statistics.median(abs(x - ref_med) for x in logs)
    assert math.isclose(med, ref_med) and math.isclose(sig, ref_sig)
    assert abs(sig - 1.0) < 0.1  # robust: the whale does not inflate it


def test_log_size_stats_need_enough_trades() -> None:
    assert all(math.isnan(x) for x in log_size_stats(np.ones(10), min_obs=30))


def test_whale_mask_needs_both_the_usd_line_and_the_sigma_line() -> None:
    med, sig = math.log(1000.0), 1.0
    values = np.array([500.0, 150_000.0, 1000 * math.exp(5.0), 1000 * math.exp(3.0), 2e6])
    got = whale_mask(values, med, sig, min_usd=100_000, k_sigma=4.5)
    ref = [v >= 100_000 and (math.log(v) - med) / sig >= 4.5 for v in values]
    assert got.tolist() == ref == [False, True, True, False, True]


def test_whale_mask_modes_usd_only_and_unknown_statistics() -> None:
    values = np.array([50_000.0, 150_000.0])
    assert whale_mask(values, 0.0, 1.0, min_usd=100_000, k_sigma=0).tolist() == [False, True]
    # no statistics yet: only the USD line applies
    assert whale_mask(values, math.nan, math.nan, min_usd=100_000, k_sigma=4).tolist() == [
        False,
        True,
    ]


def ref_same_side(ts: list[float], vals: list[float], buy: list[bool], w: float) -> list[float]:
    return [
        sum(vals[j] for j in range(len(ts)) if buy[j] == buy[i] and ts[i] - w < ts[j] <= ts[i])
        for i in range(len(ts))
    ]


def test_same_side_sums_match_the_reference() -> None:
    rng = np.random.default_rng(2)
    ts = np.sort(rng.uniform(0, 100, 300))
    ts[50] = ts[49]  # same timestamp
    vals = rng.lognormal(5, 1, 300)
    buy = rng.random(300) < 0.6
    got = same_side_sums(ts, vals, buy, 10.0)
    np.testing.assert_allclose(got, ref_same_side(ts.tolist(), vals.tolist(), buy.tolist(), 10.0))


def test_wall_levels_find_the_largest_levels_above_the_median_ratio() -> None:
    amounts = np.array([1.0, 2.0, 1.5, 40.0, 1.2, 0.8, 25.0, 1.1, 60.0, 1.0])
    idx, ratios = wall_levels(amounts, min_ratio=10, top=2)
    med = statistics.median(amounts.tolist())
    ref = sorted((i for i, a in enumerate(amounts) if a / med >= 10), key=lambda i: -amounts[i])
    assert idx.tolist() == ref[:2] == [8, 3]
    np.testing.assert_allclose(ratios, amounts[[8, 3]] / med)
    assert wall_levels(np.ones(50), min_ratio=5)[0].size == 0


def test_wall_outcome_pulled_filled_or_out_of_view() -> None:
    # a bid wall at 95: the price came down to it -> filled; never reached -> pulled
    assert wall_outcome("bid", 95.0, best_bid=94.9, best_ask=95.1, view_edge=90) == "filled"
    assert wall_outcome("bid", 95.0, best_bid=99.0, best_ask=99.1, view_edge=90) == "pulled"
    assert wall_outcome("bid", 95.0, best_bid=120.0, best_ask=120.1, view_edge=96) == "out_of_view"
    assert wall_outcome("ask", 105.0, best_bid=105.0, best_ask=105.2, view_edge=110) == "filled"
    assert wall_outcome("ask", 105.0, best_bid=100.0, best_ask=100.1, view_edge=110) == "pulled"
    assert wall_outcome("ask", 105.0, best_bid=80.0, best_ask=80.1, view_edge=104) == "out_of_view"


def test_book_imbalance() -> None:
    assert book_imbalance(30.0, 10.0) == 0.5
    assert book_imbalance(0.0, 10.0) == -1.0
    assert math.isnan(book_imbalance(0.0, 0.0))


def test_beta_changes_flag_differences_at_or_above_the_threshold() -> None:
    ref = np.array([1.0, 1.2, np.nan, 0.9])
    cur = np.array([1.5, 1.25, 1.0, 0.4])
    diff, mask = beta_changes(ref, cur, 0.5)
    assert mask.tolist() == [True, False, False, True]
    np.testing.assert_allclose(diff, [0.5, 0.05, np.nan, 0.5], equal_nan=True)


def test_funding_severity_by_absolute_rate() -> None:
    assert funding_severity(0.0001, 0.001, 0.003) is None
    assert funding_severity(-0.0015, 0.001, 0.003) == "warning"
    assert funding_severity(0.003, 0.001, 0.003) == "critical"
    assert funding_severity(None, 0.001, 0.003) is None
