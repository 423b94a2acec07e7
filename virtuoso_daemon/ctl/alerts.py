"""``virtuoso-ctl alerts ...``: the subcommands and how their answers are shown."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from virtuoso_daemon.ctl.tables import fmt_age, fmt_time, get, table


def _when(a: dict[str, Any]) -> str:
    return fmt_time(a.get("ts"))


def _state(a: dict[str, Any]) -> str:
    state = str(a.get("status", ""))
    if a.get("acked_ts"):
        state += " acked"
    if a.get("muted"):
        state += f" ({a['muted']})"
    return state


def render_alerts(result: Any, ns: argparse.Namespace) -> str:
    rows = result.get("alerts", [])
    if not rows:
        return "no alerts"
    body = table(
        rows,
        [
            ("id", get("id")),
            ("time", _when),
            ("severity", get("severity")),
            ("kind", get("kind")),
            ("exchange", lambda a: a.get("exchange") or "-"),
            ("symbol", lambda a: a.get("symbol") or "-"),
            ("state", _state),
            ("message", lambda a: str(a.get("message", ""))[:60]),
        ],
    )
    more = result.get("next_offset")
    foot = f"{len(rows)} of {result.get('total')}" + (f"; next: --offset {more}" if more else "")
    return f"{body}\n{foot}"


def render_alert(result: Any, ns: argparse.Namespace) -> str:
    a = result.get("alert", result)
    lines = [
        f"{a['id']}  {a['severity']} {a['kind']}  {a.get('exchange') or '-'}"
        f" {a.get('symbol') or '-'}  {_state(a)}",
        f"  {a.get('message', '')}",
        f"  first {fmt_time(a.get('first_ts'))}, last {fmt_time(a.get('ts'))},"
        f" notified {a.get('fired', 0)}x",
    ]
    if a.get("acked_ts"):
        lines.append(f"  acknowledged by {a.get('acked_by')} at {fmt_time(a['acked_ts'])}")
    for key, value in (a.get("data") or {}).items():
        lines.append(f"  {key:<16} {value}")
    deliveries = result.get("deliveries") or []
    if deliveries:
        lines.append(
            table(
                deliveries,
                [
                    ("destination", get("destination")),
                    ("event", get("event")),
                    ("state", get("state")),
                    ("attempts", get("attempts")),
                    ("last error", lambda x: x.get("last_error") or "-"),
                ],
            )
        )
    return "\n".join(lines)


def render_silences(result: Any, ns: argparse.Namespace) -> str:
    rows = result.get("silences", [])
    if not rows:
        return "no silences"
    return table(
        rows,
        [
            ("id", get("id")),
            ("kind", lambda s: s.get("kind") or "*"),
            ("symbol", lambda s: s.get("symbol") or "*"),
            ("exchange", lambda s: s.get("exchange") or "*"),
            ("ends", lambda s: fmt_time(s.get("ends"))),
            ("age", lambda s: fmt_age(s.get("starts"))),
            ("comment", lambda s: s.get("comment") or ""),
        ],
    )


def render_silence(result: Any, ns: argparse.Namespace) -> str:
    s = result.get("silence", {})
    return f"silence {s.get('id')} until {fmt_time(s.get('ends'))}"


def render_acked(result: Any, ns: argparse.Namespace) -> str:
    a = result.get("alert", {})
    return f"acknowledged {a.get('id')} ({a.get('kind')} {a.get('symbol') or ''})".rstrip()


Renderer = Callable[[Any, argparse.Namespace], str]
