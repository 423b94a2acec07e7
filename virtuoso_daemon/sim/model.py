"""The live market: the factor model stepped in simulated time, trades, books, funding.

:class:`Engine` owns all market state. ``tick(t_ms)`` advances the simulated clock to
``t_ms`` in sub-steps that never cross a minute boundary (so no candle is skipped at
any speed), then moves every order book once. Per tick it records what the websocket
layer publishes (new trades, candles just closed) and clears the per-tick cache that
REST and websocket encoders share, so an encoded body is built at most once per tick.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from virtuoso_daemon.sim.book import Book
from virtuoso_daemon.sim.candles import FIELDS, CandleSeries
from virtuoso_daemon.sim.config import SimConfig
from virtuoso_daemon.sim.episodes import SPOOF_DISTANCE, SPOOF_SIZE, Episodes
from virtuoso_daemon.sim.history import generate_history
from virtuoso_daemon.sim.universe import SECONDS_PER_YEAR, Universe

# trade record: (id, price_str, qty_str, time_ms, buyer_is_maker, price, qty)
Trade = tuple[int, str, str, int, bool, float, float]

DAY_MS = 86_400_000
FUNDING_HISTORY = 500


class Engine:
    """All simulated market state and its evolution; no I/O."""

    def __init__(self, config: SimConfig, now_ms: int | None = None) -> None:
        self.config = config
        self.universe = u = Universe(config)
        self.markets = u.markets
        self.rng = np.random.default_rng([config.seed, 3])
        wall_now = int(time.time() * 1000) if now_ms is None else now_ms
        end_s = wall_now // 60_000 * 60 - 60  # history ends a minute back; replayed live
        hist = generate_history(u, end_s, config.history_candles, config.seed)
        nb = u.n_bases
        m_count = len(self.markets)
        self.base_of = np.array([m.base.index for m in self.markets])
        self.is_perp = np.array([m.kind == "futures" for m in self.markets])
        self.beta = np.array([b.beta for b in u.bases])
        self.idio = np.array([0.0] + [b.idio_vol for b in u.bases[1:]])
        self.rate = np.array([m.trade_rate for m in self.markets])
        self.mean_qty = np.array([m.mean_qty for m in self.markets])
        self.lot = np.array([m.lot for m in self.markets])
        self.logp = hist.log_price.copy()
        self.prem = np.where(np.arange(nb) == 0, 2e-4, self.rng.normal(1e-4, 3e-4, nb))
        self.t_ms = end_s * 1000

        # candles: spot rows are the base history, perpetuals scale price and volume
        price_mult = np.where(self.is_perp, 1.0 + self.prem[self.base_of], 1.0)
        vol_mult = np.array([m.volume_mult for m in self.markets])
        self.series: dict[str, CandleSeries] = {}
        for name, fh in hist.frames.items():
            closed = self._market_candles(
                {"o": fh.o, "h": fh.h, "l": fh.low, "c": fh.c, "v": fh.v}, price_mult, vol_mult
            )
            cur = self._market_candles(
                {
                    "o": fh.open_o[None],
                    "h": fh.open_h[None],
                    "l": fh.open_l[None],
                    "c": fh.open_c[None],
                    "v": fh.open_v[None],
                },
                price_mult,
                vol_mult,
            )
            self.series[name] = CandleSeries(
                name,
                fh.step * 1000,
                fh.start * 1000,
                closed,
                {f: cur[f][0] for f in FIELDS},
                self.markets,
            )

        prices = self.prices()
        self.books = [
            Book(m, config.book_levels, float(prices[m.index]), config.seed * 1009 + i)
            for i, m in enumerate(self.markets)
        ]
        self.trades: list[deque[Trade]] = [deque(maxlen=1000) for _ in range(m_count)]
        self.next_trade_id = [10_000_000 * (1 + i % 7) + 1000 * i for i in range(m_count)]
        self.tick_trades: list[list[Trade]] = [[] for _ in range(m_count)]
        self.closed_now: list[str] = []
        self.tick_no = 0
        self.cache: dict[Any, Any] = {}

        # perpetual-only state, indexed by base
        self.funding = 1e-4 + 0.3 * self.prem
        self.open_interest = np.array(
            [b.daily_quote_volume / b.price for b in u.bases]
        ) * self.rng.uniform(0.2, 0.6, nb)
        period = config.funding_interval_hours * 3_600_000
        self.funding_period = period
        first = (self.t_ms // period - FUNDING_HISTORY + 1) * period
        self.funding_times = [first + k * period for k in range(FUNDING_HISTORY)]
        fr = np.empty((FUNDING_HISTORY, nb))
        fr[0] = 1e-4
        for k in range(1, FUNDING_HISTORY):
            fr[k] = 1e-4 + 0.7 * (fr[k - 1] - 1e-4) + self.rng.normal(0, 8e-5, nb)
        self.funding_hist: list[np.ndarray] = list(fr)

        self.whales: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.walls: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.stats: dict[str, np.ndarray] = {}
        self._compute_stats()
        self.episodes = Episodes(config, u, wall_now)
        # replay the gap up to the wall clock so trades and books have recent history
        while self.t_ms < wall_now:
            target = min(wall_now, self.t_ms + 2000)
            self.tick(target, books=target == wall_now)

    def _market_candles(
        self, base: dict[str, np.ndarray], pm: np.ndarray, vm: np.ndarray
    ) -> dict[str, np.ndarray]:
        b = self.base_of
        out = {f: base[f][:, b] * pm for f in ("o", "h", "l", "c")}
        v = base["v"][:, b] * vm
        typical = (out["o"] + out["h"] + out["l"] + out["c"]) / 4.0
        frac = 0.4 + 0.2 * np.random.default_rng([self.config.seed, 4, v.shape[0]]).random(v.shape)
        out["v"] = v
        out["q"] = v * typical
        out["n"] = np.where(v > 0, np.maximum(1.0, np.round(v / self.mean_qty)), 0.0)
        out["tb"] = v * frac
        out["tq"] = v * frac * typical
        return out

    # -- prices ---------------------------------------------------------------------------

    def prices(self) -> np.ndarray:
        """Current market prices ``[M]``: spot is the base, perpetuals carry a premium."""
        spot = np.exp(self.logp)[self.base_of]
        return np.where(self.is_perp, spot * (1.0 + self.prem[self.base_of]), spot)

    def index_price(self, base: int) -> float:
        return float(math.exp(self.logp[base]))

    # -- the clock ------------------------------------------------------------------------

    def tick(self, target_ms: int, *, books: bool = True) -> None:
        """Advance to ``target_ms`` (simulated), then move the books once."""
        for lst in self.tick_trades:
            lst.clear()
        self.closed_now = []
        start = self.t_ms
        prices = self.prices()
        while self.t_ms < target_ms:
            nxt = min(target_ms, (self.t_ms // 60_000 + 1) * 60_000)
            prices = self._substep((nxt - self.t_ms) / 1000.0, nxt, prices)
        if books:
            self._step_books(prices, (self.t_ms - start) / 1000.0)
            self._compute_stats()
        self.tick_no += 1
        self.cache.clear()

    def _substep(self, dt: float, new_ms: int, old: np.ndarray) -> np.ndarray:
        rng = self.rng
        cfg = self.config
        nb = len(self.logp)
        z = rng.standard_normal(nb)
        s = math.sqrt(dt / SECONDS_PER_YEAR)
        dx0 = cfg.btc_vol * s * z[0]
        dlog = self.beta * dx0 + self.idio * s * z
        dlog[0] = dx0
        scripted = self.episodes.drift(self.t_ms, new_ms)
        if scripted is not None:
            dlog += scripted[0]
            self.open_interest *= np.exp(scripted[1])
        self.logp += dlog
        theta = 1.0 / 3600.0
        self.prem += -theta * dt * (self.prem - 1e-4) + 3e-4 * math.sqrt(
            2 * theta * dt
        ) * rng.standard_normal(nb)
        self.t_ms = new_ms
        new = self.prices()
        m_count = len(new)
        vol = np.zeros(m_count)
        qvol = np.zeros(m_count)
        cnt = np.zeros(m_count)
        tb = np.zeros(m_count)
        tq = np.zeros(m_count)
        mult = self.episodes.rate_mult(self.t_ms)
        if mult is None:
            counts = np.minimum(rng.poisson(self.rate * dt), cfg.max_trades_per_step)
        else:  # an episode's extra trades are not cut by the per-step cap
            counts = np.minimum(rng.poisson(self.rate * mult * dt), cfg.max_trades_per_step * mult)
            counts = counts.astype(np.int64)
        whales = rng.random(m_count) < cfg.whale_rate / 3600.0 * dt
        for m in np.flatnonzero(counts + whales).tolist():
            v, q, n, b, bq = self._trades(
                m, int(counts[m]), bool(whales[m]), float(old[m]), float(new[m]), new_ms
            )
            vol[m], qvol[m], cnt[m], tb[m], tq[m] = v, q, n, b, bq
        for series in self.series.values():
            series.update(new, vol, qvol, cnt, tb, tq)
        # funding estimate and open interest drift
        self.funding += -dt / 7200.0 * (self.funding - (1e-4 + 0.3 * self.prem)) + 2e-5 * math.sqrt(
            dt / 3600.0
        ) * rng.standard_normal(nb)
        np.clip(self.funding, -0.0075, 0.0075, out=self.funding)
        self.open_interest *= np.exp(0.02 * math.sqrt(dt / 3600.0) * rng.standard_normal(nb))
        if new_ms % self.funding_period == 0:
            self.funding_times.append(new_ms)
            self.funding_hist.append(self.funding.copy())
        for name, series in self.series.items():
            if new_ms % series.step_ms == 0:
                series.roll()
                self.closed_now.append(name)
        return new

    def _trades(
        self, m: int, n: int, whale: bool, p0: float, p1: float, t_ms: int
    ) -> tuple[float, float, int, float, float]:
        mk = self.markets[m]
        rng = self.rng
        qtys = (self.mean_qty[m] * rng.lognormal(-0.5, 1.0, n)).tolist()
        makers = (rng.random(n) < (0.5 - 0.25 * math.copysign(1.0, p1 - p0))).tolist()
        whale_at = int(rng.integers(0, n + 1)) if whale else -1
        total = quote = buy = buy_q = 0.0
        out = self.tick_trades[m]
        store = self.trades[m]
        lot = mk.lot
        k_total = n + (1 if whale else 0)
        for k in range(k_total):
            price = p0 + (p1 - p0) * (k + 1) / k_total
            price = round(price / mk.tick) * mk.tick
            if k == whale_at:
                q = max(
                    mk.mean_qty * self.config.whale_multiplier,
                    self.config.whale_min_notional / price,
                ) * float(rng.uniform(1.0, 2.5))
                maker = bool(rng.random() < 0.5)
            else:
                j = k if k < whale_at or whale_at < 0 else k - 1
                q, maker = qtys[j], makers[j]
            q = max(lot, round(q / lot) * lot)
            tid = self.next_trade_id[m]
            self.next_trade_id[m] = tid + 1
            rec: Trade = (tid, mk.fmt_price(price), mk.fmt_qty(q), t_ms, maker, price, q)
            out.append(rec)
            store.append(rec)
            total += q
            quote += q * price
            if not maker:
                buy += q
                buy_q += q * price
            if k == whale_at:
                self.whales.append(
                    {
                        "market": mk.kind,
                        "symbol": mk.symbol,
                        "id": mk.id,
                        "trade_id": tid,
                        "time": t_ms,
                        "price": price,
                        "qty": q,
                        "notional": q * price,
                        "side": "sell" if maker else "buy",
                    }
                )
                if mk.kind == "futures":
                    self.open_interest[mk.base.index] += q * 0.5
        return total, quote, k_total, buy, buy_q

    def _step_books(self, prices: np.ndarray, dt: float) -> None:
        rng = self.rng
        cfg = self.config
        m_count = len(self.books)
        churn = (rng.geometric(0.08, size=(m_count, 2, 2)) - 1).tolist()
        mult = rng.lognormal(0.0, 0.6, size=(m_count, 2, 2)).tolist()
        walls = rng.random(m_count) < cfg.wall_rate / 3600.0 * dt
        now = self.t_ms
        spoofs = {}
        for due in self.episodes.walls_due(now):
            spot = self.universe.find("spot", f"{due.base_name}{self.universe.quote}")
            if spot is not None:
                spoofs[spot.index] = due
        for m, book in enumerate(self.books):
            wall_spec = None
            ep = spoofs.get(m)
            if ep is not None:
                smk = self.markets[m]
                spoof: dict[str, Any] = {
                    "market": smk.kind,
                    "symbol": smk.symbol,
                    "id": smk.id,
                    "side": "ask",
                    "start": now,
                    "end": ep.end_ms,
                    "active": True,
                    "episode": ep.id,
                }
                ep.record["wall"] = spoof
                offset = int(SPOOF_DISTANCE * float(prices[m]) / book.step)
                wall_spec = (
                    Book.ASK,
                    offset,
                    cfg.wall_multiplier * SPOOF_SIZE,
                    ep.end_ms - now,
                    spoof,
                )
            elif walls[m]:
                mk = self.markets[m]
                side = int(rng.integers(0, 2))
                dist = float(rng.uniform(0.005, 0.03))
                offset = int(dist * float(prices[m]) / book.step)
                duration = int(rng.exponential(cfg.wall_duration) * 1000) + 1000
                record: dict[str, Any] = {
                    "market": mk.kind,
                    "symbol": mk.symbol,
                    "id": mk.id,
                    "side": "bid" if side == Book.BID else "ask",
                    "start": now,
                    "end": now + duration,
                    "active": True,
                }
                wall_spec = (
                    side,
                    offset,
                    cfg.wall_multiplier * float(rng.uniform(1.0, 2.0)),
                    duration,
                    record,
                )
            ended, added = book.step_to(float(prices[m]), churn[m], mult[m], now, wall_spec)
            for wall in ended:
                wall.record["active"] = False
                wall.record["end"] = min(int(wall.record["end"]), now)
            if added is not None:
                self.walls.append(added.record)

    # -- derived statistics ---------------------------------------------------------------

    def _compute_stats(self) -> None:
        """Rolling 24h figures for every market from the 5m candles (vectorised)."""
        s5 = self.series["5m"]
        d = s5.data
        first = max(0, -((s5.start_ms - (self.t_ms - DAY_MS)) // s5.step_ms))
        first = min(first, s5.n)
        cur = s5.cur
        if first < s5.n:
            sl = slice(first, s5.n)
            open24 = d["o"][first]
            high = np.maximum(d["h"][sl].max(axis=0), cur["h"])
            low = np.minimum(d["l"][sl].min(axis=0), cur["l"])
            vol = d["v"][sl].sum(axis=0) + cur["v"]
            qvol = d["q"][sl].sum(axis=0) + cur["q"]
            count = d["n"][sl].sum(axis=0) + cur["n"]
        else:
            open24, high, low = cur["o"], cur["h"], cur["l"]
            vol, qvol, count = cur["v"], cur["q"], cur["n"]
        last = cur["c"]
        self.stats = {
            "open": open24.copy(),
            "high": high,
            "low": low,
            "volume": vol,
            "quote_volume": qvol,
            "count": count,
            "last": last.copy(),
        }

    def cached(self, key: Any, build: Callable[[], Any]) -> Any:
        """Memoise ``build()`` for the rest of this tick."""
        got = self.cache.get(key)
        if got is None:
            got = self.cache[key] = build()
        return got

    def next_funding_time(self) -> int:
        return (self.t_ms // self.funding_period + 1) * self.funding_period
