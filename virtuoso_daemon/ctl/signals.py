"""How ``virtuoso-ctl signals whales|walls|manipulation`` shows what the detectors found."""

from __future__ import annotations

import argparse
from typing import Any

from virtuoso_daemon.ctl.tables import fmt_compact, fmt_num, fmt_time, get, table


def render_whales(doc: dict[str, Any], ns: argparse.Namespace) -> str:
    rows = doc["whales"]
    if not rows:
        return "no whale trades yet"
    return table(
        rows,
        [
            ("time", lambda r: fmt_time(r["ts"])),
            ("exchange", get("exchange")),
            ("symbol", get("symbol")),
            ("type", get("type")),
            ("side", get("side")),
            ("usd", lambda r: fmt_compact(r["usd"])),
            ("price", lambda r: fmt_num(r["price"])),
            ("sigmas", get("sigmas")),
            ("trades", get("trades")),
        ],
    ) + (f"\n({doc['count']} matching)" if doc["count"] > len(rows) else "")


def render_walls(doc: dict[str, Any], ns: argparse.Namespace) -> str:
    parts = []
    cols = [
        ("exchange", get("exchange")),
        ("symbol", get("symbol")),
        ("side", get("side")),
        ("price", lambda r: fmt_num(r["price"])),
        ("usd", lambda r: fmt_compact(r["usd"])),
        ("x level", lambda r: f"{r['ratio']:.0f}"),
    ]
    if doc["active"]:
        parts.append(
            "in the books now:\n"
            + table(doc["active"], [*cols, ("since", lambda r: fmt_time(r["first_seen"]))])
        )
    if doc["recent"]:
        parts.append(
            "ended:\n"
            + table(
                doc["recent"],
                [
                    *cols,
                    ("ended", lambda r: fmt_time(r["ended"])),
                    ("lasted", lambda r: f"{r['ended'] - r['first_seen']:.0f}s"),
                    ("outcome", get("outcome")),
                ],
            )
        )
    return "\n\n".join(parts) if parts else "no walls"


def render_manipulation(doc: dict[str, Any], ns: argparse.Namespace) -> str:
    rows = doc["symbols"]
    if not rows:
        return "no manipulation scores yet (perpetuals with open interest are scored)"

    def comp(name: str) -> Any:
        def cell(r: dict[str, Any]) -> str:
            for c in r["components"]:
                if c["name"] == name:
                    v = c["value"]
                    return "-" if v is None else f"{v:.2f} ({c['score']:.2f}x{c['weight']:g})"
            return "-"

        return cell

    head = (
        f"score in [0, 1]: warning >= {doc['warning']}, critical >= {doc['critical']}; "
        f"windows {doc['windows_min']} min; component = value (score x weight)"
    )
    return (
        head
        + "\n"
        + table(
            rows,
            [
                ("exchange", get("exchange")),
                ("symbol", get("symbol")),
                ("score", lambda r: "-" if r["score"] is None else f"{r['score']:.2f}"),
                ("window", lambda r: f"{r['window_min']}m" if r["window_min"] else "-"),
                ("oi %", comp("oi_change")),
                ("volume x", comp("volume")),
                ("price %", comp("price")),
                ("divergence %", comp("divergence")),
            ],
        )
    )
