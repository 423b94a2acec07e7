"""Exchange profiles: one place per ccxt id for what differs between exchanges.

The feeds are written against ccxt's unified API, but a few things are not unified:
which order-book depths ``watch_order_book`` accepts, whether ccxt's websocket trade
handler can be hooked, how many streams one websocket connection may carry, how many
candles one kline request returns. Each of those is a field of
:class:`ExchangeProfile`; ``feeds/exchanges/<id>.py`` holds the profile of one ccxt id
(each with a test feeding the real ccxt class real frames, ``tests/feeds/
test_exchange_profiles.py``) and :func:`profile_for` falls back to
:data:`~.default.DEFAULT`, which assumes nothing beyond ccxt's ``has`` flags.
"""

from __future__ import annotations

from virtuoso_daemon.feeds.exchanges import binance, binanceusdm, bybit, okx
from virtuoso_daemon.feeds.exchanges.default import DEFAULT
from virtuoso_daemon.feeds.exchanges.profile import ExchangeProfile

PROFILES: dict[str, ExchangeProfile] = {
    p.ccxt_id: p for p in (binance.PROFILE, binanceusdm.PROFILE, bybit.PROFILE, okx.PROFILE)
}

__all__ = ["DEFAULT", "PROFILES", "ExchangeProfile", "profile_for"]


def profile_for(ccxt_id: str) -> ExchangeProfile:
    """The profile of a ccxt id; the default profile for every exchange without one."""
    return PROFILES.get(ccxt_id, DEFAULT)
