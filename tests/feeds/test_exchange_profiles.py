"""Each exchange profile's quirk, proven on ccxt's own exchange class fed real frames.

No network: the markets are set from unified market dicts, websocket frames (in the
exchange's documented shape) go straight into ccxt's ``handle_message``, and a
depth check that passes ccxt's validation reaches the connect step (a closed local
port) instead of raising ``BadRequest``.
"""

from __future__ import annotations

from typing import Any

import ccxt.pro as pro
import pytest
from ccxt.async_support.base.ws.client import Client
from ccxt.base.errors import AuthenticationError, BadRequest, NetworkError

from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import ExchangeConfig, load_config
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.feeds.cache_scan import CacheScan
from virtuoso_daemon.feeds.ccxt_factory import ccxt_config
from virtuoso_daemon.feeds.context import FeedContext
from virtuoso_daemon.feeds.exchanges import DEFAULT, profile_for
from virtuoso_daemon.feeds.polling import BOOK_LIMIT
from virtuoso_daemon.feeds.trade_cache import HookedTrades

CLOSED = "ws://127.0.0.1:9"  # nothing listens: reaching it means ccxt accepted the call


def market(mid: str, symbol: str, kind: str) -> dict[str, Any]:
    swap = kind == "swap"
    base, quote = symbol.split(":")[0].split("/")
    return {
        "id": mid,
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "baseId": base,
        "quoteId": quote,
        "type": kind,
        "spot": not swap,
        "swap": swap,
        "future": False,
        "option": False,
        "margin": False,
        "contract": swap,
        "linear": True if swap else None,
        "inverse": False if swap else None,
        "settle": quote if swap else None,
        "settleId": quote if swap else None,
        "contractSize": 1.0 if swap else None,
        "active": True,
        "precision": {"price": 0.01, "amount": 0.001},
        "limits": {},
        "info": {},
    }


def noop(*_: Any) -> None:
    return None


def _context(
    ex: Any, ccxt_id: str, symbols: list[str], market_type: str = "spot"
) -> tuple[FeedContext, list[Any]]:
    rt = Runtime(config=load_config(None, environ={}))
    cfg = ExchangeConfig(name=ccxt_id, ccxt_id=ccxt_id, market=market_type, symbols=symbols)  # type: ignore[arg-type]
    ctx = FeedContext(rt, cfg)
    ctx.rest = ex
    ctx.set_symbols(symbols)
    seen: list[Any] = []
    rt.bus.tap(Topics.TRADES, seen.append)
    return ctx, seen


def _hooked(ex: Any, ccxt_id: str, symbol: str, market_type: str = "spot") -> list[Any]:
    ctx, seen = _context(ex, ccxt_id, [symbol], market_type)
    scan = CacheScan(ctx, ex, [symbol])
    assert ctx.profile.trade_hook and scan.hook_trades(noop)
    assert isinstance(ex.trades[symbol], HookedTrades)
    return seen


# --- bybit ---------------------------------------------------------------------------


def bybit() -> Any:
    ex = pro.bybit({"urls": {"api": {"ws": {"public": {"spot": f"{CLOSED}/v5/public/spot"}}}}})
    ex.set_markets([market("BTCUSDT", "BTC/USDT", "spot")])
    return ex


def bybit_trades(first_id: int, n: int) -> dict[str, Any]:
    return {
        "topic": "publicTrade.BTCUSDT",
        "type": "snapshot",
        "ts": 1672304486868,
        "data": [
            {
                "T": 1672304486865 + i,
                "s": "BTCUSDT",
                "S": "Buy",
                "v": "0.001",
                "p": "16578.50",
                "L": "PlusTick",
                "i": f"t{first_id + i}",
                "BT": False,
            }
            for i in range(n)
        ],
    }


async def test_bybit_rejects_the_feeds_book_depth_and_its_profile_picks_one_it_accepts() -> None:
    ex = bybit()
    try:
        with pytest.raises(BadRequest, match=r"\[1,50,200,1000\]"):
            await ex.watch_order_book_for_symbols(["BTC/USDT"], BOOK_LIMIT)
        depth = profile_for("bybit").book_depth("spot", BOOK_LIMIT)
        assert depth == 200
        with pytest.raises(NetworkError):  # validation passed: ccxt went to connect
            await ex.watch_order_book_for_symbols(["BTC/USDT"], depth)
    finally:
        await ex.close()


async def test_bybit_stores_its_trade_cache_only_once_so_the_feed_hooks_the_cache() -> None:
    ex = bybit()
    try:
        client = Client(f"{CLOSED}/v5/public/spot", noop, noop, noop, noop, {})
        # ccxt's own cache: created (and assigned) on the first message only
        ex.handle_message(client, bybit_trades(0, 3))
        first = ex.trades["BTC/USDT"]
        ex.handle_message(client, bybit_trades(3, 3))
        assert ex.trades["BTC/USDT"] is first and len(first) == 6

        ex.trades = {}
        seen = _hooked(ex, "bybit", "BTC/USDT")
        for k in range(10):
            ex.handle_message(client, bybit_trades(10 * k, 10))
        assert [t.id for t in seen] == [f"t{i}" for i in range(100)]
    finally:
        await ex.close()


# --- okx -----------------------------------------------------------------------------


def okx() -> Any:
    ex = pro.okx({"urls": {"api": {"ws": f"{CLOSED}/ws/v5"}}})
    ex.set_markets(
        [market("BTC-USDT", "BTC/USDT", "spot"), market("BTC-USDT-SWAP", "BTC/USDT:USDT", "swap")]
    )
    return ex


def okx_trades(inst: str, first_id: int, n: int) -> dict[str, Any]:
    return {
        "arg": {"channel": "trades", "instId": inst},
        "data": [
            {
                "instId": inst,
                "tradeId": str(first_id + i),
                "px": "31684.5",
                "sz": "0.001",
                "side": "sell",
                "ts": str(1626531038288 + i),
            }
            for i in range(n)
        ],
    }


async def test_okx_book_depth_50_needs_keys_and_the_profile_picks_the_public_books_channel() -> (
    None
):
    ex = okx()
    try:
        with pytest.raises(AuthenticationError):
            await ex.watch_order_book_for_symbols(["BTC/USDT"], 50)
        depth = profile_for("okx").book_depth("spot", BOOK_LIMIT)
        assert depth == 400
        with pytest.raises(NetworkError):
            await ex.watch_order_book_for_symbols(["BTC/USDT"], depth)
    finally:
        await ex.close()


@pytest.mark.parametrize(
    ("inst", "symbol", "kind"),
    [
        ("BTC-USDT", "BTC/USDT", "spot"),
        ("BTC-USDT-SWAP", "BTC/USDT:USDT", "linear"),
    ],
)
async def test_okx_trades_each_reach_the_bus_through_the_hooked_cache(
    inst: str, symbol: str, kind: str
) -> None:
    ex = okx()
    try:
        client = Client(f"{CLOSED}/ws/v5/public", noop, noop, noop, noop, {})
        seen = _hooked(ex, "okx", symbol, kind)
        for k in range(8):
            ex.handle_message(client, okx_trades(inst, 5 * k, 5))
        assert [t.id for t in seen] == [str(i) for i in range(40)]
        assert all(t.symbol == symbol for t in seen)
    finally:
        await ex.close()


async def test_okx_swaps_count_contracts_and_the_feed_publishes_base_units() -> None:
    ex = okx()
    swap = {**market("BTC-USDT-SWAP", "BTC/USDT:USDT", "swap"), "contractSize": 0.01}
    ex.set_markets([swap])
    client = Client(f"{CLOSED}/ws/v5/public", noop, noop, noop, noop, {})
    try:
        seen = _hooked(ex, "okx", "BTC/USDT:USDT", "linear")
        ctx = _context(ex, "okx", ["BTC/USDT:USDT"], "linear")[0]
        tickers: list[Any] = []
        ctx.runtime.bus.tap(Topics.TICKERS, tickers.append)
        row = {
            "instType": "SWAP",
            "instId": "BTC-USDT-SWAP",
            "last": "65000",
            "lastSz": "2",
            "askPx": "65000.1",
            "askSz": "300",
            "bidPx": "65000",
            "bidSz": "1200",
            "open24h": "64000",
            "high24h": "66000",
            "low24h": "63000",
            "volCcy24h": "2500",  # base
            "vol24h": "250000",  # contracts
            "ts": "1700000000000",
        }
        ex.handle_message(
            client, {"arg": {"channel": "tickers", "instId": row["instId"]}, "data": [row]}
        )
        raw = ex.tickers["BTC/USDT:USDT"]
        # ccxt passes OKX's contract counts through: the profile's ticker_contracts
        assert (raw["baseVolume"], raw["bidVolume"], raw["quoteVolume"]) == (250000, 1200, None)
        assert ctx.profile.ticker_contracts and ctx.on_ticker("BTC/USDT:USDT", raw, 1.0) == 1
        t = tickers[-1]
        assert (t.base_volume, t.bid_size, t.ask_size) == pytest.approx((2500, 12, 3))
        ex.handle_message(client, okx_trades("BTC-USDT-SWAP", 0, 3))  # "sz": "0.001" contracts
        assert [tr.amount for tr in seen] == pytest.approx([0.00001] * 3)
    finally:
        await ex.close()


# --- binance / binanceusdm -----------------------------------------------------------


@pytest.mark.parametrize(
    ("ccxt_id", "symbol", "kind", "url"),
    [
        ("binance", "BTC/USDT", "spot", f"{CLOSED}/ws/stream"),
        ("binanceusdm", "BTC/USDT:USDT", "linear", f"{CLOSED}/fstream/ws"),
    ],
)
async def test_binance_trades_each_reach_the_bus_through_the_hooked_cache(
    ccxt_id: str, symbol: str, kind: str, url: str
) -> None:
    ex = getattr(pro, ccxt_id)({})
    ex.set_markets([market("BTCUSDT", symbol, "spot" if kind == "spot" else "swap")])
    try:
        client = Client(url, noop, noop, noop, noop, {})
        seen = _hooked(ex, ccxt_id, symbol, kind)
        for i in range(30):
            frame = {
                "e": "trade",
                "E": 1 + i,
                "s": "BTCUSDT",
                "t": i,
                "p": "1.5",
                "q": "2",
                "T": 1_700_000_000_000 + i,
                "m": bool(i % 2),
                "M": True,
            }
            ex.handle_message(client, frame)
        assert [t.id for t in seen] == [str(i) for i in range(30)]
        assert len(ex.trades[symbol]) < 30  # the hooked cache stays short
    finally:
        await ex.close()


# --- the default profile -------------------------------------------------------------


def test_an_exchange_without_a_profile_is_scanned_with_a_cache_for_bursts() -> None:
    prof = profile_for("kraken")
    assert prof is DEFAULT and not prof.trade_hook
    assert prof.book_depth("spot", BOOK_LIMIT) == BOOK_LIMIT  # passed through
    conf = ccxt_config(ExchangeConfig(name="k", ccxt_id="kraken"))
    assert conf["options"]["tradesLimit"] == prof.scan_trades_limit


def test_profiles_set_stream_sizes_and_pages_per_exchange() -> None:
    assert profile_for("bybit").streams("spot") == 10
    assert profile_for("binance").streams("spot") == 200
    assert profile_for("okx").page(None, "linear", 1000) == 300
    assert profile_for("binanceusdm").page(None, "linear", 1000) == 1000  # capped
    binance_opts = ccxt_config(ExchangeConfig(name="b"))["options"]
    assert binance_opts["watchTickers"] == {"name": "ticker"}
    assert "watchTickers" not in ccxt_config(ExchangeConfig(name="o", ccxt_id="okx"))["options"]
