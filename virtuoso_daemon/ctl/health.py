"""How ``virtuoso-ctl health`` shows the health document and each watched report."""

from __future__ import annotations

import argparse
from typing import Any

from virtuoso_daemon.core.messages import HealthReport
from virtuoso_daemon.ctl.tables import fmt_age, fmt_time, get, table

MARK = {"ok": "ok", "warning": "WARN", "critical": "CRIT"}


def _value(check: dict[str, Any], key: str) -> str:
    value = check.get(key)
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:.1f}" if abs(value) < 1e6 else f"{value:.3g}"
    unit = check.get("unit") or ""
    return f"{value}{' ' + unit if unit and key == 'value' else ''}"


def _status(check: dict[str, Any]) -> str:
    text = MARK.get(check["status"], check["status"])
    raw = check.get("raw")
    return f"{text} (now {MARK.get(raw, raw)})" if raw else text


def render_health(doc: dict[str, Any], ns: argparse.Namespace) -> str:
    head = f"{doc['summary']}  (report {fmt_age(doc['ts'])} old)"
    checks = table(
        doc["checks"],
        [
            ("check", get("name")),
            ("status", _status),
            ("value", lambda c: _value(c, "value")),
            ("threshold", lambda c: _value(c, "threshold")),
            ("message", lambda c: str(c.get("message") or "")[:100]),
        ],
    )
    lines = [head, "", checks]
    transitions = doc.get("transitions") or []
    if transitions:
        lines += ["", "transitions:"]
        lines += [
            f"  {fmt_time(t['ts'])}  {t['check']}: {t['old']} -> {t['new']}  {t['message'][:90]}"
            for t in transitions
        ]
    return "\n".join(lines)


def health_line(report: HealthReport) -> str:
    """One line per watched report: the summary and every check that is not ok."""
    bad = [f"{c.name}={c.value}{c.unit}" for c in report.checks if c.status != "ok"]
    return f"{report.summary}" + (f"  [{'; '.join(bad)}]" if bad else "")
