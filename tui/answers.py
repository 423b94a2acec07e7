"""Command answers decoded into typed structs, once, where they enter the TUI.

Events arrive already typed (:mod:`virtuoso_daemon.protocol` decodes their tagged
payloads into :mod:`virtuoso_daemon.core.messages` structs). Command answers are plain
JSON documents; the ones the live loop loads on every connect are converted here into
the same structs (``tickers`` into :class:`Ticker`, ``feeds.list`` into
:class:`FeedStatus` ...), so the models and screens read attributes of one kind of
object whichever way the data came. Answers with no message type of their own (the
``status`` document, the ``beta`` answer's list of windows) get a small struct here.

An item that does not convert (an older or newer daemon's shape) is left out, as the
dict code it replaces skipped what it could not read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec

from virtuoso_daemon.core.messages import (
    Alert,
    BetaSnapshot,
    CorrelationSnapshot,
    FeedStatus,
    HealthReport,
    Ticker,
)

T = TypeVar("T")


class ActorRow(msgspec.Struct, kw_only=True):
    """One supervised actor in the ``status`` document (kept up to date by lifecycle
    events, hence mutable)."""

    name: str
    state: str | None = None
    restarts: int = 0
    last_error: str | None = None
    since: float | None = None


class BusStats(msgspec.Struct, frozen=True, kw_only=True):
    """The bus part of ``status``: events dropped per subscriber and topic."""

    drops: dict[str, dict[str, int]] = {}
    total_drops: int = 0


class Status(msgspec.Struct, kw_only=True):
    """The daemon's ``status`` document (what the Feeds & system screen shows)."""

    version: str | None = None
    uptime: float | None = None
    demo: bool = False
    actors: list[ActorRow] = []
    bus: BusStats = msgspec.field(default_factory=BusStats)


class BetaAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The ``beta`` command's answer: one snapshot, and every configured timeframe's
    windows (so the client can ask for each); its ``exchange`` is the daemon's default."""

    snapshot: BetaSnapshot
    windows: dict[str, list[str]]


class _Windows(msgspec.Struct, kw_only=True):
    windows: dict[str, list[str]] = {}


def convert(value: Any, kind: type[T]) -> T | None:
    """``value`` as ``kind``, or None when it does not fit."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError:
        return None


def _items(result: Any, key: str) -> list[Any]:
    """A list from an answer that is either a list or a dict holding one under ``key``."""
    if isinstance(result, list):
        return result
    if isinstance(result, Mapping):
        value = result.get(key)
        if isinstance(value, list):
            return value
        if isinstance(value, Mapping):
            return list(value.values())
    return []


def each(key: str, kind: type[T]) -> Callable[[Any], list[T]]:
    """The decoder of an answer that lists ``kind`` (bare, or under ``key``)."""
    return lambda result: _each(result, key, kind)


def _each(result: Any, key: str, kind: type[T]) -> list[T]:
    out = []
    for item in _items(result, key):
        typed = convert(item, kind)
        if typed is not None:
            out.append(typed)
    return out


def one(kind: type[T]) -> Callable[[Any], T | None]:
    """The decoder of an answer that is one ``kind``."""
    return lambda result: convert(result, kind)


tickers = each("tickers", Ticker)
feeds = each("feeds", FeedStatus)
alerts = each("alerts", Alert)
health = one(HealthReport)
status = one(Status)


def beta(result: Any) -> BetaAnswer | None:
    snapshot = convert(result, BetaSnapshot)
    windows = convert(result, _Windows)
    if snapshot is None or windows is None:
        return None
    return BetaAnswer(snapshot=snapshot, windows=windows.windows)


def correlation(result: Any) -> CorrelationSnapshot | None:
    """The ``correlation`` answer: its symbols and matrix are already in display order
    (``order`` there is the permutation applied), so the order to draw is the identity."""
    snap = convert(result, CorrelationSnapshot)
    if snap is None:
        return None
    return msgspec.structs.replace(snap, order=list(range(len(snap.symbols))))
