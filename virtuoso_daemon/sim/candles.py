"""Candle storage for one timeframe across every market, with Binance kline encoding.

All markets share one time grid, so closed candles live in ``[n, markets]`` numpy
arrays and a kline query is index arithmetic. Closed candles never change; their
encoded rows are cached on first use, so a 1000-candle page is a ``join`` after that.
"""

from __future__ import annotations

import msgspec
import numpy as np

from virtuoso_daemon.sim.universe import Market

FIELDS = ("o", "h", "l", "c", "v", "q", "n", "tb", "tq")


class CandleSeries:
    """Closed candles plus the open candle of one timeframe for ``M`` markets."""

    def __init__(
        self,
        name: str,
        step_ms: int,
        start_ms: int,
        closed: dict[str, np.ndarray],
        current: dict[str, np.ndarray],
        markets: list[Market],
    ) -> None:
        self.name = name
        self.step_ms = step_ms
        self.start_ms = start_ms  # open time of closed candle 0
        self.markets = markets
        n, m = closed["o"].shape
        self.n = n
        cap = max(16, 2 * n)
        self.data: dict[str, np.ndarray] = {}
        for f in FIELDS:
            arr = np.zeros((cap, m))
            arr[:n] = closed[f]
            self.data[f] = arr
        self.cur: dict[str, np.ndarray] = {f: current[f].astype(float).copy() for f in FIELDS}
        self._rows: list[list[bytes | None]] = [[None] * n for _ in range(m)]

    @property
    def open_ms(self) -> int:
        """Open time of the current (open) candle."""
        return self.start_ms + self.n * self.step_ms

    def update(
        self,
        price: np.ndarray,
        vol: np.ndarray,
        qvol: np.ndarray,
        count: np.ndarray,
        tb: np.ndarray,
        tq: np.ndarray,
    ) -> None:
        cur = self.cur
        np.maximum(cur["h"], price, out=cur["h"])
        np.minimum(cur["l"], price, out=cur["l"])
        cur["c"][:] = price
        cur["v"] += vol
        cur["q"] += qvol
        cur["n"] += count
        cur["tb"] += tb
        cur["tq"] += tq

    def roll(self) -> None:
        """Close the open candle and open the next one at the last close."""
        if self.n == self.data["o"].shape[0]:
            for f in FIELDS:
                self.data[f] = np.concatenate([self.data[f], np.zeros_like(self.data[f])])
        for f in FIELDS:
            self.data[f][self.n] = self.cur[f]
        self.n += 1
        for rows in self._rows:
            rows.append(None)
        close = self.cur["c"]
        for f in ("o", "h", "l"):
            self.cur[f][:] = close
        for f in ("v", "q", "n", "tb", "tq"):
            self.cur[f][:] = 0.0

    def close_of(self, m: int, index: int) -> float:
        return float(self.data["c"][index, m])

    # -- encoding -------------------------------------------------------------------------

    def _encode(self, m: int, idx: int, src: dict[str, np.ndarray], col: int | None) -> bytes:
        mk = self.markets[m]
        key = (idx, m) if col is None else m
        o, h, lo, c, v, q, n, tb, tq = (float(src[f][key]) for f in FIELDS)
        t = self.start_ms + idx * self.step_ms
        p = mk.fmt_price
        return (
            f'[{t},"{p(o)}","{p(h)}","{p(lo)}","{p(c)}","{mk.fmt_qty(v)}",'
            f'{t + self.step_ms - 1},"{q:.4f}",{int(n)},"{mk.fmt_qty(tb)}","{tq:.4f}","0"]'
        ).encode()

    def row(self, m: int, idx: int) -> bytes:
        if idx == self.n:
            return self._encode(m, idx, self.cur, 0)
        rows = self._rows[m]
        cached = rows[idx]
        if cached is None:
            cached = rows[idx] = self._encode(m, idx, self.data, None)
        return cached

    def select(self, m: int, start: int | None, end: int | None, limit: int) -> bytes:
        """Binance ``klines``: open time in ``[start, end]``, ``limit`` rows, oldest first."""
        last = self.n  # the open candle
        if end is not None:
            last = min(last, (end - self.start_ms) // self.step_ms)
        if start is not None:
            first = max(0, -((self.start_ms - start) // self.step_ms))  # ceil
            stop = min(last, first + limit - 1)
        else:
            stop = last
            first = max(0, stop - limit + 1)
        if stop < first or stop < 0:
            return b"[]"
        return b"[" + b",".join(self.row(m, i) for i in range(first, stop + 1)) + b"]"

    def select_faulty(
        self,
        m: int,
        start: int | None,
        end: int | None,
        limit: int,
        hole: tuple[int, int] | None,
        keep: int | None,
    ) -> bytes:
        """:meth:`select` as an exchange with lost candles serves it: open times in
        ``hole`` left out (the page is that much shorter), and at most ``keep`` rows."""
        body = msgspec.json.decode(self.select(m, start, end, limit))
        if hole is not None:
            body = [r for r in body if not hole[0] <= r[0] < hole[1]]
        if keep is not None:
            body = body[:keep]
        return msgspec.json.encode(body)

    def kline_event(self, m: int, closed: bool, event_ms: int) -> bytes:
        """A websocket ``kline`` event for the open candle (or the one just closed)."""
        mk = self.markets[m]
        if closed:
            idx = self.n - 1
            o, h, lo, c, v, q, n, tb, tq = (float(self.data[f][idx, m]) for f in FIELDS)
        else:
            idx = self.n
            o, h, lo, c, v, q, n, tb, tq = (float(self.cur[f][m]) for f in FIELDS)
        t = self.start_ms + idx * self.step_ms
        p = mk.fmt_price
        return (
            f'{{"e":"kline","E":{event_ms},"s":"{mk.id}","k":{{"t":{t},'
            f'"T":{t + self.step_ms - 1},"s":"{mk.id}","i":"{self.name}","f":-1,"L":-1,'
            f'"o":"{p(o)}","c":"{p(c)}","h":"{p(h)}","l":"{p(lo)}","v":"{mk.fmt_qty(v)}",'
            f'"n":{int(n)},"x":{"true" if closed else "false"},"q":"{q:.4f}",'
            f'"V":"{mk.fmt_qty(tb)}","Q":"{tq:.4f}","B":"0"}}}}'
        ).encode()
