"""Alerts and silences, one answer for HTTP and the control socket.

The arguments are checked here (a bad kind, severity, ``since`` or duration is a 400
``invalid_parameter`` on both surfaces) and the question goes to the alert manager
as a typed request (:mod:`virtuoso_daemon.alerts.requests`), which answers from its
SQLite store; an unknown alert or silence id is a 404.

Ids have a fixed shape (16 hex digits for an alert, 12 for a silence): another shape
is a 400, a well-formed id that is not known a 404. ``since`` is epoch seconds
(milliseconds if larger than 1e12), an ISO 8601 time (``2026-01-02T03:04:05Z``) or an
age (``90s``, ``15m``, ``2h``, ``7d``); a duration is seconds or an age.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Annotated, TypeVar

import msgspec

from virtuoso_daemon.alerts.lifecycle import Silence
from virtuoso_daemon.alerts.requests import (
    AckAlert,
    AddSilence,
    AlertRequest,
    GetAlert,
    ListAlerts,
    ListSilences,
    RemoveSilence,
)
from virtuoso_daemon.core.bus import RequestError, Topics
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.messages import CONDITION_KINDS, Alert
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.read.contract import QueryArgs, parse_choice, parse_int

SEVERITIES = ("info", "warning", "critical")
STATUSES = ("firing", "resolved", "event")
MAX_PAGE = 1000
_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_NOT_FOUND = {"unknown_alert", "unknown_silence"}
MAX_SILENCE = 365 * 86400.0


class AlertsArgs(QueryArgs, frozen=True):
    kind: str | None = None
    severity: str | None = None
    symbol: str | None = None
    exchange: str | None = None
    status: str | None = None
    since: str | float | None = None
    limit: int | str | None = None
    offset: int | str | None = None


AlertId = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{16}$", description="an alert id")]
SilenceId = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{12}$", description="a silence id")]


class AlertIdArgs(QueryArgs, frozen=True):
    id: AlertId


class AckArgs(QueryArgs, frozen=True):
    id: AlertId
    by: str | None = None


class SilencesArgs(QueryArgs, frozen=True):
    all: bool = False


class SilenceArgs(QueryArgs, frozen=True):
    duration: str | float
    kind: str | None = None
    symbol: str | None = None
    exchange: str | None = None
    comment: str = ""
    by: str | None = None


class SilenceIdArgs(QueryArgs, frozen=True):
    id: SilenceId


# --- answers (the manager answers plain data; these are its shape on both surfaces) ---


class AlertPage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One page of alerts, newest change first; ``next_offset`` is null on the last."""

    total: int
    offset: int
    limit: int
    next_offset: int | None
    alerts: list[Alert]


class Delivery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One notification of an alert to one destination, and how its delivery went."""

    destination: str
    event: str  # firing, repeat, escalated, resolved
    ts: float
    idempotency_key: str | None  # null while the alert is still grouping
    state: str  # grouping, pending, delivered, failed, dropped ... (the outbox's)
    attempts: int
    last_status: int | None  # the receiver's HTTP status
    last_error: str | None
    done_ts: float | None


class AlertDetail(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    alert: Alert
    deliveries: list[Delivery]


class AlertChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The alert as it is after the change (an acknowledgement)."""

    alert: Alert


class SilenceList(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    silences: list[Silence]


class SilenceChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The silence as it is after the change (added, or ended now)."""

    silence: Silence


# --- parsing --------------------------------------------------------------------------


def parse_age(name: str, value: str | float) -> float:
    """Seconds from a number or ``15m``/``2h``/``7d``; 400 otherwise."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    m = _AGE.match(text)
    if m is None:
        raise QueryError(
            "invalid_parameter", f"{name}: expected seconds or an age like 15m, 2h, 7d"
        )
    return float(m.group(1)) * _UNIT[m.group(2)]


def _iso_time(text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(
            "invalid_parameter",
            "since: expected epoch seconds, an ISO 8601 time or an age like 2h",
        ) from None
    if parsed.tzinfo is None:
        raise QueryError("invalid_parameter", "since: an ISO 8601 time needs a zone (Z)")
    return parsed.timestamp()


def parse_since(value: str | float | None, now: float | None = None) -> float | None:
    """Epoch seconds from ``since`` (see the module docstring)."""
    if value is None or value == "":
        return None
    now = time.time() if now is None else now
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip()
        if _AGE.match(text.lower()):
            return now - parse_age("since", text)
        try:
            number = float(text)
        except ValueError:
            return _iso_time(text)
    if number != number or number < 0:  # NaN or negative
        raise QueryError("invalid_parameter", "since: expected a time >= 0")
    return number / 1000.0 if number > 1e12 else number


def _choice(name: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    return None if value is None or value == "" else parse_choice(name, value, choices, "")


def list_request(args: AlertsArgs) -> ListAlerts:
    """The manager's request for ``args``; bad input raises 400."""
    return ListAlerts(
        kind=_choice("kind", args.kind, CONDITION_KINDS),
        severity=_choice("severity", args.severity, SEVERITIES),
        symbol=args.symbol or None,
        exchange=args.exchange or None,
        status=_choice("status", args.status, STATUSES),
        since=parse_since(args.since),
        limit=parse_int("limit", args.limit, 100, 1, MAX_PAGE),
        offset=parse_int("offset", args.offset, 0, 0, 10**9),
    )


def matches(req: ListAlerts, alert: Alert) -> bool:
    """Whether ``alert`` passes the filters of ``req`` (the live stream's filter)."""
    return (
        (req.kind is None or alert.kind == req.kind)
        and (req.severity is None or alert.severity == req.severity)
        and (req.symbol is None or alert.symbol == req.symbol)
        and (req.exchange is None or alert.exchange == req.exchange)
        and (req.status is None or alert.status == req.status)
        and (req.since is None or alert.ts >= req.since)
    )


T = TypeVar("T")


async def _ask(rt: Runtime, body: AlertRequest, answer: type[T]) -> T:
    try:
        reply = await rt.bus.request(Topics.ALERT_COMMANDS, body, timeout=5.0)
    except RequestError as exc:
        status = 404 if exc.code in _NOT_FOUND else 503 if exc.code == "unavailable" else 400
        raise QueryError(exc.code, exc.message, status) from None
    except TimeoutError:
        raise QueryError("unavailable", "the alert manager did not answer in 5s", 503) from None
    return msgspec.convert(reply, answer)


# --- queries --------------------------------------------------------------------------


async def alerts_list(rt: Runtime, args: AlertsArgs) -> AlertPage:
    """Alerts, newest change first; filter by kind, severity, symbol, exchange, status,
    since; paginated with limit and offset (next_offset)."""
    return await _ask(rt, list_request(args), AlertPage)


async def alert_detail(rt: Runtime, args: AlertIdArgs) -> AlertDetail:
    """One alert with its triggering numbers and delivery state per destination."""
    return await _ask(rt, GetAlert(id=args.id), AlertDetail)


async def alert_ack(rt: Runtime, args: AckArgs) -> AlertChange:
    """Acknowledge an alert: no more repeats until it resolves or escalates."""
    return await _ask(rt, AckAlert(id=args.id, by=args.by or ""), AlertChange)


async def silences_list(rt: Runtime, args: SilencesArgs) -> SilenceList:
    """Active silences (all=true: the ended ones still kept too)."""
    return await _ask(rt, ListSilences(all=args.all), SilenceList)


async def silence_add(rt: Runtime, args: SilenceArgs) -> SilenceChange:
    """Silence alerts by kind, symbol and/or exchange for a duration."""
    duration = parse_age("duration", args.duration)
    if not 0 < duration <= MAX_SILENCE:
        raise QueryError("invalid_parameter", "duration: expected more than 0 and at most 365d")
    if args.kind is None and args.symbol is None and args.exchange is None:
        raise QueryError(
            "invalid_parameter", "a silence needs at least one of kind, symbol, exchange"
        )
    return await _ask(
        rt,
        AddSilence(
            duration=duration,
            kind=_choice("kind", args.kind, CONDITION_KINDS),
            symbol=args.symbol or None,
            exchange=args.exchange or None,
            comment=args.comment,
            by=args.by or "",
        ),
        SilenceChange,
    )


async def silence_remove(rt: Runtime, args: SilenceIdArgs) -> SilenceChange:
    """End a silence now."""
    return await _ask(rt, RemoveSilence(id=args.id), SilenceChange)
