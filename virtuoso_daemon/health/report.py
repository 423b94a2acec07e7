"""How the health monitor's checks become what it publishes: the counted checks, the
report with its one-line summary, and the Condition of a transition.

Its own module because these are pure functions of the checks and the hold-down
(no runtime, no I/O), and they are the monitor's contract with its readers:
``/health`` and the socket read the report, systemd the summary, the alert manager
the Conditions (``kind="health"``, key ``health:<check>``). :mod:`.actor` decides
when to evaluate and publish.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from virtuoso_daemon.core.messages import (
    Condition,
    HealthCheck,
    HealthReport,
    HealthStatus,
    HealthTransition,
)
from virtuoso_daemon.health.hold import Held, worst

#: transitions carried in each HealthReport (the full history is in the view)
REPORT_TRANSITIONS = 20


def summary_line(status: HealthStatus, counted: list[HealthCheck]) -> str:
    """``ok: 14 checks`` or ``critical: data:binance:tickers, exchange:binance``."""
    if status == "ok":
        return f"healthy: {len(counted)} checks ok"
    bad = [c.name for c in counted if c.status == status]
    more = [c.name for c in counted if c.status != status and c.status != "ok"]
    text = f"{status}: {', '.join(bad[:4])}" + (f" +{len(bad) - 4}" if len(bad) > 4 else "")
    return text + (f" (warning: {len(more)})" if more and status == "critical" else "")


def counted_checks(raw: Mapping[str, HealthCheck], held: Mapping[str, Held]) -> list[HealthCheck]:
    """Every check (by name) with the status the hold-down counts; ``raw`` on a check
    is the measured status while it differs (a change not yet confirmed)."""
    out = []
    for name in sorted(raw):
        check = raw[name]
        h = held.get(name)
        if h is None:
            out.append(check)
            continue
        pending = check.status if check.status != h.status else None
        out.append(msgspec.structs.replace(check, status=h.status, raw=pending, since=h.since))
    return out


def build_report(
    counted: list[HealthCheck], history: Sequence[HealthTransition], now: float
) -> HealthReport:
    """The report: the worst counted status, its summary, the newest transitions."""
    status = worst(*(c.status for c in counted))
    return HealthReport(
        status=status,
        checks=counted,
        ts=now,
        summary=summary_line(status, counted),
        transitions=list(history)[-REPORT_TRANSITIONS:],
    )


def health_condition(
    name: str, new: HealthStatus, old: HealthStatus, check: HealthCheck | None, ts: float
) -> Condition:
    """The Condition of one counted transition (``check`` None: it no longer runs)."""
    exchange = name.split(":")[1] if name.startswith(("exchange:", "data:")) else None
    values: dict[str, float | str | None] = {"status": new, "previous": old}
    if check is not None:
        values.update(value=check.value, threshold=check.threshold)
    message = check.message if check is not None else "check no longer runs"
    return Condition(
        key=f"health:{name}",
        kind="health",
        # a recovery names the severity it recovers from (the alert it resolves)
        severity=old if new == "ok" else new,  # type: ignore[arg-type]
        active=new != "ok",
        exchange=exchange,
        message=f"{name} {new}: {message}",
        values=values,
        ts=ts,
    )
