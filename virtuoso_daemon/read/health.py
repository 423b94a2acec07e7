"""The health document, one answer for ``GET /health`` and the socket's ``health``.

The monitor publishes its newest report as a view; this reads it (never the actor).
A report older than three sweeps (the monitor itself stuck or gone) is answered as
``critical`` with that said, not served as if it were fresh.
"""

from __future__ import annotations

import time

import msgspec

from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.messages import HealthCheck, HealthReport, HealthStatus, HealthTransition
from virtuoso_daemon.core.runtime import ReadModel
from virtuoso_daemon.health.actor import REPORT_VIEW, TRANSITIONS_VIEW
from virtuoso_daemon.read.contract import QueryArgs, parse_int

#: a report older than this many sweeps (and at least STALE_MIN s) is stale
STALE_SWEEPS = 3
STALE_MIN = 30.0
MAX_TRANSITIONS = 10_000


class HealthArgs(QueryArgs, frozen=True):
    check: str | None = None  # only checks whose name starts with this ("data:", "exchange:x")
    # newest N transitions; the range is checked by the query (same code on both surfaces)
    transitions: int = 20


class CheckRow(HealthCheck, frozen=True, kw_only=True, tag=False):
    """A :class:`HealthCheck` as answered: the same fields, without the bus's type tag."""


class TransitionRow(HealthTransition, frozen=True, kw_only=True, tag=False):
    """A :class:`HealthTransition` as answered (no type tag)."""


class Health(msgspec.Struct, frozen=True):
    """The health document: ``status`` is the report's, or critical when it is stale."""

    status: HealthStatus
    summary: str
    ts: float  # when the monitor measured
    age: float  # seconds since then
    checks: list[CheckRow]
    transitions: list[TransitionRow]  # newest last


def health(rt: ReadModel, args: HealthArgs) -> Health:
    """Every check (value, threshold, status, message), the overall status, the one-line
    summary and the newest transitions."""
    n = parse_int("transitions", args.transitions, 20, 0, MAX_TRANSITIONS)
    report: HealthReport | None = rt.views.value(REPORT_VIEW)
    if report is None:
        raise QueryError("not_ready", "the health monitor has not reported yet", 503)
    now = time.time()
    age = now - report.ts
    status, summary = report.status, report.summary
    stale_after = max(STALE_MIN, STALE_SWEEPS * rt.config.health.interval)
    if age > stale_after:
        status = "critical"
        summary = f"critical: the health monitor has not reported for {age:.0f}s"
    checks = [
        CheckRow(**msgspec.structs.asdict(c))
        for c in report.checks
        if args.check is None or c.name.startswith(args.check)
    ]
    if args.check is not None and not checks:
        names = ", ".join(c.name for c in report.checks)
        raise QueryError("unknown_check", f"no check named {args.check}*; checks: {names}", 404)
    history: list[HealthTransition] = rt.views.value(TRANSITIONS_VIEW) or []
    recent = history[len(history) - n :] if n else []
    return Health(
        status=status,
        summary=summary,
        ts=report.ts,
        age=round(age, 3),
        checks=checks,
        transitions=[TransitionRow(**msgspec.structs.asdict(t)) for t in recent],
    )
