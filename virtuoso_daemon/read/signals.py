"""What the signal detectors found: whales, walls, manipulation scores.

One answer for ``GET /api/signals/whales|walls|manipulation`` and the socket's
``signals.whales|walls|manipulation``. Each reads the view the signals actor
publishes (:mod:`virtuoso_daemon.signals.actor`), never the actor: ``503 not_ready``
until the actor has published (or when ``[signals] enabled = false``), ``400
invalid_parameter`` for a bad filter. Alerts (fired, acknowledged, resolved) are the
alert manager's: ``/api/signals/alerts``.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.runtime import ReadModel
from virtuoso_daemon.read.contract import QueryArgs, parse_choice, parse_int
from virtuoso_daemon.signals.actor import MANIPULATION_VIEW, WALLS_VIEW, WHALES_VIEW

MAX_LIMIT = 1000


class WhalesArgs(QueryArgs, frozen=True):
    exchange: str | None = None
    symbol: str | None = None
    side: str | None = None  # buy | sell
    type: str | None = None  # single | burst
    min_usd: float | None = None
    limit: int = 50  # newest first


class WallsArgs(QueryArgs, frozen=True):
    exchange: str | None = None
    symbol: str | None = None
    side: str | None = None  # bid | ask
    state: str | None = None  # active | ended | all (default)
    limit: int = 50


class ManipulationArgs(QueryArgs, frozen=True):
    exchange: str | None = None
    symbol: str | None = None
    min_score: float | None = None  # in [0, 1]
    limit: int = 50  # highest scores first


# --- answers: the detectors' rows (plain dicts in the views) as they are served --------


class Row(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Base of the rows: a field a detector adds must be added here too (else 500)."""


class Whale(Row, frozen=True):
    """A whale trade (``single``) or a same-side burst of ordinary trades (``burst``)."""

    type: Literal["single", "burst"]
    exchange: str
    symbol: str
    side: str  # buy | sell (unknown when the exchange does not say)
    price: float
    amount: float | None  # null for a burst
    usd: float
    sigmas: float | None  # how unusual the trade was; null for a burst
    trades: int  # 1, or the trades in the burst
    trade_id: str | None
    ts: float


class Whales(msgspec.Struct, frozen=True):
    whales: list[Whale]  # newest first, at most ``limit``
    count: int  # rows that matched before the limit


class Wall(Row, frozen=True):
    """A wall in the book now: ``ratio`` is its size over a usual level's."""

    exchange: str
    symbol: str
    side: str  # bid | ask
    price: float
    amount: float
    usd: float
    ratio: float
    first_seen: float
    last_seen: float


class EndedWall(Row, frozen=True):
    exchange: str
    symbol: str
    side: str
    price: float
    amount: float
    usd: float
    ratio: float
    first_seen: float
    ended: float
    outcome: Literal["pulled", "filled", "out_of_view"]


class Walls(msgspec.Struct, frozen=True):
    active: list[Wall]  # largest first
    recent: list[EndedWall]  # newest first


class ScoreComponent(Row, frozen=True):
    name: str  # oi_change, volume, price, divergence
    value: float | None
    score: float | None  # in [0, 1]
    weight: float


class ManipulationRow(Row, frozen=True):
    exchange: str
    symbol: str
    score: float | None  # the highest window's, in [0, 1]; null without data
    window_min: int | None  # that window
    components: list[ScoreComponent]  # of that window
    windows: dict[str, float | None]  # every window's score, by minutes
    ts: float


class Manipulation(msgspec.Struct, frozen=True):
    symbols: list[ManipulationRow]  # highest score first
    windows_min: list[int]
    warning: float  # the score thresholds of the alerts
    critical: float
    count: int


def _view(rt: ReadModel, key: str) -> dict[str, Any]:
    doc: dict[str, Any] | None = rt.views.value(key)
    if doc is None:
        raise QueryError(
            "not_ready", "the signals actor has not published yet (or [signals] is off)", 503
        )
    return doc


def _matches(row: dict[str, Any], exchange: str | None, symbol: str | None) -> bool:
    return (exchange is None or row["exchange"] == exchange) and (
        symbol is None or row["symbol"] == symbol
    )


def whales(rt: ReadModel, args: WhalesArgs) -> Whales:
    """Recent whale trades and same-side bursts, newest first: side, USD value, sigmas."""
    limit = parse_int("limit", args.limit, 50, 1, MAX_LIMIT)
    side = parse_choice("side", args.side, ("buy", "sell"), "")
    kind = parse_choice("type", args.type, ("single", "burst"), "")
    if args.min_usd is not None and not args.min_usd >= 0:
        raise QueryError("invalid_parameter", f"min_usd must be >= 0, got {args.min_usd}")
    rows = [
        r
        for r in _view(rt, WHALES_VIEW)["whales"]
        if _matches(r, args.exchange, args.symbol)
        and (not side or r["side"] == side)
        and (not kind or r["type"] == kind)
        and (args.min_usd is None or r["usd"] >= args.min_usd)
    ]
    return Whales(msgspec.convert(rows[:limit], list[Whale]), len(rows))


def walls(rt: ReadModel, args: WallsArgs) -> Walls:
    """Walls in the books now (largest first) and ended ones with their outcome
    (pulled / filled / out_of_view), newest first."""
    limit = parse_int("limit", args.limit, 50, 1, MAX_LIMIT)
    side = parse_choice("side", args.side, ("bid", "ask"), "")
    state = parse_choice("state", args.state, ("active", "ended", "all"), "all")
    doc = _view(rt, WALLS_VIEW)

    def keep(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            r
            for r in rows
            if _matches(r, args.exchange, args.symbol) and (not side or r["side"] == side)
        ][:limit]

    return Walls(
        active=msgspec.convert(
            keep(doc["active"]) if state in ("active", "all") else [], list[Wall]
        ),
        recent=msgspec.convert(
            keep(doc["recent"]) if state in ("ended", "all") else [], list[EndedWall]
        ),
    )


def manipulation(rt: ReadModel, args: ManipulationArgs) -> Manipulation:
    """The manipulation score per symbol (highest first) with its window and its
    components (value, score, weight); see ``analytics/detectors/manipulation.py``."""
    limit = parse_int("limit", args.limit, 50, 1, MAX_LIMIT)
    if args.min_score is not None and not 0 <= args.min_score <= 1:
        raise QueryError("invalid_parameter", f"min_score must be in [0, 1], got {args.min_score}")
    doc = _view(rt, MANIPULATION_VIEW)
    rows = [
        r
        for r in doc["symbols"]
        if _matches(r, args.exchange, args.symbol)
        and (args.min_score is None or (r["score"] is not None and r["score"] >= args.min_score))
    ]
    if args.symbol is not None and not rows:
        raise QueryError(
            "unknown_symbol",
            f"no manipulation score for {args.symbol} (perpetuals with open interest are scored)",
            404,
        )
    return Manipulation(
        symbols=msgspec.convert(rows[:limit], list[ManipulationRow]),
        windows_min=doc["windows_min"],
        warning=doc["warning"],
        critical=doc["critical"],
        count=len(rows),
    )
