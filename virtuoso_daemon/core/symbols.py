"""Symbol spellings: what operators type -> ccxt's unified symbols.

The daemon keeps every symbol in ccxt's *unified* form: ``BASE/QUOTE`` for spot
(``BTC/USDT``) and ``BASE/QUOTE:SETTLE`` for derivatives (``BTC/USDT:USDT`` is the
USDT-margined perpetual). People and URLs spell them in many other ways, so input is
accepted, case-insensitively, as:

==========================  ===================================================
input                       meaning
==========================  ===================================================
``BTC/USDT``                spot (or, on a perps-only exchange, its perpetual)
``BTC-USDT``, ``BTC_USDT``  same as ``BTC/USDT``
``BTCUSDT``                 same; split at a known quote currency, or matched
                            against the known symbols (so ``1000PEPEUSDT`` works)
``BTC/USDT:USDT``           the perpetual settled in USDT (ccxt unified)
``BTC-USDT-USDT``           same (the dash form used in memcached keys)
``BTC-USDT-PERP``,          the perpetual; settle currency = the one the exchange
``BTCUSDT-PERP``,           lists, else the quote currency
``BTC-USDT-SWAP``,
``BTCUSDT.P``
==========================  ===================================================

Without a perpetual marker a spot symbol is preferred when an exchange lists both;
an exchange that lists only the perpetual still answers ``BTCUSDT``.

:func:`key_form` is the reverse for places that cannot hold ``/`` or ``:`` (memcached
keys, file names): ``BTC/USDT`` -> ``BTC-USDT``, ``BTC/USDT:USDT`` -> ``BTC-USDT-USDT``.
:class:`SymbolIndex` resolves input against the symbols actually known per exchange.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Quote currencies tried (longest first) when a compact spelling such as ``ETHBTC``
# must be split without a list of known symbols.
KNOWN_QUOTES: tuple[str, ...] = tuple(
    sorted(
        (
            "USDT",
            "USDC",
            "FDUSD",
            "BUSD",
            "TUSD",
            "USDP",
            "DAI",
            "USD",
            "BTC",
            "ETH",
            "BNB",
            "EUR",
            "GBP",
            "TRY",
            "BRL",
            "JPY",
            "AUD",
            "UAH",
        ),
        key=len,
        reverse=True,
    )
)
_PERP_SUFFIXES = ("-PERP", "_PERP", "-SWAP", "_SWAP", ".P", "PERP")
_VALID = re.compile(r"^[A-Z0-9][A-Z0-9./:_\-]{0,63}$")
_PART = re.compile(r"^[A-Z0-9.]+$")
_SEPARATORS = re.compile(r"[/\-_]")


class SymbolError(ValueError):
    """Input that cannot be a symbol at all (as opposed to an unknown one)."""


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A parsed spelling. ``base``/``quote`` are None for a compact ``BTCUSDT``."""

    compact: str  # base + quote, always set
    base: str | None
    quote: str | None
    settle: str | None
    perp: bool


def parse(raw: str) -> SymbolSpec:
    """Parse any accepted spelling (see the module docstring); raises SymbolError."""
    s = raw.strip().upper()
    if not _VALID.match(s):
        raise SymbolError(f"not a symbol: {raw!r} (use e.g. BTC/USDT, BTC-USDT or BTCUSDT)")
    settle: str | None = None
    perp = False
    if ":" in s:
        s, settle = s.split(":", 1)
        if not _PART.match(settle):
            raise SymbolError(f"bad settle currency in {raw!r}")
        perp = True
    for suffix in _PERP_SUFFIXES:
        if s.endswith(suffix) and len(s) > len(suffix):
            s, perp = s[: -len(suffix)], True
            break
    parts = _SEPARATORS.split(s)
    if not all(parts) or not all(_PART.match(p) for p in parts):
        raise SymbolError(f"not a symbol: {raw!r}")
    if len(parts) == 1:
        return SymbolSpec(parts[0], None, None, settle, perp)
    if len(parts) == 2:
        return SymbolSpec(parts[0] + parts[1], parts[0], parts[1], settle, perp)
    if len(parts) == 3 and settle is None:
        return SymbolSpec(parts[0] + parts[1], parts[0], parts[1], parts[2], True)
    raise SymbolError(f"not a symbol: {raw!r}")


def split_unified(symbol: str) -> tuple[str, str, str | None]:
    """``BTC/USDT:USDT`` -> ``("BTC", "USDT", "USDT")``; ``BTC/USDT`` -> settle None."""
    pair, _, settle = symbol.partition(":")
    base, _, quote = pair.partition("/")
    return base, quote, settle or None


def normalize(raw: str) -> str:
    """The unified symbol for ``raw`` without consulting an exchange's list.

    Compact spellings are split at the longest known quote currency
    (:data:`KNOWN_QUOTES`); a perpetual marker without a settle currency settles in
    the quote currency (linear perpetuals). Raises SymbolError when it cannot tell.
    """
    spec = parse(raw)
    base, quote = spec.base, spec.quote
    if base is None or quote is None:
        for q in KNOWN_QUOTES:
            if spec.compact.endswith(q) and len(spec.compact) > len(q):
                base, quote = spec.compact[: -len(q)], q
                break
        else:
            raise SymbolError(f"cannot split {raw!r} into base and quote; write it as BASE/QUOTE")
    settle = spec.settle or (quote if spec.perp else None)
    return f"{base}/{quote}" + (f":{settle}" if settle else "")


def key_form(symbol: str) -> str:
    """Unified symbol -> dash form safe in keys and paths: ``BTC-USDT[-SETTLE]``."""
    base, quote, settle = split_unified(symbol)
    out = f"{base}-{quote}" if quote else base
    return f"{out}-{settle}" if settle else out


@dataclass(frozen=True, slots=True)
class _Known:
    exchange: str
    symbol: str
    base: str
    quote: str
    settle: str | None


class SymbolIndex:
    """The symbols known per exchange, for resolving user input.

    ``exchange_order`` decides which exchange answers when the caller names none:
    the first (in that order) that lists the symbol.
    """

    def __init__(
        self, pairs: Iterable[tuple[str, str]], exchange_order: Sequence[str] = ()
    ) -> None:
        order = {name: i for i, name in enumerate(exchange_order)}
        self._by_compact: dict[str, list[_Known]] = {}
        self._by_exchange: dict[str, set[str]] = {}
        for exchange, symbol in set(pairs):
            base, quote, settle = split_unified(symbol)
            k = _Known(exchange, symbol, base.upper(), quote.upper(), settle)
            self._by_compact.setdefault(k.base + k.quote, []).append(k)
            self._by_exchange.setdefault(exchange, set()).add(symbol)
        rank = {name: order.get(name, len(order)) for name in self._by_exchange}
        for known in self._by_compact.values():
            known.sort(key=lambda k: (rank[k.exchange], k.exchange, k.settle is not None, k.symbol))
        self.exchanges: list[str] = sorted(self._by_exchange, key=lambda n: (rank[n], n))

    def __len__(self) -> int:
        return sum(len(s) for s in self._by_exchange.values())

    def symbols(self, exchange: str) -> set[str]:
        return set(self._by_exchange.get(exchange, ()))

    def candidates(self, raw: str, exchange: str | None = None) -> list[tuple[str, str]]:
        """Every (exchange, unified symbol) ``raw`` may mean, best first.

        Raises SymbolError for input that is not a symbol spelling at all.
        """
        spec = parse(raw)
        found = [
            k
            for k in self._by_compact.get(spec.compact, ())
            if (exchange is None or k.exchange == exchange)
            and (spec.base is None or (k.base == spec.base and k.quote == spec.quote))
            and (spec.settle is None or k.settle == spec.settle)
            and (not spec.perp or k.settle is not None)
        ]
        if not spec.perp and spec.settle is None:
            # prefer spot on each exchange that lists both spot and perpetual
            spot_on = {k.exchange for k in found if k.settle is None}
            found = [k for k in found if k.settle is None or k.exchange not in spot_on]
        return [(k.exchange, k.symbol) for k in found]

    def resolve(self, raw: str, exchange: str | None = None) -> tuple[str, str] | None:
        """The best (exchange, unified symbol) for ``raw``, or None if unknown."""
        found = self.candidates(raw, exchange)
        return found[0] if found else None
