"""The pure parts of the beta actor: windows, benchmark choice, debouncing, computing.

Nothing here does I/O or touches the runtime, so each piece is unit-tested on its
own (``tests/beta/test_units.py``); :mod:`.beta` wires them to the bus, the market
store and the views.

* :func:`parse_windows`: ``[beta.windows]`` -> candles per window, invalid entries
  reported instead of silently becoming another window.
* :func:`pick_benchmark`: which symbol of an exchange is "BTC" (spot vs perpetual).
* :class:`Coalescer`: one recompute per (exchange, timeframe) per candle close.
* :func:`compute`: store closes -> :class:`Computation` (beta and correlation
  snapshots of every window, plus the returns matrix for rolling series).
* :func:`history_points`: what one computation adds to the beta history.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import msgspec
import numpy as np

from virtuoso_daemon import analytics
from virtuoso_daemon.analytics import BetaTable, ReturnsMatrix
from virtuoso_daemon.beta.history import HistoryKey, HistoryPoint
from virtuoso_daemon.core.messages import BetaRow, BetaSnapshot, CorrelationSnapshot
from virtuoso_daemon.core.symbols import split_unified
from virtuoso_daemon.market.ringbuffer import FloatArray, IntArray

SETTLE = 0.3  # s after the last candle of a burst, once the benchmark's is in
MAX_WAIT = 1.0  # s after the first candle of a burst, at the latest
# a burst of history pages only (backfill, catch-up): pages of one timeframe arrive
# for minutes during a backfill, and a recompute per second of it was a third of
# the daemon's CPU at 300 markets (387 computes of ~0.35 s in one start-up)
HISTORY_SETTLE = 2.0  # s after the last page
HISTORY_MAX_WAIT = 15.0  # s after the first page, at the latest (progress while paging)

K = TypeVar("K", bound=Hashable)


def view_key(kind: str, timeframe: str, window: str, exchange: str | None = None) -> str:
    """``beta.sim-spot.1h.30d`` (one exchange) or ``beta.1h.30d`` (the default alias)."""
    if exchange:
        return f"{kind}.{exchange}.{timeframe}.{window}"
    return f"{kind}.{timeframe}.{window}"


def parse_windows(
    windows: Mapping[str, Sequence[str]],
) -> tuple[dict[str, tuple[tuple[str, int], ...]], list[str]]:
    """``{timeframe: ((window, candles), ...)}`` for the valid entries, and one message
    per invalid one (bad timeframe, or a window that is not whole candles)."""
    out: dict[str, tuple[tuple[str, int], ...]] = {}
    problems: list[str] = []
    for tf, labels in windows.items():
        try:
            analytics.timeframe_seconds(tf)
        except ValueError as exc:
            problems.append(f"beta.windows.{tf}: {exc}")
            continue
        good: list[tuple[str, int]] = []
        for label in dict.fromkeys(labels):
            try:
                good.append((label, analytics.window_candles(label, tf)))
            except ValueError as exc:
                problems.append(f"beta.windows.{tf}: {exc}")
        if good:
            out[tf] = tuple(good)
    return out, problems


def pick_benchmark(configured: str, market: str, symbols: Sequence[str]) -> str | None:
    """The benchmark of one exchange: its symbol with the configured benchmark's base.

    Preference, in order: the right market type (a spot symbol on a spot exchange, a
    derivative ``BASE/QUOTE:SETTLE`` elsewhere); the configured symbol translated to
    that type (``BTC/USDT`` -> ``BTC/USDT:USDT`` on a perpetuals exchange); the
    configured symbol itself; the same quote currency; the exchange's symbol order.
    None when the exchange lists no symbol with that base.
    """
    base, quote, settle = split_unified(configured)
    derivative = market != "spot"
    derived = f"{base}/{quote}:{settle or quote}" if derivative else f"{base}/{quote}"
    best: tuple[tuple[bool, bool, bool, bool, int], str] | None = None
    for i, sym in enumerate(symbols):
        b, q, s = split_unified(sym)
        if b != base:
            continue
        rank = ((s is not None) != derivative, sym != derived, sym != configured, q != quote, i)
        if best is None or rank < best[0]:
            best = (rank, sym)
    return None if best is None else best[1]


@dataclass
class _Burst:
    first: float = math.inf
    last: float = -math.inf
    ready: bool = False
    live: bool = False  # a live candle is in the burst (not only history pages)
    at: float = math.inf  # an explicit deadline (start-up, retry)


class Coalescer(Generic[K]):
    """Turns bursts of "this series changed" into one recompute per key.

    A burst opens with its first :meth:`mark`. It is due :attr:`settle` s after its
    last mark once a mark said ``ready`` (the benchmark's candle is in), and at the
    latest :attr:`max_wait` s after its first mark. A burst of ``history`` marks only
    (pages of a backfill) uses the longer :attr:`history_settle` and
    :attr:`history_max_wait`. :meth:`schedule` sets an explicit
    deadline. :meth:`due` hands out and forgets the keys whose deadline has passed;
    marks after that open a new burst (the data changed again: recompute again).
    """

    def __init__(
        self,
        settle: float = SETTLE,
        max_wait: float = MAX_WAIT,
        history_settle: float = HISTORY_SETTLE,
        history_max_wait: float = HISTORY_MAX_WAIT,
    ) -> None:
        self.settle = settle
        self.max_wait = max_wait
        self.history_settle = history_settle
        self.history_max_wait = history_max_wait
        self._bursts: dict[K, _Burst] = {}

    def mark(self, key: K, now: float, *, ready: bool = True, history: bool = False) -> None:
        b = self._bursts.get(key)
        if b is None:
            b = self._bursts[key] = _Burst()
        b.first = min(b.first, now)
        b.last = max(b.last, now)
        b.ready = b.ready or ready
        b.live = b.live or not history

    def schedule(self, key: K, at: float) -> None:
        b = self._bursts.get(key)
        if b is None:
            b = self._bursts[key] = _Burst()
        b.at = min(b.at, at)

    def deadline(self, key: K) -> float | None:
        b = self._bursts.get(key)
        if b is None:
            return None
        if not b.live:
            if b.first == math.inf:  # only an explicit deadline
                return b.at
            return min(b.first + self.history_max_wait, b.last + self.history_settle, b.at)
        settled = b.last + self.settle if b.ready else math.inf
        return min(b.first + self.max_wait, settled, b.at)

    def next_deadline(self) -> float | None:
        deadlines = [d for k in self._bursts if (d := self.deadline(k)) is not None]
        return min(deadlines, default=None)

    def due(self, now: float) -> list[K]:
        ready = sorted(
            (d, i, k)
            for i, k in enumerate(self._bursts)
            if (d := self.deadline(k)) is not None and d <= now
        )
        for _, _, k in ready:
            del self._bursts[k]
        return [k for _, _, k in ready]

    def pending(self) -> list[K]:
        return list(self._bursts)


@dataclass(frozen=True, slots=True)
class Universe:
    """The symbols of one exchange that get a beta, and the one they are measured against."""

    exchange: str
    market: str
    symbols: tuple[str, ...]
    benchmark: str | None


@dataclass(frozen=True, slots=True, eq=False)
class CorrelationView:
    """What the ``correlation.*`` views hold: the snapshot without its matrix of
    Python floats (a 150-symbol matrix is ~0.7 MB of them, and a daemon keeps a dozen),
    plus the same matrix as one numpy array for queries. The full snapshot goes out
    once on the bus; the view's JSON is encoded from ``values`` on first read
    (:func:`correlation_body`: ~430 KB for 150 symbols, a dozen views, read by the
    control socket's ``correlation`` command only)."""

    snapshot: CorrelationSnapshot  # with matrix=[]
    values: FloatArray  # (symbols, symbols), NaN where not enough data


@dataclass(frozen=True, slots=True, eq=False)
class Computation:
    """One recompute of one exchange and timeframe: every window's tables and snapshots."""

    exchange: str
    timeframe: str
    benchmark: str
    as_of: int  # open time (ms) of the newest closed candle used
    computed_at: float
    matrix: ReturnsMatrix
    tables: tuple[BetaTable, ...]
    betas: tuple[BetaSnapshot, ...]
    correlations: tuple[CorrelationSnapshot, ...]
    correlation_rows: Mapping[str, Mapping[str, float | None]]  # window -> sym -> corr(bench)
    # the beta snapshots' JSON, encoded here (in the worker thread) rather than on the
    # event loop when published
    beta_bodies: tuple[bytes, ...] = ()
    correlation_values: tuple[FloatArray, ...] = ()


_encode = msgspec.json.Encoder().encode


def slim_correlation(snap: CorrelationSnapshot) -> CorrelationSnapshot:
    """The snapshot without its matrix (see :class:`CorrelationView`)."""
    return msgspec.structs.replace(snap, matrix=[])


def finite_or_none(v: float) -> float | None:
    """``v``, or None for NaN/inf (JSON has no NaN)."""
    return v if math.isfinite(v) else None


def _none_if_nan(values: list[float]) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in values]


def correlation_body(view: CorrelationView) -> bytes:
    """The JSON of the full snapshot (matrix included, NaN as null) of a view."""
    matrix = [_none_if_nan(r) for r in view.values.tolist()]
    return _encode(msgspec.structs.replace(view.snapshot, matrix=matrix))


def compute(
    universe: Universe,
    timeframe: str,
    windows: Sequence[str],
    times: IntArray,
    closes: FloatArray,
    *,
    min_obs: int,
    computed_at: float,
) -> Computation:
    """Betas and correlations of ``universe`` from store closes ``(symbols, n)``.

    Pure (no I/O); the actor runs it in a worker thread.
    """
    benchmark = universe.benchmark
    if benchmark is None:
        raise ValueError(f"{universe.exchange}: no benchmark")
    symbols = universe.symbols
    matrix = ReturnsMatrix(
        symbols=symbols,
        timeframe=timeframe,
        times=np.asarray(times[1:], dtype=np.int64).copy(),
        returns=analytics.log_returns(np.asarray(closes, dtype=np.float64).T),
    )
    tables = analytics.compute_betas(matrix, list(windows), benchmark=benchmark, min_obs=min_obs)
    bench_col = symbols.index(benchmark)
    betas: list[BetaSnapshot] = []
    correlations: list[CorrelationSnapshot] = []
    corr_values: list[FloatArray] = []
    corr_rows: dict[str, dict[str, float | None]] = {}
    for table in tables:
        buckets = analytics.risk_buckets(table.beta, table.volatility)
        rows = [
            BetaRow(**stats._asdict(), risk_bucket=bucket)
            for stats, bucket in zip(table.rows(), buckets, strict=True)
        ]
        betas.append(
            BetaSnapshot(
                timeframe=timeframe,
                window=table.label,
                benchmark=benchmark,
                computed_at=computed_at,
                rows=rows,
                exchange=universe.exchange,
                as_of=int(times[-1]),
            )
        )
        corr = analytics.correlation_snapshot(matrix, window=table.window, min_obs=min_obs)
        corr_values.append(np.asarray(corr.matrix, dtype=np.float64))
        matrix_rows = [_none_if_nan(r) for r in corr.matrix.tolist()]
        correlations.append(
            CorrelationSnapshot(
                timeframe=timeframe,
                window=table.label,
                symbols=list(corr.symbols),
                matrix=matrix_rows,
                order=corr.order.tolist(),
                computed_at=computed_at,
                exchange=universe.exchange,
                as_of=int(times[-1]),
            )
        )
        corr_rows[table.label] = dict(zip(symbols, matrix_rows[bench_col], strict=True))
    encode = msgspec.json.Encoder().encode
    return Computation(
        exchange=universe.exchange,
        timeframe=timeframe,
        benchmark=benchmark,
        as_of=int(times[-1]),
        computed_at=computed_at,
        matrix=matrix,
        tables=tables,
        betas=tuple(betas),
        correlations=tuple(correlations),
        correlation_rows=corr_rows,
        beta_bodies=tuple(encode(b) for b in betas),
        correlation_values=tuple(corr_values),
    )


def history_points(comp: Computation) -> list[tuple[HistoryKey, HistoryPoint]]:
    """One point per symbol and window that has a beta (insufficient ones are left out)."""
    out: list[tuple[HistoryKey, HistoryPoint]] = []
    for snap in comp.betas:
        for row in snap.rows:
            if row.beta is None:
                continue
            key = HistoryKey(comp.exchange, row.symbol, comp.timeframe, snap.window)
            point = HistoryPoint(
                comp.as_of,
                row.beta,
                row.beta_se,
                row.correlation,
                row.r_squared,
                row.volatility,
                row.n_obs,
            )
            out.append((key, point))
    return out


__all__ = [
    "MAX_WAIT",
    "SETTLE",
    "Coalescer",
    "Computation",
    "CorrelationView",
    "Universe",
    "compute",
    "correlation_body",
    "finite_or_none",
    "history_points",
    "parse_windows",
    "pick_benchmark",
    "slim_correlation",
    "view_key",
]
