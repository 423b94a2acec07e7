"""Which symbols a feed watches: validation against loaded markets, and top N by volume."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from virtuoso_daemon.core.config import ExchangeConfig


def market_matches(m: Mapping[str, Any], cfg: ExchangeConfig) -> bool:
    """Is ``m`` a market of the kind this feed watches (spot, or linear perpetual)?"""
    if m.get("active") is False:
        return False
    if cfg.market == "spot":
        return bool(m.get("spot"))
    return bool(m.get("swap")) and bool(m.get("linear"))


def resolve(markets: Mapping[str, Any], cfg: ExchangeConfig, symbol: str) -> str | None:
    """The unified symbol for what an operator typed, or None if the feed has no such market.

    Accepts the unified symbol (``BTC/USDT``, ``BTC/USDT:USDT``), the exchange id
    (``BTCUSDT``), ``BTC-USDT``, and for perpetual feeds the spot-style ``BTC/USDT``.
    """
    text = symbol.strip()
    candidates = [text, text.upper(), text.upper().replace("-", "/").replace("_", "/")]
    for cand in list(candidates):
        if cfg.market == "linear" and ":" not in cand and "/" in cand:
            candidates.append(f"{cand}:{cand.split('/')[1]}")
    for cand in candidates:
        m = markets.get(cand)
        if m is not None and market_matches(m, cfg):
            return str(m["symbol"])
    compact = text.upper().replace("/", "").replace("-", "").replace("_", "")
    for m in markets.values():
        if str(m.get("id", "")).upper() == compact and market_matches(m, cfg):
            return str(m["symbol"])
    return None


def resolve_all(
    markets: Mapping[str, Any], cfg: ExchangeConfig, symbols: Iterable[str]
) -> tuple[list[str], list[str]]:
    """(resolved unified symbols in order, the inputs that match no market)."""
    found: list[str] = []
    unknown: list[str] = []
    for s in symbols:
        r = resolve(markets, cfg, s)
        if r is None:
            unknown.append(s)
        elif r not in found:
            found.append(r)
    return found, unknown


def contract_size(m: Mapping[str, Any] | None) -> float:
    """Base units per contract of a linear contract market (1 for spot or unknown)."""
    if not m or not m.get("contract"):
        return 1.0
    size = m.get("contractSize")
    return float(size) if size else 1.0


def contract_sizes(markets: Mapping[str, Any], symbols: Iterable[str]) -> dict[str, float]:
    """The contract size of each of ``symbols`` whose contract is not one base unit."""
    sizes = {s: contract_size(markets.get(s)) for s in symbols}
    return {s: v for s, v in sizes.items() if v != 1.0}


def top_by_volume(
    markets: Mapping[str, Any],
    tickers: Mapping[str, Any],
    cfg: ExchangeConfig,
    ticker_contracts: bool = False,
) -> list[str]:
    """The ``top_n`` markets of the feed's kind and quote, by 24 h quote volume (or
    base volume x last where a ticker has none; ``ticker_contracts``: the ticker's
    ``baseVolume`` counts contracts, as okx's swaps' does)."""
    ranked: list[tuple[float, str]] = []
    for symbol, m in markets.items():
        if not market_matches(m, cfg) or m.get("quote") != cfg.quote:
            continue
        t = tickers.get(symbol) or {}
        qv = t.get("quoteVolume")
        if qv is None and t.get("baseVolume") is not None and t.get("last") is not None:
            qv = float(t["baseVolume"]) * float(t["last"])
            if ticker_contracts:
                qv *= contract_size(m)
        ranked.append((float(qv or 0.0), symbol))
    ranked.sort(key=lambda x: (-x[0], x[1]))
    return [s for _, s in ranked[: cfg.top_n]]
