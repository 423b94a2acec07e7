"""OKX v5 payloads built from the engine's state (instruments, tickers, candles,
trades, books, funding, open interest), as ccxt's ``okx`` class parses them.

Instrument ids: ``ETH-USDT`` (spot) and ``ETH-USDT-SWAP`` (linear perpetual). As on
OKX, swaps trade in contracts of ``ctVal`` base units, a power of ten worth about
100-1,000 USDT at the reference price (BTC 0.01, ETH 0.1, SOL 1, DOGE 1,000): every
swap size (trades, books, ``lastSz``/``bidSz``/``askSz``, ``vol24h``, the candles'
``vol``, ``oi``) is in contracts, while ``volCcy24h``, the candles' ``volCcy`` and
``oiCcy`` are in the base asset. Spot sizes are base units, as on Binance.
"""

from __future__ import annotations

import binascii
import math
from typing import Any

import msgspec

from virtuoso_daemon.sim.encode import dumps, ticker_values
from virtuoso_daemon.sim.model import Engine
from virtuoso_daemon.sim.universe import Market

#: OKX ``bar`` -> the simulator's timeframe (ccxt appends "utc" from 6h up)
BARS = {"1m": "1m", "5m": "5m", "15m": "15m", "1H": "1h", "4H": "4h", "1D": "1d"}
BOOK_CHANNELS = {"books": 400, "books5": 5, "bbo-tbt": 1}
CHECKSUM_LEVELS = 25


def timeframe(bar: str) -> str | None:
    return BARS.get(bar[:-3] if bar.endswith("utc") else bar)


def inst_id(mk: Market) -> str:
    base, quote = mk.symbol.split(":")[0].split("/")
    return f"{base}-{quote}-SWAP" if mk.kind == "futures" else f"{base}-{quote}"


def contract_exponent(mk: Market) -> int:
    """``ctVal`` is ``10 ** contract_exponent`` base units (0 for spot: no contracts)."""
    if mk.kind != "futures":
        return 0
    return math.floor(math.log10(1000.0 / mk.base.price))


def contract_value(mk: Market) -> str:
    """``ctVal`` as OKX writes it ("0.01", "1", "1000")."""
    e = contract_exponent(mk)
    return f"{10.0**e:.{max(0, -e)}f}"


def size(mk: Market, qty: float | str) -> str:
    """A size in base units as OKX sends it: contracts for swaps, base for spot."""
    e = contract_exponent(mk)
    if e == 0:
        return qty if isinstance(qty, str) else mk.fmt_qty(qty)
    return f"{float(qty) / 10.0**e:.{max(0, mk.qty_decimals + e)}f}"


def inst_type(mk: Market) -> str:
    return "SWAP" if mk.kind == "futures" else "SPOT"


class Instruments:
    """instId <-> market index for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.by_id = {inst_id(mk): mk for mk in engine.markets}

    def find(self, iid: str | None) -> Market | None:
        return self.by_id.get((iid or "").upper())

    def of_type(self, itype: str) -> list[Market]:
        kind = {"SPOT": "spot", "SWAP": "futures"}.get(itype.upper())
        return [mk for mk in self.engine.markets if mk.kind == kind]


def envelope(data: list[Any] | bytes) -> bytes:
    body = data if isinstance(data, bytes) else dumps(data)
    return b'{"code":"0","msg":"","data":' + body + b"}"


def error(code: str, msg: str) -> bytes:
    return dumps({"code": code, "msg": msg, "data": []})


def instrument(mk: Market, list_time: int) -> dict[str, Any]:
    base, quote = mk.symbol.split(":")[0].split("/")
    swap = mk.kind == "futures"
    return {
        "instType": inst_type(mk),
        "instId": inst_id(mk),
        "uly": f"{base}-{quote}" if swap else "",
        "instFamily": f"{base}-{quote}" if swap else "",
        "baseCcy": "" if swap else base,
        "quoteCcy": "" if swap else quote,
        "settleCcy": quote if swap else "",
        "ctVal": contract_value(mk) if swap else "",
        "ctMult": "1" if swap else "",
        "ctValCcy": base if swap else "",
        "ctType": "linear" if swap else "",
        "optType": "",
        "stk": "",
        "listTime": str(list_time),
        "expTime": "",
        "lever": "50" if swap else "10",
        "tickSz": mk.fmt_price(mk.tick),
        "lotSz": size(mk, mk.lot),
        "minSz": size(mk, mk.lot),
        "alias": "",
        "state": "live",
        "maxLmtSz": "10000000",
        "maxMktSz": "1000000",
    }


def ticker(engine: Engine, m: int) -> dict[str, Any]:
    def build() -> dict[str, Any]:
        v = ticker_values(engine, m)
        mk = engine.markets[m]
        swap = mk.kind == "futures"
        return {
            "instType": inst_type(mk),
            "instId": inst_id(mk),
            "last": v["c"],
            "lastSz": size(mk, v["Q"]),
            "askPx": v["a"],
            "askSz": size(mk, v["A"]),
            "bidPx": v["b"],
            "bidSz": size(mk, v["B"]),
            "open24h": v["o"],
            "high24h": v["h"],
            "low24h": v["l"],
            # spot: vol in base, volCcy in quote; swaps: vol in contracts, volCcy in base
            "volCcy24h": v["v"] if swap else v["q"],
            "vol24h": size(mk, v["v"]),
            "sodUtc0": v["o"],
            "sodUtc8": v["o"],
            "ts": str(engine.t_ms),
        }

    result: dict[str, Any] = engine.cached(("okx-t", m), build)
    return result


def candle_row(engine: Engine, tf: str, m: int, idx: int) -> list[str]:
    """One candle: ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`` (``vol`` in
    contracts for swaps, ``volCcy`` in base for swaps and quote for spot)."""
    series = engine.series[tf]
    mk = engine.markets[m]
    open_candle = idx == series.n
    src = series.cur if open_candle else series.data
    key: Any = m if open_candle else (idx, m)
    o, h, lo, c, v, q = (float(src[f][key]) for f in ("o", "h", "l", "c", "v", "q"))
    p, fq = mk.fmt_price, mk.fmt_qty
    vol_ccy = fq(v) if mk.kind == "futures" else f"{q:.4f}"
    t = series.start_ms + idx * series.step_ms
    return [
        str(t),
        p(o),
        p(h),
        p(lo),
        p(c),
        size(mk, v),
        vol_ccy,
        f"{q:.4f}",
        "0" if open_candle else "1",
    ]


def candle_indexes(
    engine: Engine, tf: str, after: int | None, before: int | None, limit: int
) -> list[int]:
    """Indexes of the newest ``limit`` candles with ``before < open time < after``,
    oldest first (OKX's bounds are exclusive)."""
    series = engine.series[tf]
    start, step = series.start_ms, series.step_ms
    hi = series.n
    if after is not None:
        hi = min(hi, -((start - after) // step) - 1)  # ceil((after - start)/step) - 1
    lo = 0
    if before is not None:
        lo = max(lo, (before - start) // step + 1)
    first = max(lo, hi - limit + 1)
    return list(range(first, hi + 1)) if hi >= first else []


def trade(mk: Market, t: Any) -> dict[str, Any]:
    tid, px, qty, t_ms, maker = t[0], t[1], t[2], t[3], t[4]
    return {
        "instId": inst_id(mk),
        "tradeId": str(tid),
        "px": px,
        "sz": size(mk, qty),
        "side": "sell" if maker else "buy",  # the buyer made the price: a taker sold
        "ts": str(t_ms),
        "count": "1",
    }


def book_levels(engine: Engine, m: int, depth: int) -> tuple[int, list[list[str]], list[list[str]]]:
    """``(seqId, bids, asks)``: up to ``depth`` levels a side as OKX rows."""
    uid, bids, asks = engine.books[m].snapshot(depth)
    mk = engine.markets[m]
    return (
        uid,
        [[p, size(mk, q), "0", "1"] for p, q in msgspec.json.decode(bids)],
        [[p, size(mk, q), "0", "1"] for p, q in msgspec.json.decode(asks)],
    )


def checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """OKX's book checksum: CRC32 (signed) of the top 25 levels, bid and ask interleaved."""
    parts: list[str] = []
    for i in range(CHECKSUM_LEVELS):
        if i < len(bids):
            parts += bids[i][:2]
        if i < len(asks):
            parts += asks[i][:2]
    crc = binascii.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def book(engine: Engine, m: int, depth: int) -> dict[str, Any]:
    uid, bids, asks = book_levels(engine, m, depth)
    return {"asks": asks, "bids": bids, "ts": str(engine.t_ms), "seqId": uid}


def funding(engine: Engine, mk: Market) -> dict[str, Any]:
    b = mk.base.index
    nxt = engine.next_funding_time()
    period = engine.config.funding_interval_hours * 3_600_000
    rate = f"{float(engine.funding[b]):.8f}"
    return {
        "instType": "SWAP",
        "instId": inst_id(mk),
        "fundingRate": rate,
        "nextFundingRate": "",
        "fundingTime": str(nxt),
        "nextFundingTime": str(nxt + period),
        "method": "current_period",
        "premium": f"{float(engine.prem[b]):.8f}",
        "ts": str(engine.t_ms),
    }


def open_interest(engine: Engine, mk: Market) -> dict[str, Any]:
    oi = float(engine.open_interest[mk.base.index])
    last = float(engine.stats["last"][mk.index])
    return {
        "instType": "SWAP",
        "instId": inst_id(mk),
        "oi": size(mk, oi),
        "oiCcy": mk.fmt_qty(oi),
        "oiUsd": f"{oi * last:.2f}",
        "ts": str(engine.t_ms),
    }
