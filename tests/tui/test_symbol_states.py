"""The feeds screen's symbols table: backfill gaps and unknown symbols are visible."""

from __future__ import annotations

from tui.screens.system import symbol_states
from virtuoso_daemon.core.messages import CandleGap, FeedStatus


def test_gaps_and_unknown_symbols_have_their_own_state() -> None:
    feed = FeedStatus(
        exchange="okx",
        state="connected",
        symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT"],
        paused_symbols=["SOL/USDT"],
        gaps={"ETH/USDT": {"1h": [CandleGap(start=0, end=3_600_000, missing=1, where="head")]}},
        unknown_symbols=["FOO/USDT"],
        ts=0.0,
    )
    assert symbol_states(feed) == [
        ("BTC/USDT", "active"),
        ("ETH/USDT", "gaps"),
        ("SOL/USDT", "paused"),
        ("FOO/USDT", "unknown"),
    ]
