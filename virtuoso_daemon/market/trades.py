"""The recent trades of one symbol, kept as columns instead of message objects.

A :class:`~..messages.Trade` is ~270 bytes in memory (the struct, three floats, an
int and its id string); the store keeps ``store.trades`` (500) of them for every
symbol, which at 300 markets is ~40 MB once the windows are full. :class:`TradeWindow`
keeps the same trades in preallocated numpy columns, ~41 bytes each: times, price,
amount, receive time, side, and the id as an int64 when it is a decimal number (as on
Binance, and most exchanges); other ids are kept as strings in a small side table.
Messages are rebuilt only for the trades a reader asks for.
"""

from __future__ import annotations

import numpy as np

from virtuoso_daemon.core.messages import Trade

_SIDES = {"buy": 1, "sell": -1}
_SIDE_NAMES = {1: "buy", -1: "sell"}
_NO_ID = np.iinfo(np.int64).min
_INT64_DIGITS = 18  # ids with more digits might not fit


class TradeWindow:
    """The newest ``capacity`` trades of one (exchange, symbol), oldest first."""

    __slots__ = (
        "amount",
        "capacity",
        "exchange",
        "ids",
        "price",
        "recv",
        "side",
        "size",
        "start",
        "str_ids",
        "symbol",
        "ts",
    )

    def __init__(self, exchange: str, symbol: str, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.exchange = exchange
        self.symbol = symbol
        self.capacity = capacity
        self.ts = np.zeros(capacity, dtype=np.int64)
        self.ids = np.full(capacity, _NO_ID, dtype=np.int64)
        self.price = np.zeros(capacity, dtype=np.float64)
        self.amount = np.zeros(capacity, dtype=np.float64)
        self.recv = np.zeros(capacity, dtype=np.float64)
        self.side = np.zeros(capacity, dtype=np.int8)
        self.str_ids: dict[int, str] = {}  # slot -> id that is not a decimal number
        self.start = 0  # slot of the oldest trade
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def append(self, t: Trade) -> None:
        i = (self.start + self.size) % self.capacity
        if self.size < self.capacity:
            self.size += 1
        else:
            self.start = (self.start + 1) % self.capacity
        self.ts[i] = t.ts
        self.price[i] = t.price
        self.amount[i] = t.amount
        self.recv[i] = t.recv_ts
        self.side[i] = _SIDES.get(t.side or "", 0)
        tid = t.id
        if tid.isdecimal() and len(tid) <= _INT64_DIGITS and (tid == "0" or tid[0] != "0"):
            self.ids[i] = int(tid)
            if self.str_ids:
                self.str_ids.pop(i, None)
        else:
            self.ids[i] = _NO_ID
            self.str_ids[i] = tid

    def last(self, n: int) -> list[Trade]:
        """The newest ``n`` trades, newest first, as messages."""
        n = max(0, min(int(n), self.size))
        out: list[Trade] = []
        for k in range(n):
            i = (self.start + self.size - 1 - k) % self.capacity
            raw = int(self.ids[i])
            out.append(
                Trade(
                    exchange=self.exchange,
                    symbol=self.symbol,
                    id=self.str_ids[i] if raw == _NO_ID else str(raw),
                    price=float(self.price[i]),
                    amount=float(self.amount[i]),
                    side=_SIDE_NAMES.get(int(self.side[i])),  # type: ignore[arg-type]
                    ts=int(self.ts[i]),
                    recv_ts=float(self.recv[i]),
                )
            )
        return out

    def resized(self, capacity: int) -> TradeWindow:
        """A copy holding the newest ``capacity`` of these trades."""
        new = TradeWindow(self.exchange, self.symbol, capacity)
        for t in reversed(self.last(capacity)):
            new.append(t)
        return new
