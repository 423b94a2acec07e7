"""Faults injected on demand, and counters of every fault actually delivered.

A :class:`Fault` says what goes wrong (``kind``), how often (``rate``, a probability per
request or per websocket connection), where (``market`` spot|futures, REST ``path``
prefix), for how long (``duration`` wall seconds) and at most how many times
(``count``). :class:`FaultBoard` holds the active faults and counts each injection
per kind, so a test can compare what was injected with what its client observed.

Kinds:

- ``http_500``: the response is ``status`` (default 500) with a non-JSON body.
- ``http_429`` / ``http_418``: Binance's rate-limit / ban answers with ``Retry-After``.
- ``slow``: the response is delayed by ``delay`` seconds (beyond a client's timeout).
- ``malformed_json``: 200 with a truncated JSON body.
- ``outage``: every REST request gets 503, websocket handshakes are refused with 503
  and open websockets are dropped.
- ``ws_close``: open websockets are closed by the server, new ones right after the
  handshake.
- ``ws_silent``: websockets stay open but receive nothing (not even replies).
- ``kline_hole``: kline answers leave out every candle whose open time is in
  ``[start_ms, end_ms)`` (a range the exchange lost; a page across it comes back
  short, with a jump inside).
- ``kline_short``: a kline answer carries only its first ``rows`` rows (an exchange
  that cuts pages short in the middle of history).
"""

from __future__ import annotations

import itertools
import random
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

FaultKind = Literal[
    "http_500",
    "http_429",
    "http_418",
    "slow",
    "malformed_json",
    "outage",
    "ws_close",
    "ws_silent",
    "kline_hole",
    "kline_short",
]
KINDS: tuple[str, ...] = typing.get_args(FaultKind)
KLINE_KINDS = frozenset({"kline_hole", "kline_short"})
REST_KINDS = frozenset({"http_500", "http_429", "http_418", "slow", "malformed_json"})


class Fault(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One fault to inject; ``POST /__sim/faults`` takes the same fields as JSON."""

    kind: FaultKind
    rate: float = 1.0
    market: Literal["spot", "futures"] | None = None
    path: str | None = None  # REST path prefix, e.g. "/api/v3/klines"
    duration: float | None = None  # wall seconds; None = until cleared
    count: int | None = None  # inject at most this many times
    status: int = 500  # http_500: the status to answer (500, 502, 503, 504 ...)
    retry_after: int = 30  # http_429 / http_418
    delay: float = 30.0  # slow: seconds before the (normal) answer
    start_ms: int = 0  # kline_hole: first open time left out
    end_ms: int = 0  # kline_hole: open times from here on are served again
    rows: int = 1  # kline_short: rows a cut answer keeps


@dataclass
class ActiveFault:
    """A fault on the board, with its own injection count."""

    id: int
    fault: Fault
    started: float
    injected: int = 0
    decided: dict[int, bool] = field(default_factory=dict)  # websocket conn id -> hit

    def expired(self, now: float) -> bool:
        f = self.fault
        if f.duration is not None and now - self.started >= f.duration:
            return True
        return f.count is not None and self.injected >= f.count

    def describe(self, now: float) -> dict[str, Any]:
        doc: dict[str, Any] = msgspec.to_builtins(self.fault)
        doc["id"] = self.id
        doc["injected"] = self.injected
        doc["remaining"] = (
            None
            if self.fault.duration is None
            else max(0.0, self.fault.duration - (now - self.started))
        )
        return doc


class FaultBoard:
    """The active faults; every decision to inject goes through here and is counted."""

    def __init__(self, seed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.active: list[ActiveFault] = []
        self.counters: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._ids = itertools.count(1)
        self._rng = random.Random(seed)
        self._clock = clock
        self.version = 0  # bumped on every change, so the websocket hub can react

    def add(self, fault: Fault) -> int:
        af = ActiveFault(next(self._ids), fault, self._clock())
        self.active.append(af)
        self.version += 1
        return af.id

    def remove(self, fault_id: int) -> bool:
        before = len(self.active)
        self.active = [a for a in self.active if a.id != fault_id]
        self.version += 1
        return len(self.active) != before

    def clear(self) -> None:
        self.active = []
        self.version += 1

    def _live(self) -> list[ActiveFault]:
        if not self.active:
            return self.active
        now = self._clock()
        live = [a for a in self.active if not a.expired(now)]
        if len(live) != len(self.active):
            self.active = live
            self.version += 1
        return live

    def _fire(self, af: ActiveFault) -> bool:
        return af.fault.rate >= 1.0 or self._rng.random() < af.fault.rate

    def _count(self, af: ActiveFault) -> None:
        af.injected += 1
        self.counters[af.fault.kind] += 1

    def rest(self, market: str, path: str) -> Fault | None:
        """The fault to apply to this REST request, if any (counted)."""
        live = self._live()
        if not live:
            return None
        for af in sorted(live, key=lambda a: a.fault.kind != "outage"):
            f = af.fault
            if f.kind not in REST_KINDS and f.kind != "outage":
                continue
            if f.market is not None and f.market != market:
                continue
            if f.path is not None and not path.startswith(f.path):
                continue
            if self._fire(af):
                self._count(af)
                return f
        return None

    def ws(self, kind: str, market: str, conn_id: int, *, once: bool = True) -> bool:
        """Whether connection ``conn_id`` is hit by a ``kind`` websocket fault (counted once
        per connection and fault when ``once``)."""
        for af in self._live():
            f = af.fault
            if f.kind != kind or (f.market is not None and f.market != market):
                continue
            if once and conn_id in af.decided:
                if af.decided[conn_id]:
                    return True
                continue
            hit = self._fire(af)
            af.decided[conn_id] = hit
            if hit:
                self._count(af)
                return True
        return False

    def klines(self, market: str) -> list[Fault]:
        """The kline faults to apply to one kline answer (each counted when it fires)."""
        out = []
        for af in self._live():
            f = af.fault
            if f.kind not in KLINE_KINDS or (f.market is not None and f.market != market):
                continue
            if self._fire(af):
                self._count(af)
                out.append(f)
        return out

    def has(self, kind: str, market: str | None = None) -> bool:
        return any(
            a.fault.kind == kind and (market is None or a.fault.market in (None, market))
            for a in self._live()
        )

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        return {"active": [a.describe(now) for a in self._live()], "counters": dict(self.counters)}


def parse_faults(body: Any) -> tuple[bool, list[Fault]]:
    """``(clear_first, faults)`` from a ``POST /__sim/faults`` body.

    Accepts one fault object, ``{"faults": [...]}``, a list, and ``{"clear": true}``
    (alone or together with ``faults``).
    """
    clear = False
    items: list[Any]
    if isinstance(body, dict):
        clear = bool(body.get("clear", False))
        if "faults" in body:
            items = list(body["faults"])
        elif "kind" in body:
            items = [{k: v for k, v in body.items() if k != "clear"}]
        else:
            items = []
    elif isinstance(body, list):
        items = body
    else:
        raise msgspec.ValidationError("expected a JSON object or list")
    return clear, [msgspec.convert(item, Fault) for item in items]
