"""Price moves, volatility breakouts, volume spikes and the manipulation score against
naive per-symbol loops (the reference implementations)."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from virtuoso_daemon.analytics.detectors import (
    manipulation_score,
    pct_moves,
    volatility_ratio,
    volume_ratio,
)
from virtuoso_daemon.analytics.detectors.manipulation import ManipulationWeights


def _walk(rng: np.random.Generator, n: int, s: int, vol: float = 0.002) -> np.ndarray:
    return 100.0 * np.exp(np.cumsum(rng.normal(0, vol, (n, s)), axis=0))


def ref_moves(closes: np.ndarray, lags: list[int]) -> list[list[float]]:
    out = []
    for lag in lags:
        row = []
        for j in range(closes.shape[1]):
            if lag >= closes.shape[0]:
                row.append(math.nan)
                continue
            a, b = closes[-1 - lag, j], closes[-1, j]
            row.append(100 * (b / a - 1) if a > 0 and math.isfinite(a * b) else math.nan)
        out.append(row)
    return out


def test_price_moves_match_the_reference_with_gaps() -> None:
    rng = np.random.default_rng(1)
    closes = _walk(rng, 80, 6)
    closes[-6, 2] = np.nan  # a missing candle 5 back
    closes[-61, 4] = np.nan
    lags = [5, 15, 60, 100]
    got = pct_moves(closes, lags)
    np.testing.assert_allclose(got, np.array(ref_moves(closes, lags)), equal_nan=True)
    assert np.isnan(got[0, 2]) and np.isnan(got[2, 4]) and np.isnan(got[3]).all()


def ref_vol_ratio(closes: np.ndarray, recent: int, baseline: int, min_obs: int) -> list[float]:
    out = []
    for j in range(closes.shape[1]):
        c = closes[-(recent + baseline + 1) :, j]
        r = [math.log(c[i] / c[i - 1]) for i in range(1, len(c))]
        base = [x for x in r[:-recent] if math.isfinite(x)]
        rec = [x for x in r[-recent:] if math.isfinite(x)]
        if len(base) < min_obs or not rec:
            out.append(math.nan)
            continue
        rb = math.sqrt(sum(x * x for x in base) / len(base))
        rr = math.sqrt(sum(x * x for x in rec) / len(rec))
        out.append(rr / rb if rb > 0 else math.nan)
    return out


def test_volatility_ratio_matches_the_reference() -> None:
    rng = np.random.default_rng(2)
    closes = _walk(rng, 120, 5)
    closes[-3:, 1] *= np.array([1.03, 0.97, 1.05])  # a burst of volatility
    closes[-30, 3] = np.nan
    got = volatility_ratio(closes, recent=5, baseline=60, min_obs=20)
    np.testing.assert_allclose(got, ref_vol_ratio(closes, 5, 60, 20), equal_nan=True)
    assert got[1] > 3 and np.nanmax(np.delete(got, 1)) < 3


def test_volatility_ratio_is_nan_without_enough_history() -> None:
    closes = _walk(np.random.default_rng(3), 20, 2)
    assert np.isnan(volatility_ratio(closes, recent=5, baseline=60, min_obs=20)).all()


def ref_volume_ratio(vols: np.ndarray, baseline: int, min_obs: int) -> list[float]:
    out = []
    for j in range(vols.shape[1]):
        base = [x for x in vols[-1 - baseline : -1, j] if math.isfinite(x)]
        if len(base) < min_obs:
            out.append(math.nan)
            continue
        med = statistics.median(base)
        out.append(vols[-1, j] / med if med > 0 else math.nan)
    return out


def test_volume_ratio_matches_the_reference() -> None:
    rng = np.random.default_rng(4)
    vols = rng.lognormal(3, 0.5, (90, 5))
    vols[-1, 0] *= 20
    vols[10:40, 2] = np.nan
    vols[:, 4] = 0.0
    got = volume_ratio(vols, baseline=60, min_obs=20)
    np.testing.assert_allclose(got, ref_volume_ratio(vols, 60, 20), equal_nan=True)
    assert got[0] > 10 and np.isnan(got[4])


def ref_window_score(
    c: np.ndarray, v: np.ndarray, o: np.ndarray, w: int, baseline: int, wt: ManipulationWeights
) -> float:
    oi = 100 * (o[-1] / o[-1 - w] - 1)
    pr = 100 * (c[-1] / c[-1 - w] - 1)
    med = statistics.median(v[-w - baseline : -w])
    vm = sum(v[-w:]) / (w * med)
    div = abs(oi) if oi * pr < 0 else max(0.0, abs(oi) - abs(pr))
    g = math.sqrt(w / 15)

    def clip(x: float) -> float:
        return min(1.0, max(0.0, x))

    return (
        wt.oi_change * clip(abs(oi) / (wt.oi_scale * g))
        + wt.volume * clip((vm - 1) / (wt.volume_scale - 1))
        + wt.price * clip(abs(pr) / (wt.price_scale * g))
        + wt.divergence * clip(div / (wt.divergence_scale * g))
    )


def test_manipulation_score_matches_the_reference_on_every_window() -> None:
    rng = np.random.default_rng(5)
    n = 200
    c = _walk(rng, n, 1, 0.001)[:, 0]
    v = rng.lognormal(2, 0.4, n)
    o = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    # a pump: OI +12 % over the last 10 minutes while price slips, then volume
    o[-10:] *= np.linspace(1.01, 1.12, 10)
    c[-10:] *= np.linspace(0.999, 0.99, 10)
    v[-5:] *= 8
    wt = ManipulationWeights()
    got = manipulation_score(c, v, o, (5, 15, 60), baseline=60, weights=wt)
    for w in (5, 15, 60):
        assert got.windows[w] == pytest.approx(ref_window_score(c, v, o, w, 60, wt))
    assert got.window is not None
    assert got.score == pytest.approx(max(got.windows.values()))
    assert [cm.name for cm in got.components] == ["oi_change", "volume", "price", "divergence"]
    assert sum(cm.weight for cm in got.components) == pytest.approx(1.0)
    assert got.score > 0.8


def test_manipulation_score_of_a_quiet_market_is_low() -> None:
    rng = np.random.default_rng(6)
    n = 200
    c = _walk(rng, n, 1, 0.0005)[:, 0]
    v = rng.lognormal(2, 0.3, n)
    o = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.0003, n)))
    assert manipulation_score(c, v, o).score < 0.3


def test_manipulation_score_without_open_interest_is_nan() -> None:
    c = np.linspace(100, 101, 100)
    v = np.ones(100)
    o = np.full(100, np.nan)
    got = manipulation_score(c, v, o)
    assert math.isnan(got.score) and got.window is None and got.components == ()
