"""What every detector family of the signal engine shares: the per-symbol windows,
the active conditions, the counters and the recent-events rings (see :mod:`.engine`)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

from virtuoso_daemon.core.config import SignalsConfig
from virtuoso_daemon.core.messages import Condition, Severity
from virtuoso_daemon.signals.conditions import ConditionBook
from virtuoso_daemon.signals.state import MinuteSeries, SymbolState, TradeWindow, minutes_needed


def usd(v: float) -> str:
    """``1.25M`` / ``340k`` / ``950``: a quote value for a message."""
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.2f}B"
    if a >= 1e6:
        return f"{v / 1e6:.2f}M"
    if a >= 1e3:
        return f"{v / 1e3:.0f}k"
    return f"{v:.0f}"


def graded(value: float, threshold: float) -> Severity | None:
    if not math.isfinite(value) or value < threshold:
        return None
    return "critical" if value >= 2 * threshold else "warning"


def rounded(x: float, nd: int = 4) -> float | None:
    return round(x, nd) if math.isfinite(x) else None


class EngineBase:
    """Shared state and the two ways a detector speaks: a state condition
    (:meth:`_state_cond`) or an event (published through :meth:`_out`)."""

    def __init__(self, config: SignalsConfig) -> None:
        self.config = config
        self.enabled = set(config.detectors)
        self.symbols: dict[tuple[str, str], SymbolState] = {}
        self.book = ConditionBook()
        self.counters: dict[str, int] = {
            "trades": 0,
            "books": 0,
            "candles": 0,
            "open_interest": 0,
            "funding": 0,
            "snapshots": 0,
            "whales": 0,
            "bursts": 0,
            "walls_appeared": 0,
            "walls_pulled": 0,
            "walls_filled": 0,
            "walls_out_of_view": 0,
        }
        self.by_kind: dict[str, int] = {}  # Conditions published (active) per kind
        self.whales: deque[dict[str, Any]] = deque(maxlen=config.recent)
        self.walls_ended: deque[dict[str, Any]] = deque(maxlen=config.recent)
        self.manipulation: dict[tuple[str, str], dict[str, Any]] = {}
        self.beta_ref: dict[tuple[str, str, str, str], tuple[float, float]] = {}
        self.regime: str | None = None
        self.dirty: set[str] = set()

    # -- state ---------------------------------------------------------------------------

    def state(self, exchange: str, symbol: str) -> SymbolState:
        key = (exchange, symbol)
        st = self.symbols.get(key)
        if st is None:
            t = self.config.for_symbol(symbol)
            st = self.symbols[key] = SymbolState(
                exchange, symbol, t, MinuteSeries(minutes_needed(t)), TradeWindow(t.whales.sample)
            )
        return st

    def _out(self, out: list[Condition], cond: Condition | None) -> None:
        if cond is None:
            return
        out.append(cond)
        if cond.active:
            self.by_kind[cond.kind] = self.by_kind.get(cond.kind, 0) + 1

    def _state_cond(
        self,
        out: list[Condition],
        st: SymbolState,
        key: str,
        kind: str,
        severity: Severity | None,
        message: Callable[[], str],
        values: Callable[[], dict[str, float | str | None]],
        ts: float,
    ) -> None:
        """Update one state condition; message/values are built only when it changes."""
        if severity is None and key not in self.book.active:
            return
        if severity is not None and self.book.active.get(key) == severity:
            return
        self._out(
            out,
            self.book.update(
                key,
                kind,
                severity,
                exchange=st.exchange,
                symbol=st.symbol,
                message=message(),
                values=values(),
                ts=ts,
            ),
        )
