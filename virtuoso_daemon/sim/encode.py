"""Binance JSON shapes for REST bodies and websocket events, built from engine state.

Hot bodies (tickers, trades, depth) are formatted directly to bytes and memoised for
the current tick through :meth:`Engine.cached`; the rest go through msgspec. Field
names and order follow Binance's documentation for spot (``/api/v3``) and USD-M
futures (``/fapi/v1``); ccxt tells spot from contract tickers by ``bidQty`` (spot
only) and ``time`` (never sent here), and spot from contract trades by ``M``.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from virtuoso_daemon.sim.model import Engine, Trade
from virtuoso_daemon.sim.universe import Kind, Market

_enc = msgspec.json.Encoder()


def dumps(obj: Any) -> bytes:
    return _enc.encode(obj)


def join(items: list[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


# -- exchangeInfo -------------------------------------------------------------------------


def _spot_symbol(mk: Market) -> dict[str, Any]:
    return {
        "symbol": mk.id,
        "status": "TRADING",
        "baseAsset": mk.base.name,
        "baseAssetPrecision": 8,
        "quoteAsset": mk.id[len(mk.base.name) :],
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": mk.fmt_price(mk.tick),
                "maxPrice": mk.fmt_price(mk.base.price * 1000),
                "tickSize": mk.fmt_price(mk.tick),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": mk.fmt_qty(mk.lot),
                "maxQty": mk.fmt_qty(1e12 * mk.lot),
                "stepSize": mk.fmt_qty(mk.lot),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _futures_symbol(mk: Market) -> dict[str, Any]:
    quote = mk.id[len(mk.base.name) :]
    return {
        "symbol": mk.id,
        "pair": mk.id,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": mk.base.name,
        "quoteAsset": quote,
        "marginAsset": quote,
        "pricePrecision": mk.price_decimals,
        "quantityPrecision": mk.qty_decimals,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": mk.fmt_price(mk.tick),
                "maxPrice": mk.fmt_price(mk.base.price * 1000),
                "tickSize": mk.fmt_price(mk.tick),
            },
            {
                "filterType": "LOT_SIZE",
                "stepSize": mk.fmt_qty(mk.lot),
                "maxQty": mk.fmt_qty(1e9 * mk.lot),
                "minQty": mk.fmt_qty(mk.lot),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "stepSize": mk.fmt_qty(mk.lot),
                "maxQty": mk.fmt_qty(1e8 * mk.lot),
                "minQty": mk.fmt_qty(mk.lot),
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


def exchange_info(engine: Engine, kind: Kind, ids: list[str] | None, weight_limit: int) -> bytes:
    markets = engine.universe.kind_markets(kind)
    if ids is not None:
        wanted = set(ids)
        markets = [m for m in markets if m.id in wanted]
    now = engine.t_ms
    if kind == "spot":
        doc: dict[str, Any] = {
            "timezone": "UTC",
            "serverTime": now,
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": weight_limit,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {
                    "rateLimitType": "RAW_REQUESTS",
                    "interval": "MINUTE",
                    "intervalNum": 5,
                    "limit": 61000,
                },
            ],
            "exchangeFilters": [],
            "symbols": [_spot_symbol(m) for m in markets],
        }
    else:
        quote = engine.universe.quote
        doc = {
            "timezone": "UTC",
            "serverTime": now,
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": weight_limit,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": quote, "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [_futures_symbol(m) for m in markets],
        }
    return dumps(doc)


# -- tickers --------------------------------------------------------------------------


def ticker_values(engine: Engine, m: int) -> dict[str, str]:
    """The current 24h figures of market ``m`` as Binance strings (memoised per tick)."""

    def build() -> dict[str, str]:
        mk = engine.markets[m]
        st = engine.stats
        p, fq = mk.fmt_price, mk.fmt_qty
        last = float(st["last"][m])
        open_ = float(st["open"][m])
        vol = float(st["volume"][m])
        qvol = float(st["quote_volume"][m])
        count = int(st["count"][m])
        book = engine.books[m]
        bid, bid_q = book.best_bid
        ask, ask_q = book.best_ask
        trades = engine.trades[m]
        last_q = trades[-1][2] if trades else fq(0.0)
        last_id = engine.next_trade_id[m] - 1
        change = last - open_
        return {
            "p": p(change),
            "P": f"{(change / open_ * 100.0) if open_ else 0.0:.3f}",
            "w": p(qvol / vol if vol > 0 else last),
            "x": p(open_),
            "c": p(last),
            "Q": last_q,
            "b": p(bid),
            "B": fq(bid_q),
            "a": p(ask),
            "A": fq(ask_q),
            "o": p(open_),
            "h": p(float(st["high"][m])),
            "l": p(float(st["low"][m])),
            "v": fq(vol),
            "q": f"{qvol:.4f}",
            "O": str(engine.t_ms - 86_400_000),
            "C": str(engine.t_ms),
            "F": str(max(0, last_id - count + 1)),
            "L": str(last_id),
            "n": str(count),
        }

    result: dict[str, str] = engine.cached(("tv", m), build)
    return result


def ticker_rest(engine: Engine, m: int) -> bytes:
    def build() -> bytes:
        v = ticker_values(engine, m)
        mk = engine.markets[m]
        book = ""
        prev = ""
        if mk.kind == "spot":
            prev = f'"prevClosePrice":"{v["x"]}",'
            book = (
                f'"bidPrice":"{v["b"]}","bidQty":"{v["B"]}","askPrice":"{v["a"]}",'
                f'"askQty":"{v["A"]}",'
            )
        return (
            f'{{"symbol":"{mk.id}","priceChange":"{v["p"]}","priceChangePercent":"{v["P"]}",'
            f'"weightedAvgPrice":"{v["w"]}",{prev}"lastPrice":"{v["c"]}","lastQty":"{v["Q"]}",'
            f'{book}"openPrice":"{v["o"]}","highPrice":"{v["h"]}","lowPrice":"{v["l"]}",'
            f'"volume":"{v["v"]}","quoteVolume":"{v["q"]}","openTime":{v["O"]},'
            f'"closeTime":{v["C"]},"firstId":{v["F"]},"lastId":{v["L"]},"count":{v["n"]}}}'
        ).encode()

    result: bytes = engine.cached(("tr", m), build)
    return result


def mini_ticker_rest(engine: Engine, m: int) -> bytes:
    v = ticker_values(engine, m)
    mk = engine.markets[m]
    return (
        f'{{"symbol":"{mk.id}","openPrice":"{v["o"]}","highPrice":"{v["h"]}",'
        f'"lowPrice":"{v["l"]}","lastPrice":"{v["c"]}","volume":"{v["v"]}",'
        f'"quoteVolume":"{v["q"]}","openTime":{v["O"]},"closeTime":{v["C"]},'
        f'"firstId":{v["F"]},"lastId":{v["L"]},"count":{v["n"]}}}'
    ).encode()


def tickers_rest(engine: Engine, kind: Kind) -> bytes:
    def build() -> bytes:
        return join([ticker_rest(engine, mk.index) for mk in engine.universe.kind_markets(kind)])

    result: bytes = engine.cached(("trall", kind), build)
    return result


def price_ticker(engine: Engine, m: int) -> bytes:
    mk = engine.markets[m]
    extra = f',"time":{engine.t_ms}' if mk.kind == "futures" else ""
    return f'{{"symbol":"{mk.id}","price":"{ticker_values(engine, m)["c"]}"{extra}}}'.encode()


def book_ticker(engine: Engine, m: int) -> bytes:
    mk = engine.markets[m]
    v = ticker_values(engine, m)
    extra = f',"time":{engine.t_ms}' if mk.kind == "futures" else ""
    return (
        f'{{"symbol":"{mk.id}","bidPrice":"{v["b"]}","bidQty":"{v["B"]}",'
        f'"askPrice":"{v["a"]}","askQty":"{v["A"]}"{extra}}}'
    ).encode()


def ticker_event(engine: Engine, m: int) -> bytes:
    def build() -> bytes:
        v = ticker_values(engine, m)
        mk = engine.markets[m]
        book = ""
        if mk.kind == "spot":
            book = f'"x":"{v["x"]}","b":"{v["b"]}","B":"{v["B"]}","a":"{v["a"]}","A":"{v["A"]}",'
        return (
            f'{{"e":"24hrTicker","E":{engine.t_ms},"s":"{mk.id}","p":"{v["p"]}",'
            f'"P":"{v["P"]}","w":"{v["w"]}",{book}"c":"{v["c"]}","Q":"{v["Q"]}",'
            f'"o":"{v["o"]}","h":"{v["h"]}","l":"{v["l"]}","v":"{v["v"]}","q":"{v["q"]}",'
            f'"O":{v["O"]},"C":{v["C"]},"F":{v["F"]},"L":{v["L"]},"n":{v["n"]}}}'
        ).encode()

    result: bytes = engine.cached(("te", m), build)
    return result


def mini_ticker_event(engine: Engine, m: int) -> bytes:
    def build() -> bytes:
        v = ticker_values(engine, m)
        mk = engine.markets[m]
        return (
            f'{{"e":"24hrMiniTicker","E":{engine.t_ms},"s":"{mk.id}","c":"{v["c"]}",'
            f'"o":"{v["o"]}","h":"{v["h"]}","l":"{v["l"]}","v":"{v["v"]}",'
            f'"q":"{v["q"]}"}}'
        ).encode()

    result: bytes = engine.cached(("me", m), build)
    return result


def book_ticker_event(engine: Engine, m: int) -> bytes:
    mk = engine.markets[m]
    v = ticker_values(engine, m)
    book = engine.books[m]
    extra = f'"e":"bookTicker","E":{engine.t_ms},"T":{engine.t_ms},' if mk.kind == "futures" else ""
    return (
        f'{{{extra}"u":{book.update_id},"s":"{mk.id}","b":"{v["b"]}","B":"{v["B"]}",'
        f'"a":"{v["a"]}","A":"{v["A"]}"}}'
    ).encode()


# -- trades ---------------------------------------------------------------------------


def agg_trade_rest(mk: Market, t: Trade) -> bytes:
    m_flag = ',"M":true' if mk.kind == "spot" else ""
    return (
        f'{{"a":{t[0]},"p":"{t[1]}","q":"{t[2]}","f":{t[0]},"l":{t[0]},"T":{t[3]},'
        f'"m":{"true" if t[4] else "false"}{m_flag}}}'
    ).encode()


def trade_rest(mk: Market, t: Trade) -> bytes:
    best = ',"isBestMatch":true' if mk.kind == "spot" else ""
    return (
        f'{{"id":{t[0]},"price":"{t[1]}","qty":"{t[2]}","quoteQty":"{t[5] * t[6]:.4f}",'
        f'"time":{t[3]},"isBuyerMaker":{"true" if t[4] else "false"}{best}}}'
    ).encode()


def trade_event(mk: Market, t: Trade, event_ms: int) -> bytes:
    if mk.kind == "spot":
        return (
            f'{{"e":"trade","E":{event_ms},"s":"{mk.id}","t":{t[0]},"p":"{t[1]}",'
            f'"q":"{t[2]}","T":{t[3]},"m":{"true" if t[4] else "false"},"M":true}}'
        ).encode()
    return (
        f'{{"e":"trade","E":{event_ms},"T":{t[3]},"s":"{mk.id}","t":{t[0]},"p":"{t[1]}",'
        f'"q":"{t[2]}","X":"MARKET","m":{"true" if t[4] else "false"}}}'
    ).encode()


def agg_trade_event(mk: Market, t: Trade, event_ms: int) -> bytes:
    m_flag = ',"M":true' if mk.kind == "spot" else ""
    return (
        f'{{"e":"aggTrade","E":{event_ms},"s":"{mk.id}","a":{t[0]},"p":"{t[1]}",'
        f'"q":"{t[2]}","f":{t[0]},"l":{t[0]},"T":{t[3]},'
        f'"m":{"true" if t[4] else "false"}{m_flag}}}'
    ).encode()


def select_trades(
    trades: list[Trade], from_id: int | None, start: int | None, end: int | None, limit: int
) -> list[Trade]:
    """Binance aggTrades selection: by id, by time window, else the most recent."""
    if from_id is not None:
        out = [t for t in trades if t[0] >= from_id]
        return out[:limit]
    if start is not None or end is not None:
        lo = start if start is not None else -math.inf
        hi = end if end is not None else math.inf
        out = [t for t in trades if lo <= t[3] <= hi]
        return out[:limit]
    return trades[-limit:] if limit else []


# -- depth ----------------------------------------------------------------------------


def depth_rest(engine: Engine, m: int, limit: int) -> bytes:
    book = engine.books[m]
    uid, bids, asks = book.snapshot(limit)
    if engine.markets[m].kind == "futures":
        head = f'{{"lastUpdateId":{uid},"E":{engine.t_ms},"T":{engine.t_ms},"bids":'.encode()
    else:
        head = f'{{"lastUpdateId":{uid},"bids":'.encode()
    return head + bids + b',"asks":' + asks + b"}"


def partial_depth_event(engine: Engine, m: int, levels: int) -> bytes:
    def build() -> bytes:
        book = engine.books[m]
        mk = engine.markets[m]
        uid, bids, asks = book.snapshot(levels)
        if mk.kind == "futures":
            first, last, prev = book.diff[:3]
            return (
                (
                    f'{{"e":"depthUpdate","E":{engine.t_ms},"T":{engine.t_ms},"s":"{mk.id}",'
                    f'"U":{first},"u":{last},"pu":{prev},"b":'
                ).encode()
                + bids
                + b',"a":'
                + asks
                + b"}"
            )
        return f'{{"lastUpdateId":{uid},"bids":'.encode() + bids + b',"asks":' + asks + b"}"

    result: bytes = engine.cached(("pd", m, levels), build)
    return result


def diff_depth_event(engine: Engine, m: int) -> bytes | None:
    book = engine.books[m]
    if not book.diff[3] and not book.diff[4]:
        return None
    result: bytes = engine.cached(
        ("dd", m), lambda: book.diff_event(engine.t_ms, engine.markets[m].kind == "futures")
    )
    return result


# -- perpetuals -----------------------------------------------------------------------


def premium_index(engine: Engine, m: int) -> bytes:
    def build() -> bytes:
        mk = engine.markets[m]
        b = mk.base.index
        mark = float(engine.stats["last"][m])
        index = engine.index_price(b)
        return (
            f'{{"symbol":"{mk.id}","markPrice":"{mark:.8f}","indexPrice":"{index:.8f}",'
            f'"estimatedSettlePrice":"{index:.8f}",'
            f'"lastFundingRate":"{float(engine.funding[b]):.8f}",'
            f'"interestRate":"0.00010000","nextFundingTime":{engine.next_funding_time()},'
            f'"time":{engine.t_ms}}}'
        ).encode()

    result: bytes = engine.cached(("pi", m), build)
    return result


def mark_price_event(engine: Engine, m: int) -> bytes:
    def build() -> bytes:
        mk = engine.markets[m]
        b = mk.base.index
        mark = float(engine.stats["last"][m])
        index = engine.index_price(b)
        return (
            f'{{"e":"markPriceUpdate","E":{engine.t_ms},"s":"{mk.id}","p":"{mark:.8f}",'
            f'"i":"{index:.8f}","P":"{index:.8f}","r":"{float(engine.funding[b]):.8f}",'
            f'"T":{engine.next_funding_time()}}}'
        ).encode()

    result: bytes = engine.cached(("mp", m), build)
    return result


def open_interest(engine: Engine, m: int) -> bytes:
    mk = engine.markets[m]
    oi = float(engine.open_interest[mk.base.index])
    return f'{{"symbol":"{mk.id}","openInterest":"{mk.fmt_qty(oi)}","time":{engine.t_ms}}}'.encode()


def funding_history(
    engine: Engine, m: int, start: int | None, end: int | None, limit: int
) -> bytes:
    mk = engine.markets[m]
    b = mk.base.index
    rows = list(zip(engine.funding_times, engine.funding_hist, strict=True))
    if start is not None:
        rows = [r for r in rows if r[0] >= start][:limit]
    elif end is not None:
        rows = [r for r in rows if r[0] <= end][-limit:]
    else:
        rows = rows[-limit:]
    return join(
        [
            (
                f'{{"symbol":"{mk.id}","fundingTime":{t},"fundingRate":"{float(r[b]):.8f}",'
                f'"markPrice":""}}'
            ).encode()
            for t, r in rows
        ]
    )
