"""Pure parts of the feeds: backoff and Retry-After, normalisation, candle closing, symbols."""

from __future__ import annotations

import anyio
import ccxt.async_support as ccxt
import pytest

from virtuoso_daemon.core.config import ExchangeConfig
from virtuoso_daemon.feeds import normalize
from virtuoso_daemon.feeds.backoff import (
    Backoff,
    RateGate,
    error_kind,
    retry_after_seconds,
)
from virtuoso_daemon.feeds.context import chunked
from virtuoso_daemon.feeds.streams import stream_plan
from virtuoso_daemon.feeds.symbols import resolve, resolve_all, top_by_volume


def test_backoff_doubles_with_jitter_and_respects_the_cap() -> None:
    b = Backoff(1.0, 10.0, jitter=0.5)
    delays = [b.next() for _ in range(8)]
    for i, d in enumerate(delays[:4]):
        base = 2.0**i
        assert 0.5 * base <= d <= min(10.0, 1.5 * base)
    assert all(d <= 10.0 for d in delays)
    assert all(d >= 5.0 for d in delays[5:])  # at the cap, jitter only goes down to half
    b.reset()
    assert b.next() <= 1.5


def test_backoff_jitter_spreads_retries() -> None:
    values = {round(Backoff(1.0, 60.0).next(), 6) for _ in range(50)}
    assert len(values) > 40


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"Content-Type": "x"}, None),
        (None, None),
        ({"Retry-After": "garbage"}, None),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past
    ],
)
def test_retry_after_parsing(headers: dict[str, str] | None, expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


async def test_rate_gate_holds_every_caller_until_it_opens() -> None:
    gate = RateGate()
    gate.close_for(0.2)
    gate.close_for(0.05)  # never shortens
    started = anyio.current_time()
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(gate.wait)
    assert anyio.current_time() - started >= 0.19
    assert gate.remaining() == 0


def test_error_kinds() -> None:
    assert error_kind(ccxt.DDoSProtection("418")) == "rate_limit"
    assert error_kind(ccxt.RateLimitExceeded("429")) == "rate_limit"
    assert error_kind(ccxt.RequestTimeout("t")) == "timeout"
    assert error_kind(ccxt.ExchangeNotAvailable("503")) == "unavailable"
    assert error_kind(ccxt.BadResponse("x")) == "bad_response"
    assert error_kind(ccxt.NetworkError("x")) == "network"
    assert error_kind(ccxt.ExchangeError("x")) == "exchange"
    assert error_kind(RuntimeError("x")) == "other"


def test_ticker_normalisation() -> None:
    raw = {
        "symbol": "BTC/USDT",
        "timestamp": 1_700_000_000_000,
        "last": 65000.5,
        "bid": 65000.0,
        "ask": 65001.0,
        "bidVolume": 1.5,
        "askVolume": None,
        "percentage": -1.2,
        "quoteVolume": 1e9,
    }
    t = normalize.ticker("sim", "spot", raw, 1_700_000_000.5)
    assert t is not None
    assert (t.symbol, t.last, t.bid, t.ask, t.bid_size, t.ask_size) == (
        "BTC/USDT",
        65000.5,
        65000.0,
        65001.0,
        1.5,
        None,
    )
    assert t.ts == 1_700_000_000_000 and t.recv_ts == 1_700_000_000.5
    assert normalize.ticker("sim", "spot", {"symbol": "X/USDT"}, 1.0) is None
    no_ts = normalize.ticker("sim", "spot", {"symbol": "X/USDT", "close": 2}, 3.0)
    assert no_ts is not None and no_ts.ts == 3000 and no_ts.last == 2.0


def test_trade_normalisation() -> None:
    raw = {
        "symbol": "ETH/USDT",
        "id": 17,
        "price": 3000,
        "amount": 2,
        "side": "sell",
        "timestamp": 5,
    }
    t = normalize.trade("sim", raw, 1.0)
    assert t is not None and (t.id, t.price, t.amount, t.side, t.ts) == (
        "17",
        3000.0,
        2.0,
        "sell",
        5,
    )
    odd = normalize.trade("sim", {**raw, "side": None, "id": None}, 1.0)
    assert odd is not None and odd.side is None and odd.id


def test_order_book_top_levels_and_depth_band() -> None:
    book = {
        "bids": [[100.0, 1.0], [99.5, 2.0], [99.0, 3.0], [98.0, 50.0]],
        "asks": [[101.0, 1.0], [101.5, 2.0], [102.5, 5.0]],
        "timestamp": 42,
    }
    top = normalize.order_book_top("sim", "X/USDT", book, 1.0, levels=2, depth_pct=1.0)
    assert top is not None
    assert top.bids == [(100.0, 1.0), (99.5, 2.0)] and top.asks == [(101.0, 1.0), (101.5, 2.0)]
    assert top.mid == 100.5 and top.spread == 1.0 and top.ts == 42
    # band: 100.5 +- 1 % = [99.495, 101.505]
    assert top.bid_depth == 3.0 and top.ask_depth == 3.0
    assert normalize.order_book_top("sim", "X/USDT", {"bids": [], "asks": []}, 1.0) is None
    one_sided = normalize.order_book_top("sim", "X/USDT", {"bids": [[1, 2]], "asks": []}, 1.0)
    assert one_sided is not None and one_sided.mid is None and one_sided.bid_depth == 0.0


def test_candle_tracker_closes_a_candle_when_a_newer_one_appears() -> None:
    tr = normalize.CandleTracker("sim")
    out = tr.update("A", "1m", [(0, 1, 2, 0.5, 1.5, 10)], 1.0)
    assert [(c.open_time, c.closed) for c in out] == [(0, False)]
    out = tr.update("A", "1m", [(0, 1, 3, 0.5, 2.5, 12)], 2.0)
    assert [(c.open_time, c.close, c.closed) for c in out] == [(0, 2.5, False)]
    # the next candle opens: the previous one is published closed with its last values
    out = tr.update("A", "1m", [(60, 2.5, 2.6, 2.4, 2.6, 1)], 3.0)
    assert [(c.open_time, c.close, c.closed) for c in out] == [(0, 2.5, True), (60, 2.6, False)]
    # a late final update of the closed candle is published closed again
    out = tr.update("A", "1m", [(0, 1, 3, 0.5, 2.7, 13)], 4.0)
    assert [(c.open_time, c.close, c.closed) for c in out] == [(0, 2.7, True)]
    # REST-style: several rows at once, oldest first
    out = tr.update(
        "A",
        "1m",
        [(60, 2.5, 2.6, 2.4, 2.8, 2), (120, 2.8, 2.9, 2.7, 2.9, 1), (180, 2.9, 3.0, 2.8, 3.0, 1)],
        5.0,
    )
    assert [(c.open_time, c.closed) for c in out] == [(60, True), (120, True), (180, False)]
    assert tr.current_open_time("A", "1m") == 180
    tr.seed("A", "1m", (120, 0, 0, 0, 0, 0))  # older seed is ignored
    assert tr.current_open_time("A", "1m") == 180


def test_rows_are_cleaned_and_sorted() -> None:
    rows = normalize.rows(
        [
            [120, "1", "2", "0.5", "1.5", "3"],
            [60, 1, 2, 0.5, None, 1],
            [0, None, None, None, 5, None],
        ]
    )
    assert rows == [(0, 5.0, 5.0, 5.0, 5.0, 0.0), (120, 1.0, 2.0, 0.5, 1.5, 3.0)]


def test_chunked_splits_evenly() -> None:
    assert chunked([], 3) == []
    assert chunked(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert [len(c) for c in chunked([str(i) for i in range(250)], 200)] == [125, 125]


MARKETS = {
    "BTC/USDT": {"symbol": "BTC/USDT", "id": "BTCUSDT", "spot": True, "quote": "USDT"},
    "ETH/USDT": {"symbol": "ETH/USDT", "id": "ETHUSDT", "spot": True, "quote": "USDT"},
    "ETH/BTC": {"symbol": "ETH/BTC", "id": "ETHBTC", "spot": True, "quote": "BTC"},
    "OLD/USDT": {
        "symbol": "OLD/USDT",
        "id": "OLDUSDT",
        "spot": True,
        "quote": "USDT",
        "active": False,
    },
    "BTC/USDT:USDT": {
        "symbol": "BTC/USDT:USDT",
        "id": "BTCUSDT",
        "swap": True,
        "linear": True,
        "quote": "USDT",
    },
}


def test_symbol_resolution_accepts_common_spellings() -> None:
    spot = ExchangeConfig(name="s", symbols=["BTC/USDT"])
    perp = ExchangeConfig(name="p", market="linear", symbols=["BTC/USDT"])
    assert resolve(MARKETS, spot, "btc/usdt") == "BTC/USDT"
    assert resolve(MARKETS, spot, "BTC-USDT") == "BTC/USDT"
    assert resolve(MARKETS, spot, "ETHUSDT") == "ETH/USDT"
    assert resolve(MARKETS, spot, "OLD/USDT") is None
    assert resolve(MARKETS, spot, "BTC/USDT:USDT") is None
    assert resolve(MARKETS, perp, "BTC/USDT") == "BTC/USDT:USDT"
    assert resolve(MARKETS, perp, "BTCUSDT") == "BTC/USDT:USDT"
    assert resolve_all(MARKETS, spot, ["ETH/USDT", "NOPE/USDT", "eth-usdt"]) == (
        ["ETH/USDT"],
        ["NOPE/USDT"],
    )


def test_top_n_by_quote_volume() -> None:
    cfg = ExchangeConfig(name="s", top_n=1)
    tickers = {
        "BTC/USDT": {"quoteVolume": 5.0},
        "ETH/USDT": {"baseVolume": 10, "last": 1.0},
        "ETH/BTC": {"quoteVolume": 1e9},
    }
    assert top_by_volume(MARKETS, tickers, cfg) == ["ETH/USDT"]
    assert top_by_volume(MARKETS, tickers, ExchangeConfig(name="s", top_n=5)) == [
        "ETH/USDT",
        "BTC/USDT",
    ]


class _Has:
    def __init__(self, **has: object) -> None:
        self.has = has


def test_stream_plan_prefers_multi_symbol_watchers_and_falls_back() -> None:
    full = _Has(
        watchTickers=True,
        watchOHLCVForSymbols=True,
        watchTradesForSymbols=True,
        watchOrderBookForSymbols=True,
    )
    assert stream_plan(full, "tickers", 4) == ("watchTickers", 200)
    assert stream_plan(full, "ohlcv", 4) == ("watchOHLCVForSymbols", 50)
    assert stream_plan(full, "orderbook", 4) == ("watchOrderBookForSymbols", 200)
    single = _Has(watchTicker=True, watchOHLCV=True, watchTrades=True, watchOrderBook="emulated")
    assert stream_plan(single, "tickers", 1) == ("watchTicker", 1)
    assert stream_plan(single, "ohlcv", 2) == ("watchOHLCV", 1)
    assert stream_plan(single, "orderbook", 1) is None  # only a real watcher counts
    assert stream_plan(_Has(), "trades", 1) is None  # REST polling then
