"""The dashboard area: one call with what a dashboard's first screen needs.

``overview`` is assembled from *parts*, each a function of the runtime that reads
published views (never an actor). Areas plug their own part in with one line::

    register_part("alerts", recent_alerts)          # in read/alerts.py, say

A part that is not ready (a :class:`QueryError`, e.g. 503 ``not_ready`` before the
first betas) is answered as ``{"error": {code, message}}`` in its place, so one slow
area never blanks the whole screen; a part that raises anything else is a bug, logged
and answered as ``internal_error`` the same way.

``/api/openapi.json`` describes each part as its answer or that error: the answer's
type is the return annotation of the part's function, or of the query it calls
(``like=``), so a part typed in its own area is typed here too.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.messages import HealthStatus
from virtuoso_daemon.core.requests import Args
from virtuoso_daemon.core.runtime import ReadModel, Runtime
from virtuoso_daemon.read import alerts, analytics, health, market, signals
from virtuoso_daemon.read.market_answers import CacheState

log = logging.getLogger("virtuoso.dashboard")

Part = Callable[[Runtime], Any | Awaitable[Any]]
_PARTS: dict[str, Part] = {}
_LIKE: dict[str, Callable[..., Any]] = {}


def register_part(name: str, fn: Part, *, like: Callable[..., Any] | None = None) -> None:
    """Add (or replace) the dashboard part ``name``; its answer appears under that key.
    ``like``: a function whose return annotation is the part's answer (default ``fn``'s)."""
    _PARTS[name] = fn
    _LIKE[name] = like or fn


def parts() -> list[str]:
    return list(_PARTS)


def part_answers() -> dict[str, Callable[..., Any]]:
    """Each part's name and the function whose return annotation is its answer."""
    return {name: _LIKE[name] for name in _PARTS}


class OverviewArgs(Args, frozen=True):
    parts: str | None = None  # comma-separated names: only these parts (default: all)


class PartError(msgspec.Struct, frozen=True):
    code: str
    message: str


class PartFailed(msgspec.Struct, frozen=True):
    """A part that could not answer, in its place: ``not_ready`` and the like."""

    error: PartError


class HealthSummary(msgspec.Struct, frozen=True):
    status: HealthStatus
    summary: str


async def _one(rt: Runtime, name: str, fn: Part) -> Any:
    try:
        value = fn(rt)
        if inspect.isawaitable(value):
            value = await value
        return value
    except QueryError as exc:
        return PartFailed(PartError(exc.code, exc.message))
    except Exception:
        log.exception("dashboard part %s failed", name)
        return PartFailed(PartError("internal_error", f"the {name} part failed (see the log)"))


async def overview(rt: Runtime, args: OverviewArgs) -> dict[str, Any]:
    """Market overview, top movers, betas, regime, health and every registered part
    (alerts, signals ...) in one answer; a part not ready says so in its place."""
    names = list(_PARTS)
    if args.parts:
        wanted = [p.strip() for p in args.parts.split(",") if p.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            raise QueryError(
                "invalid_parameter",
                f"parts: unknown {', '.join(unknown)}; parts: {', '.join(names)}",
            )
        names = wanted
    out: dict[str, Any] = {"ts": time.time(), "parts": names}
    for name in names:
        out[name] = await _one(rt, name, _PARTS[name])
    return out


class CacheStatsArgs(Args, frozen=True):
    pass


class ViewAge(msgspec.Struct, frozen=True):
    age: float  # seconds since the view was last published
    version: int  # how many times it was published


class CacheStats(msgspec.Struct, frozen=True):
    cache: CacheState  # the ticker cache's memcached state and counters
    views: dict[str, ViewAge]  # every published view by key


def cache_stats(rt: ReadModel, args: CacheStatsArgs) -> CacheStats:
    """The ticker cache and memcached (state, hits, writes), and every published
    view's age and version (how fresh what the dashboard reads is)."""
    now = time.time()
    views = {}
    for key in sorted(rt.views.keys()):
        view = rt.views.get(key)
        if view is not None:
            views[key] = ViewAge(round(now - view.updated, 3), rt.views.versions[key])
    return CacheStats(cache=market.cache_state(rt), views=views)


# --- the built-in parts ----------------------------------------------------------------


def _betas(rt: Runtime) -> Any:
    return analytics.beta(rt, limit="10")


def _health(rt: Runtime) -> HealthSummary:
    doc = health.health(rt, health.HealthArgs(transitions=0))
    return HealthSummary(doc.status, doc.summary)


def _regime(rt: Runtime) -> Any:
    return analytics.sentiment(rt).regime


register_part("market", lambda rt: market.overview(rt), like=market.overview)
register_part("movers", lambda rt: market.movers(rt, limit="5"), like=market.movers)
register_part("betas", _betas, like=analytics.beta)
register_part("regime", _regime)
register_part("health", _health)
register_part(
    "alerts",
    lambda rt: alerts.alerts_list(rt, alerts.AlertsArgs(limit=10)),
    like=alerts.alerts_list,
)
register_part(
    "whales", lambda rt: signals.whales(rt, signals.WhalesArgs(limit=5)), like=signals.whales
)
