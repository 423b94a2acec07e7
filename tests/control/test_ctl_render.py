"""How ``virtuoso-ctl`` shows numbers, times, feeds and events (the renderers, in-process).

Each case is something a new user tripped over: betas rounded to one digit, epoch
times and volumes in exponent notation, a 700-column ``feeds list``, raw JSON from
``watch trades``.
"""

from __future__ import annotations

import argparse
import time

from virtuoso_daemon.core.messages import OrderBookTop, Trade
from virtuoso_daemon.ctl.render import (
    describe_event,
    render_beta,
    render_correlation,
    render_feed_change,
    render_feeds,
    render_status,
    render_tickers,
)
from virtuoso_daemon.ctl.tables import auto, fmt_age, fmt_compact, fmt_num, fmt_time
from virtuoso_daemon.protocol import Event

NS = argparse.Namespace()


def _beta_answer() -> dict[str, object]:
    row = {
        "symbol": "ETH/USDT",
        "beta": 0.766,
        "correlation": 0.724,
        "r_squared": 0.524,
        "volatility": 0.61,
        "downside_beta": 0.812,
        "n_obs": 720,
        "risk_bucket": "medium",
    }
    return {"timeframe": "1h", "window": "30d", "benchmark": "BTC/USDT", "rows": [row]}


def test_betas_and_correlations_keep_three_decimals() -> None:
    text = render_beta(_beta_answer(), NS)
    line = text.splitlines()[-1].split()
    assert line[:3] == ["ETH/USDT", "0.766", "0.724"]
    assert "0.524" in line and "0.812" in line


def test_correlation_cells_keep_three_decimals_in_display_order() -> None:
    answer = {
        "exchange": "sim-spot",
        "timeframe": "1h",
        "window": "30d",
        "symbols": ["ETH/USDT", "BTC/USDT"],  # already in display order
        "matrix": [[1.0, 0.724], [0.724, 1.0]],
        "order": [1, 0],  # indices into "input": must not be applied again
        "input": ["BTC/USDT", "ETH/USDT"],
    }
    lines = render_correlation(answer, NS).splitlines()
    assert "on sim-spot" in lines[0] and "2 symbols" in lines[0]
    assert lines[1].split() == ["ETH", "BTC"]
    assert lines[2].split() == ["ETH", "+1.000", "+0.724"]


def test_numbers_never_print_in_exponent_notation() -> None:
    assert fmt_num(19.991327000000002) == "19.991327"
    assert fmt_num(273_800_000.0) == "273,800,000"
    assert fmt_num(0.0051600000000000005) == "0.00516"
    assert fmt_num(64_123.5) == "64,123.5"
    assert "e" not in fmt_num(0.00001234)


def test_volumes_in_k_m_b() -> None:
    assert fmt_compact(273_800_000.0) == "273.8M"
    assert fmt_compact(1_250_000_000) == "1.25B"
    assert fmt_compact(950.0) == "950"
    assert fmt_compact(12_345.0) == "12.35K"


def test_times_as_local_iso_and_ages() -> None:
    ts = 1_796_398_400.0
    expected = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
    assert fmt_time(ts) == expected
    assert fmt_time(int(ts * 1000)) == expected  # exchange times are milliseconds
    assert fmt_age(ts - 200, now=ts) == "3m20s ago"


def test_generic_tables_format_fields_by_name() -> None:
    now = time.time()
    text = auto({"updated": now, "quote_volume": 2.738e8, "uptime": 4000.0, "beta": 0.7661})
    assert "e+" not in text
    assert time.strftime("%Y-%m-%d", time.localtime(now)) in text
    assert "273.8M" in text and "1h06m" in text and "0.766" in text


def test_tickers_show_volume_compact_and_age() -> None:
    row = {
        "exchange": "sim-spot",
        "symbol": "BTC/USDT",
        "last": 64123.5,
        "change_pct": 1.5,
        "bid": 64123.0,
        "ask": 64124.0,
        "quote_volume": 2.738e8,
        "recv_ts": time.time() - 2,
    }
    line = render_tickers({"tickers": [row]}, NS).splitlines()[1]
    assert "273.8M" in line and "64,123.5" in line and "s ago" in line


def _feed(symbols: int) -> dict[str, object]:
    return {
        "exchange": "sim-spot",
        "market": "spot",
        "state": "connected",
        "symbols": [f"C{i}/USDT" for i in range(symbols)],
        "paused_symbols": ["C1/USDT"],
        "modes": {"tickers": "stream", "ohlcv": "rest"},
        "latency_ms": 3.25,
        "last_message_ts": time.time(),
        "errors": {"timeout": 2},
        "detail": "",
    }


def test_feeds_list_counts_symbols_and_lists_them_on_request() -> None:
    text = render_feeds([_feed(60)], argparse.Namespace(symbols=False))
    assert max(len(line) for line in text.splitlines()) < 160
    row = text.splitlines()[1].split()
    assert row[:5] == ["sim-spot", "spot", "connected", "60", "1"]
    listed = render_feeds([_feed(3)], argparse.Namespace(symbols=True))
    assert "sim-spot: C0/USDT, C1/USDT (paused), C2/USDT" in listed


def test_watch_trades_and_orderbook_are_lines_not_json() -> None:
    now = time.time()
    trade = Trade(
        exchange="sim-spot",
        symbol="BTC/USDT",
        id="1",
        price=64123.5,
        amount=0.25,
        side="buy",
        ts=int(now * 1000),
        recv_ts=now,
    )
    book = OrderBookTop(
        exchange="sim-spot",
        symbol="BTC/USDT",
        bids=[(64123.0, 1.5)],
        asks=[(64124.0, 2.0)],
        bid_depth=12.0,
        ask_depth=9.5,
        depth_pct=1.0,
        spread=1.0,
        mid=64123.5,
        ts=int(now * 1000),
        recv_ts=now,
    )
    t = describe_event(Event(topic="trades", data=trade))
    b = describe_event(Event(topic="orderbook", data=book))
    for line in (t, b):
        assert "{" not in line and "sim-spot BTC/USDT" in line
    assert "buy" in t and "0.25 @" in t and "64,123.5" in t
    assert "bid 1.5 @ 64,123" in b and "ask 2 @ 64,124" in b


def test_status_shows_actor_stats_times_as_times() -> None:
    now = time.time()
    doc = {
        "version": "1.0",
        "uptime": 4000.0,
        "actors": [],
        "bus": {},
        "stats": {"ticker_cache": {"since": now, "last_error_ts": now, "writes": 1234567}},
    }
    text = render_status(doc, NS)
    line = next(x for x in text.splitlines() if x.startswith("ticker_cache:"))
    assert "e+09" not in line and "1,796" not in line
    assert f"since={time.strftime('%Y-%m-%d', time.localtime(now))}" in line
    assert "writes=1,234,567" in line


def test_status_shows_nested_actor_stats_as_indented_lines_not_json() -> None:
    now = time.time()
    feed = {
        "state": "connected",
        "symbols": 41,
        "modes": {"tickers": "stream", "trades": "rest"},
        "errors": {},
        "backfill": {"series_done": 41, "pages": 1234567},
        "last_by_kind": {"open_interest": now},  # a time, not a volume
        "pending": ["sim-spot/1h"],
    }
    alerts = {
        "open": 2,
        "destinations": {"hook": {"sent": 3, "outbox": {"pending": 1, "dropped": 0}}},
    }
    backups = {"last": {"full": {"id": "full-1", "finished_at": now, "size": 2048}}}
    doc = {
        "version": "1.0",
        "uptime": 10.0,
        "actors": [],
        "bus": {},
        "stats": {"feeds:sim-spot": feed, "alerts": alerts, "backup": backups},
    }
    lines = render_status(doc, NS).splitlines()
    assert not [x for x in lines if "{" in x or '"' in x], "stats printed as JSON"
    head = "feeds:sim-spot: state=connected, symbols=41, errors=-, pending=sim-spot/1h"
    start = lines.index(head)
    day = time.strftime("%Y-%m-%d", time.localtime(now))
    assert lines[start + 1 : start + 3] == [
        "  modes: tickers=stream, trades=rest",
        "  backfill: series_done=41, pages=1,234,567",
    ]
    assert lines[start + 3].startswith(f"  last_by_kind: open_interest={day}")
    start = lines.index("alerts: open=2")
    assert lines[start + 1 : start + 4] == [
        "  destinations:",
        "    hook: sent=3",
        "      outbox: pending=1, dropped=0",
    ]
    assert any(x.startswith("    full: id=full-1, finished_at=" + day) for x in lines)


def test_feed_changes_are_one_line() -> None:
    status = {**_feed(41), "exchange": "sim-perp", "state": "paused", "paused_symbols": []}
    assert render_feed_change(status, NS) == "sim-perp: paused, 41 symbols"
    removed = {"exchange": "sim-spot", "removed": ["DOGE/USDT"], "symbols": ["BTC/USDT"]}
    assert render_feed_change(removed, NS) == (
        "removed DOGE/USDT on sim-spot; it watches 1 symbols"
    )


def test_feeds_show_missing_candles_and_unknown_symbols() -> None:
    feed = {
        **_feed(3),
        "gaps": {
            "C2/USDT": {"1h": [{"start": 0, "end": 7_200_000, "missing": 2, "where": "head"}]}
        },
        "unknown_symbols": ["FOO/USDT"],
    }
    header, row = render_feeds([feed], argparse.Namespace(symbols=False)).splitlines()[:2]
    assert header.split()[-2:] == ["GAPS", "DETAIL"] and row.split()[-1] == "2"
    listed = render_feeds([feed], argparse.Namespace(symbols=True))
    assert "C2/USDT (gaps), FOO/USDT (unknown)" in listed
