"""Read-side analytics queries shared by the HTTP API and the control socket.

Like :mod:`.queries`: each function takes the runtime plus plain arguments (numbers
as ``int`` or URL strings), returns plain data msgspec encodes, and raises
:class:`~.queries.QueryError` ``(code, message, status)`` on bad input. Answers come
from the views the beta actor publishes (:mod:`.actors.beta`); only
:func:`beta_symbol` asks the actor (history and rolling series) over the bus.

Parameters and defaults:

* ``timeframe``: one of ``[beta.windows]`` (default: the first configured, ``1h``);
  anything else is 400 ``invalid_timeframe``.
* ``window``: one configured for that timeframe (default: the first one computed,
  else the first configured); anything else is 400 ``invalid_parameter``.
* ``exchange``: a known exchange (404 ``unknown_exchange``); default: the first
  exchange (config order) with a result for that timeframe and window.
* symbols in any spelling of :mod:`.symbols` (400 ``invalid_symbol``, 404
  ``unknown_symbol``).

Bad input is reported before readiness, so a wrong parameter is a 4xx even while
nothing has been computed. Before the first computation of what was asked the answer
is 503 ``not_ready`` with the reason (e.g. "waiting for candle history: BTC/USDT has
12 1h returns on sim-spot, 30 needed"); if the beta actor is not running at all, 503
``not_ready`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from virtuoso_daemon import analytics
from virtuoso_daemon.beta.compute import CorrelationView, parse_windows, view_key
from virtuoso_daemon.beta.history import HISTORY_COLUMNS
from virtuoso_daemon.beta.publish import SENTIMENT_DOC_VIEW, STATUS_VIEW
from virtuoso_daemon.beta.queries import BETA_QUERIES, ROLLING_COLUMNS
from virtuoso_daemon.beta.requests import SymbolDetail
from virtuoso_daemon.core.bus import RequestError
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.messages import BetaRow, BetaSnapshot
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.read import market as queries
from virtuoso_daemon.read.analytics_answers import (
    Beta,
    BetaHistory,
    BetaSymbol,
    BetaWindow,
    Correlation,
    HistorySeries,
    Rolling,
    Sentiment,
)
from virtuoso_daemon.read.contract import parse_choice, parse_int
from virtuoso_daemon.read.market_answers import convert

BETA_SORTS = ("beta", "symbol", "correlation", "r_squared", "volatility")
CORRELATION_ORDERS = ("cluster", "input")
ORDERS = ("asc", "desc")
MAX_ROWS = 100_000
DEFAULT_POINTS = 500
MAX_POINTS = 10_000
MAX_CORRELATION_SYMBOLS = 1_000
ACTOR_TIMEOUT = 3.0

NOT_READY = "not_ready"


# --- parameters ------------------------------------------------------------------------


def configured_windows(rt: Runtime) -> dict[str, list[str]]:
    """``{timeframe: [windows]}`` of ``[beta.windows]`` (valid entries only)."""
    windows, _ = parse_windows(rt.config.beta.windows)
    return {tf: [w for w, _ in wins] for tf, wins in windows.items()}


def check_timeframe(rt: Runtime, timeframe: str | None) -> str:
    windows = configured_windows(rt)
    if not windows:
        raise QueryError("not_configured", "no beta windows are configured ([beta.windows])", 404)
    if timeframe is None or timeframe == "":
        return next(iter(windows))
    if timeframe not in windows:
        raise QueryError(
            "invalid_timeframe",
            f"no beta is computed for timeframe {timeframe!r} "
            f"(configured: {', '.join(windows)}; see [beta.windows])",
        )
    return timeframe


def check_window(rt: Runtime, timeframe: str, window: str | None, kind: str = "beta") -> str:
    configured = configured_windows(rt)[timeframe]
    if window is None or window == "":
        for w in configured:
            if any(k.endswith(f".{timeframe}.{w}") for k in rt.views.keys(f"{kind}.")):
                return w
        return configured[0]
    if window not in configured:
        raise QueryError(
            "invalid_parameter",
            f"window {window!r} is not computed for {timeframe} "
            f"(use one of {', '.join(configured)})",
        )
    return window


def _why_not(rt: Runtime, timeframe: str, exchange: str | None) -> str:
    status = rt.views.value(STATUS_VIEW)
    if not isinstance(status, dict):
        return "the beta calculator is not running"
    parts = []
    for ex, info in status.get("exchanges", {}).items():
        if exchange and ex != exchange:
            continue
        st = info.get("timeframes", {}).get(timeframe)
        if st:
            parts.append(f"{ex}: {st.get('detail')}")
    return "; ".join(parts) or "no exchange is configured"


def not_ready(rt: Runtime, what: str, timeframe: str, exchange: str | None) -> QueryError:
    return QueryError(
        NOT_READY,
        f"{what} has not been computed yet ({_why_not(rt, timeframe, exchange)})",
        503,
    )


def _snapshot(
    rt: Runtime, kind: str, timeframe: str, window: str, exchange: str | None
) -> tuple[str, Any]:
    """``(exchange, snapshot)``: the named exchange's, or the first one that has it."""
    names = [exchange] if exchange else queries.exchange_names(rt)
    for ex in names:
        view = rt.views.get(view_key(kind, timeframe, window, ex))
        if view is not None:
            return ex, view.value
    where = f" on {exchange}" if exchange else ""
    raise not_ready(rt, f"{kind} for {timeframe}/{window}{where}", timeframe, exchange)


def _as_of(rt: Runtime, exchange: str, timeframe: str) -> int | None:
    status = rt.views.value(STATUS_VIEW) or {}
    st = status.get("exchanges", {}).get(exchange, {}).get("timeframes", {}).get(timeframe, {})
    as_of = st.get("as_of")
    return int(as_of) if as_of is not None else None


# --- beta --------------------------------------------------------------------------------


def _sort_value(row: BetaRow, sort: str) -> Any:
    return row.symbol if sort == "symbol" else getattr(row, sort)


def beta(
    rt: Runtime,
    timeframe: str | None = None,
    window: str | None = None,
    sort: str | None = None,
    limit: int | str | None = None,
    *,
    exchange: str | None = None,
    order: str | None = None,
) -> Beta:
    """Every symbol's beta row for one timeframe and window, sorted and limited.

    ``sort``: beta (default), symbol, correlation, r_squared or volatility; ``order``
    asc/desc (default: asc for symbol, desc otherwise); symbols without the value
    (insufficient data) go last. ``limit`` 1..100000.
    """
    exchange = queries.check_exchange(rt, exchange)
    tf = check_timeframe(rt, timeframe)
    w = check_window(rt, tf, window)
    s = parse_choice("sort", sort, BETA_SORTS, "beta")
    o = parse_choice("order", order, ORDERS, "asc" if s == "symbol" else "desc")
    n = parse_int("limit", limit, MAX_ROWS, 1, MAX_ROWS)
    ex, snap = _snapshot(rt, "beta", tf, w, exchange)
    if not isinstance(snap, BetaSnapshot):
        raise not_ready(rt, f"beta for {tf}/{w}", tf, exchange)
    present = [r for r in snap.rows if _sort_value(r, s) is not None]
    missing = [r for r in snap.rows if _sort_value(r, s) is None]
    present.sort(key=lambda r: _sort_value(r, s), reverse=o == "desc")
    rows = (present + missing)[:n]
    return Beta(
        exchange=ex,
        timeframe=tf,
        window=w,
        benchmark=snap.benchmark,
        computed_at=snap.computed_at,
        as_of=_as_of(rt, ex, tf),
        sort=s,
        order=o,
        count=len(rows),
        total=len(snap.rows),
        rows=rows,
        # symbol -> candles of this timeframe missing from its history (n_obs counts
        # only what is there): reported, never filled in
        gaps=queries.candle_gaps(rt, ex, tf),
        # every configured timeframe -> windows, so a client can ask for each of them
        windows=configured_windows(rt),
    )


async def beta_symbol(
    rt: Runtime,
    symbol: str,
    *,
    exchange: str | None = None,
    timeframe: str | None = None,
    window: str | None = None,
    points: int | str | None = None,
) -> BetaSymbol:
    """One symbol: its row in every timeframe/window, history series, rolling beta.

    ``timeframe``/``window`` choose the rolling series (default: the first timeframe
    and its shortest window); ``points`` (1..10000, default 500) caps each series,
    newest kept.
    """
    ex, sym = queries.resolve(rt, symbol, exchange)
    tf = check_timeframe(rt, timeframe)
    windows = configured_windows(rt)
    if window is None or window == "":
        w = min(windows[tf], key=lambda lbl: analytics.window_candles(lbl, tf))
    else:
        w = check_window(rt, tf, window)
    n = parse_int("points", points, DEFAULT_POINTS, 1, MAX_POINTS)

    entries: list[BetaWindow] = []
    benchmark = None
    computed = listed = False
    for tf_i, wins in windows.items():
        for w_i in wins:
            view = rt.views.get(view_key("beta", tf_i, w_i, ex))
            snap = view.value if view is not None else None
            row = None
            if isinstance(snap, BetaSnapshot):
                computed = True
                benchmark = snap.benchmark
                row = next((r for r in snap.rows if r.symbol == sym), None)
                listed = listed or row is not None
            entries.append(
                BetaWindow(
                    timeframe=tf_i,
                    window=w_i,
                    computed_at=snap.computed_at if isinstance(snap, BetaSnapshot) else None,
                    row=row,
                )
            )
    if not computed:
        raise not_ready(rt, f"beta on {ex}", tf, ex)
    if not listed:
        raise QueryError("unknown_symbol", f"{sym} is not in the beta universe of {ex}", 404)
    body = SymbolDetail(exchange=ex, symbol=sym, timeframe=tf, window=w, points=n)
    try:
        detail = await rt.bus.request(BETA_QUERIES, body, timeout=ACTOR_TIMEOUT)
    except RequestError as exc:
        if exc.code == "unavailable":
            raise QueryError(NOT_READY, "the beta calculator is not running", 503) from None
        raise QueryError(exc.code, exc.message, 400) from None
    except TimeoutError:
        raise QueryError("unavailable", "the beta calculator did not answer in time", 503) from None
    rolling = detail["rolling"] or {
        "timeframe": tf,
        "window": w,
        "columns": list(ROLLING_COLUMNS),
        "rows": [],
    }
    return BetaSymbol(
        exchange=ex,
        symbol=sym,
        benchmark=benchmark,
        windows=entries,
        gaps={tf_i: queries.candle_gaps(rt, ex, tf_i).get(sym, []) for tf_i in windows},
        history=BetaHistory(
            columns=list(HISTORY_COLUMNS),
            series=[HistorySeries(**series) for series in detail["history"]],
        ),
        rolling=convert(rolling, Rolling),
    )


# --- correlation -------------------------------------------------------------------------


def _symbol_list(symbols: str | Sequence[str] | None) -> list[str]:
    if symbols is None:
        return []
    items = symbols.split(",") if isinstance(symbols, str) else list(symbols)
    names = [s.strip() for s in items if isinstance(s, str) and s.strip()]
    if isinstance(symbols, str) and symbols.strip() and not names:
        raise QueryError("invalid_parameter", "symbols must be a comma-separated list")
    if len(names) > MAX_CORRELATION_SYMBOLS:
        raise QueryError(
            "invalid_parameter", f"at most {MAX_CORRELATION_SYMBOLS} symbols, got {len(names)}"
        )
    return names


def _largest(rt: Runtime, exchange: str, symbols: list[str], idx: list[int], n: int) -> list[int]:
    """The ``n`` of ``idx`` whose symbols have the largest 24h quote volume (input order
    kept); symbols without a ticker count as zero."""
    volume = {
        t.symbol: t.quote_volume or 0.0
        for t in queries.snapshot(rt).tickers
        if t.exchange == exchange
    }
    ranked = sorted(range(len(idx)), key=lambda k: -volume.get(symbols[k], 0.0))[:n]
    return [idx[k] for k in sorted(ranked)]


def _nan_to_none(rows: list[list[float]]) -> list[list[float | None]]:
    return [[v if math.isfinite(v) else None for v in row] for row in rows]


def correlation(
    rt: Runtime,
    timeframe: str | None = None,
    window: str | None = None,
    symbols: str | Sequence[str] | None = None,
    *,
    exchange: str | None = None,
    order: str | None = None,
    top: int | str | None = None,
) -> Correlation:
    """The correlation matrix (heatmap data) of all symbols or of ``symbols``.

    ``order``: ``cluster`` (default; average-linkage order so related symbols sit
    together, recomputed for a subset) or ``input`` (as given). ``symbols`` and
    ``matrix`` are in that display order; ``input`` is the symbol list before
    ordering and ``order`` the permutation (indices into ``input``). ``top`` (1..1000)
    keeps the N symbols (of ``symbols``, or of all) with the largest 24h quote volume
    on that exchange (those without a ticker count as zero).
    """
    exchange = queries.check_exchange(rt, exchange)
    tf = check_timeframe(rt, timeframe)
    w = check_window(rt, tf, window, "correlation")
    o = parse_choice("order", order, CORRELATION_ORDERS, "cluster")
    names = _symbol_list(symbols)
    n_top = (
        None if top is None or top == "" else parse_int("top", top, 0, 1, MAX_CORRELATION_SYMBOLS)
    )
    ex, value = _snapshot(rt, "correlation", tf, w, exchange)
    if not isinstance(value, CorrelationView):
        raise not_ready(rt, f"correlation for {tf}/{w}", tf, exchange)
    snap = value.snapshot
    position = {s: i for i, s in enumerate(snap.symbols)}
    if names:
        idx: list[int] = []
        for name in names:
            _, sym = queries.resolve(rt, name, ex)
            if sym not in position:
                raise QueryError(
                    "unknown_symbol", f"{sym} is not in the correlation matrix of {ex}", 404
                )
            if position[sym] not in idx:
                idx.append(position[sym])
    else:
        idx = list(range(len(snap.symbols)))
    if n_top is not None and n_top < len(idx):
        idx = _largest(rt, ex, [snap.symbols[i] for i in idx], idx, n_top)
    sub = value.values[np.ix_(idx, idx)]
    subset = bool(names) or n_top is not None
    if o == "input":
        perm = np.arange(len(idx))
    elif not subset:
        perm = np.asarray(snap.order, dtype=np.int64)
    else:
        perm = analytics.cluster_order(sub)
    shown = sub[np.ix_(perm, perm)]
    return Correlation(
        exchange=ex,
        timeframe=tf,
        window=w,
        computed_at=snap.computed_at,
        as_of=_as_of(rt, ex, tf),
        order_by=o,
        symbols=[snap.symbols[idx[p]] for p in perm.tolist()],
        matrix=_nan_to_none(shown.tolist()),
        order=perm.tolist(),
        input=[snap.symbols[i] for i in idx],
    )


# --- sentiment ---------------------------------------------------------------------------


def _sentiment_view(rt: Runtime) -> Any:
    view = rt.views.get(SENTIMENT_DOC_VIEW)
    if view is None:
        running = isinstance(rt.views.value(STATUS_VIEW), dict)
        why = (
            "it needs tickers, funding, trades or a first beta computation"
            if running
            else "the beta calculator is not running"
        )
        raise QueryError(NOT_READY, f"sentiment has not been computed yet ({why})", 503)
    return view


def sentiment(rt: Runtime) -> Sentiment:
    """Score, index, label, components (value/score/weight) with sources, and regime."""
    return convert(_sentiment_view(rt).value, Sentiment)


def sentiment_body(rt: Runtime) -> bytes:
    """The pre-encoded JSON of :func:`sentiment` (what the HTTP API writes)."""
    body: bytes = _sentiment_view(rt).body
    return body


__all__ = [
    "BETA_SORTS",
    "CORRELATION_ORDERS",
    "beta",
    "beta_symbol",
    "check_timeframe",
    "check_window",
    "configured_windows",
    "correlation",
    "sentiment",
    "sentiment_body",
]
