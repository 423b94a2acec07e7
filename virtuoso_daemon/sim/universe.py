"""The listed markets and their fixed parameters, drawn deterministically from the seed.

Every base asset has a true beta to BTC and an idiosyncratic volatility (the factor
model's ground truth), a reference price, a daily volume, a tick size, a lot size and
an order-book level spacing. Each base is listed as a spot market (``ETH/USDT``) and,
when perpetuals are on, as a USD-M perpetual (``ETH/USDT:USDT``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from virtuoso_daemon.sim.config import SimConfig

Kind = Literal["spot", "futures"]

SECONDS_PER_YEAR = 365 * 86_400

# (base, reference price in USDT) - plausible, not quotes
KNOWN_BASES: tuple[tuple[str, float], ...] = (
    ("ETH", 3200.0),
    ("SOL", 150.0),
    ("BNB", 580.0),
    ("XRP", 0.55),
    ("ADA", 0.45),
    ("DOGE", 0.13),
    ("AVAX", 30.0),
    ("DOT", 6.5),
    ("LINK", 14.0),
    ("LTC", 75.0),
    ("TRX", 0.12),
    ("ATOM", 8.0),
    ("NEAR", 5.0),
    ("UNI", 8.0),
    ("APT", 8.0),
    ("ARB", 0.9),
    ("OP", 1.8),
    ("FIL", 5.0),
    ("ICP", 10.0),
    ("ETC", 25.0),
    ("XLM", 0.1),
    ("HBAR", 0.08),
    ("INJ", 22.0),
    ("SUI", 1.2),
    ("SEI", 0.4),
    ("TIA", 7.0),
    ("AAVE", 95.0),
    ("MKR", 2500.0),
    ("RUNE", 4.5),
    ("ALGO", 0.15),
    ("EGLD", 35.0),
    ("SAND", 0.4),
    ("MANA", 0.4),
    ("AXS", 6.5),
    ("FTM", 0.6),
    ("GRT", 0.2),
    ("IMX", 1.6),
    ("LDO", 1.8),
    ("PEPE", 0.0000105),
    ("SHIB", 0.0000205),
    ("WLD", 2.5),
    ("JUP", 0.9),
    ("RENDER", 7.0),
    ("STX", 1.8),
    ("BCH", 400.0),
    ("FET", 1.4),
    ("GALA", 0.03),
    ("CRV", 0.4),
    ("SNX", 2.5),
    ("ENA", 0.6),
)


def _pow10(exponent: int) -> float:
    return float(10.0**exponent)


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _nice_step(raw: float, tick: float) -> float:
    """The 1-2-5 multiple of ``tick`` nearest to ``raw``."""
    units = max(1.0, raw / tick)
    exp = math.floor(math.log10(units))
    best = 1.0
    for mant in (1.0, 2.0, 5.0, 10.0):
        cand = mant * 10.0**exp
        if abs(math.log(cand / units)) < abs(math.log(best / units)):
            best = cand
    return best * tick


@dataclass(frozen=True)
class Base:
    """One base asset: the factor-model parameters and the reference price."""

    index: int
    name: str
    price: float  # price at the end of the generated history
    beta: float
    idio_vol: float  # annualised
    total_vol: float  # annualised, sqrt(beta^2 sigma_btc^2 + idio^2)
    daily_quote_volume: float  # spot; perpetuals trade a multiple


@dataclass(frozen=True)
class Market:
    """One listed market (spot or perpetual) of a base asset."""

    index: int
    base: Base
    kind: Kind
    id: str  # exchange id, e.g. ETHUSDT
    symbol: str  # ccxt unified symbol
    tick: float
    price_decimals: int
    lot: float
    qty_decimals: int
    book_step: float  # spacing of order-book levels (a multiple of the tick)
    trade_rate: float  # trades per simulated second
    mean_qty: float  # mean trade size in base units
    volume_mult: float  # candle volume relative to the spot history

    def fmt_price(self, value: float) -> str:
        return f"{value:.{self.price_decimals}f}"

    def fmt_qty(self, value: float) -> str:
        return f"{value:.{self.qty_decimals}f}"


class Universe:
    """Bases and markets; market ``i < n_bases`` is spot, ``n_bases + i`` the perpetual."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.quote = config.quote.upper()
        rng = np.random.default_rng([config.seed, 1])
        names = self._choose_names(config)
        prices = self._reference_prices(config, names, rng)
        n = len(names)
        betas = np.ones(n)
        idio = np.zeros(n)
        betas[1:] = rng.uniform(config.beta_min, config.beta_max, n - 1)
        idio[1:] = rng.uniform(config.idio_vol_min, config.idio_vol_max, n - 1)
        ranks = np.arange(1, n + 1, dtype=float)
        volumes = 2.0e9 * ranks**-1.1 * np.exp(rng.normal(0.0, 0.3, n))
        volumes[0] = 2.0e9
        self.bases: list[Base] = []
        for i, name in enumerate(names):
            total = math.sqrt((betas[i] * config.btc_vol) ** 2 + idio[i] ** 2)
            self.bases.append(
                Base(
                    i,
                    name,
                    float(prices[i]),
                    float(betas[i]),
                    float(idio[i]),
                    total,
                    float(volumes[i]),
                )
            )
        self.markets: list[Market] = []
        kinds: list[Kind] = ["spot", "futures"] if config.perpetuals else ["spot"]
        for kind in kinds:
            for base in self.bases:
                self.markets.append(self._market(len(self.markets), base, kind))
        self.by_id: dict[tuple[Kind, str], Market] = {(m.kind, m.id): m for m in self.markets}

    @property
    def n_bases(self) -> int:
        return len(self.bases)

    def kind_markets(self, kind: Kind) -> list[Market]:
        return [m for m in self.markets if m.kind == kind]

    def find(self, kind: Kind, market_id: str) -> Market | None:
        return self.by_id.get((kind, market_id.upper()))

    @staticmethod
    def _choose_names(config: SimConfig) -> list[str]:
        if config.symbols is not None:
            names = ["BTC"] + [s.upper() for s in config.symbols if s.upper() != "BTC"]
            return list(dict.fromkeys(names))
        known = [name for name, _ in KNOWN_BASES]
        names = ["BTC", *known[: config.n_alts]]
        names += [f"SIM{i:03d}" for i in range(len(names), config.n_alts + 1)]
        return names

    @staticmethod
    def _reference_prices(
        config: SimConfig, names: list[str], rng: np.random.Generator
    ) -> np.ndarray:
        table = dict(KNOWN_BASES)
        out = np.empty(len(names))
        synthetic = np.exp(rng.uniform(math.log(0.01), math.log(200.0), len(names)))
        for i, name in enumerate(names):
            out[i] = config.btc_price if name == "BTC" else table.get(name, synthetic[i])
        return out

    def _market(self, index: int, base: Base, kind: Kind) -> Market:
        price = base.price
        mag = math.floor(math.log10(price))
        tick = _pow10(mag - 5)  # five to six significant digits
        lot = max(_pow10(math.floor(math.log10(1.0 / price)) - 1), 1e-8)  # ~0.1-1 quote
        book_step = _nice_step(price * 2e-4, tick)  # ~2 bp between levels
        vol_mult = 1.0 if kind == "spot" else 2.5
        quote_volume = base.daily_quote_volume * vol_mult
        rate = (
            self.config.trade_rate
            * math.sqrt(quote_volume / 2.0e9)
            * (1.0 if kind == "spot" else 1.3)
        )
        rate = max(rate, 0.2)
        mean_qty = quote_volume / 86_400.0 / rate / price
        symbol = f"{base.name}/{self.quote}" + (f":{self.quote}" if kind == "futures" else "")
        return Market(
            index=index,
            base=base,
            kind=kind,
            id=f"{base.name}{self.quote}",
            symbol=symbol,
            tick=tick,
            price_decimals=_decimals(tick),
            lot=lot,
            qty_decimals=_decimals(lot),
            book_step=book_step,
            trade_rate=rate,
            mean_qty=mean_qty,
            volume_mult=vol_mult,
        )
