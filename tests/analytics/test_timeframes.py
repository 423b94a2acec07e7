"""Timeframes: candle length, periods per year (365-day 24/7 year) and windows."""

from __future__ import annotations

import pytest

from virtuoso_daemon.analytics.timeframes import (
    periods_per_year,
    timeframe_ms,
    timeframe_seconds,
    window_candles,
    window_spec,
)


@pytest.mark.parametrize(
    ("timeframe", "seconds"),
    [
        ("1m", 60),
        ("5m", 300),
        ("15m", 900),
        ("1h", 3600),
        ("4h", 14400),
        ("1d", 86400),
        ("1w", 604800),
    ],
)
def test_timeframe_seconds(timeframe: str, seconds: int) -> None:
    assert timeframe_seconds(timeframe) == seconds
    assert timeframe_ms(timeframe) == seconds * 1000


@pytest.mark.parametrize(
    ("timeframe", "per_year"),
    [
        ("1m", 525_600),
        ("5m", 105_120),
        ("15m", 35_040),
        ("30m", 17_520),
        ("1h", 8_760),
        ("4h", 2_190),
        ("12h", 730),
        ("1d", 365),
    ],
)
def test_periods_per_year_counts_a_365_day_24_7_year(timeframe: str, per_year: int) -> None:
    assert periods_per_year(timeframe) == per_year


def test_daily_candles_are_not_annualised_with_252_trading_days() -> None:
    assert periods_per_year("1d") == 365


def test_a_90_day_window_on_1h_needs_2160_candles_more_than_one_1000_candle_request() -> None:
    spec = window_spec("90d", "1h")
    assert spec.candles == 2160
    assert spec.closes_needed == 2161
    assert not spec.fits(1000)
    assert spec.requests(1000) == 3


@pytest.mark.parametrize(
    ("window", "timeframe", "candles"),
    [
        ("7d", "1h", 168),
        ("30d", "1h", 720),
        ("90d", "1h", 2160),
        ("30d", "4h", 180),
        ("90d", "4h", 540),
        ("90d", "1d", 90),
        ("1d", "5m", 288),
        ("2w", "1d", 14),
    ],
)
def test_window_candles(window: str, timeframe: str, candles: int) -> None:
    assert window_candles(window, timeframe) == candles


def test_a_window_that_is_not_a_whole_number_of_candles_is_rejected() -> None:
    with pytest.raises(ValueError, match="whole number"):
        window_candles("7d", "3d")


def test_a_window_shorter_than_one_candle_is_rejected() -> None:
    with pytest.raises(ValueError, match="shorter"):
        window_candles("1h", "1d")


@pytest.mark.parametrize("bad", ["", "h", "0h", "1M", "1y", "-1h", "1.5h", "1 hour"])
def test_invalid_durations_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        timeframe_seconds(bad)
