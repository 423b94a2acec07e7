"""A ccxt trade cache that publishes each trade as ccxt appends it.

ccxt's websocket trade handlers (binance, bybit, okx, ...) look up
``self.trades[symbol]`` and append every parsed trade to it, creating an
``ArrayCache`` only when there is none. Some store it back after each trade
(binance), others only when they create it (bybit, okx): a hook on the dict
assignment sees every trade on the first kind and one trade per connection on the
second. A :class:`HookedTrades` put into ``self.trades`` before the first message
is appended to by both kinds, so every trade reaches the bus in the step in which
ccxt parsed it, whatever the exchange does with the dict.

Which exchanges' handlers behave so is recorded in their profile
(``feeds/exchanges``, ``trade_hook``); for the others the feeds scan the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ccxt.async_support.base.ws.cache import ArrayCache

#: rows a hooked cache keeps: the hook has published each one already, so the cache
#: only backs ccxt's own ``watch_trades`` return value and the safety-net scan
HOOKED_TRADES_LIMIT = 10


class HookedTrades(ArrayCache):
    """An ``ArrayCache`` that calls ``on_append(symbol, trade)`` after each append."""

    def __init__(self, symbol: str, on_append: Callable[[str, Any], None], size: int) -> None:
        super().__init__(size)
        self.symbol = symbol
        self.on_append = on_append

    def append(self, item: Any) -> None:
        super().append(item)
        self.on_append(self.symbol, item)


def install(ex: Any, symbols: list[str], on_append: Callable[[str, Any], None]) -> bool:
    """Put a :class:`HookedTrades` in ``ex.trades`` for each symbol; False if ``ex``
    keeps no ``trades`` dict (an exchange class without websocket trades)."""
    table = getattr(ex, "trades", None)
    if not isinstance(table, dict):
        return False
    for s in symbols:
        current = table.get(s)
        if not isinstance(current, HookedTrades):
            table[s] = HookedTrades(s, on_append, HOOKED_TRADES_LIMIT)
    return True
