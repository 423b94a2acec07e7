"""The health document, one answer for ``GET /health`` and the socket's ``health``.

The monitor publishes its newest report as a view; this reads it (never the actor).
A report older than three sweeps (the monitor itself stuck or gone) is answered as
``critical`` with that said, not served as if it were fresh.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.messages import HealthReport, HealthTransition
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


def health(rt: ReadModel, args: HealthArgs) -> dict[str, Any]:
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
        msgspec.to_builtins(c)
        for c in report.checks
        if args.check is None or c.name.startswith(args.check)
    ]
    if args.check is not None and not checks:
        names = ", ".join(c.name for c in report.checks)
        raise QueryError("unknown_check", f"no check named {args.check}*; checks: {names}", 404)
    history: list[HealthTransition] = rt.views.value(TRANSITIONS_VIEW) or []
    recent = history[len(history) - n :] if n else []
    for c in checks:
        c.pop("type", None)
    return {
        "status": status,
        "summary": summary,
        "ts": report.ts,
        "age": round(age, 3),
        "checks": checks,
        "transitions": [_plain(t) for t in recent],
    }


def _plain(t: HealthTransition) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(t)
    out.pop("type", None)
    return out
