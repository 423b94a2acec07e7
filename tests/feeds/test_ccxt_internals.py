"""The ccxt internals the feeds patch are still there, in the shape they rely on.

Two pieces of the feeds reach inside ccxt (see the lock file for the version they
were written against):

* :mod:`virtuoso_daemon.feeds.ws_pump` re-implements ``Client.receive_loop`` with the
  client's own ``receive``/``handle_message``/``reject``/``on_close``;
* :class:`~virtuoso_daemon.feeds.cache_scan.HookTable` replaces an exchange's ``tickers``
  dict and relies on ccxt's websocket handlers *assigning* into it
  (``self.tickers[symbol] = ...``);
* :class:`~virtuoso_daemon.feeds.trade_cache.HookedTrades` relies on the trade
  handlers of the exchanges whose profile says ``trade_hook`` appending to the cache
  they find in ``self.trades``.

Behaviour tests (test_ticker_hook, test_ws_pump) would fail too after an upgrade
that changes these, but with a symptom far from the cause; these fail with the
cause, so whoever bumps ccxt knows what to re-read.
"""

from __future__ import annotations

import inspect
from typing import Any

import ccxt
import ccxt.pro
import pytest
from ccxt.async_support.base.ws.client import Client

UPGRADE_HINT = (
    f"(ccxt {ccxt.__version__}): re-read ccxt/async_support/base/ws/client.py and "
    "ccxt/pro/binance.py, then update virtuoso_daemon/feeds/ws_pump.py / streams.py"
)


def _source(obj: Any) -> str:
    return inspect.getsource(obj)


def test_ws_client_still_has_what_the_pump_calls() -> None:
    missing = [
        name
        for name in ("receive_loop", "receive", "handle_message", "reject", "on_close", "closed")
        if not callable(getattr(Client, name, None))
    ]
    assert not missing, f"ccxt's ws Client lost {missing} {UPGRADE_HINT}"
    assert "asyncio_loop" in Client.__dict__ or "asyncio_loop" in _source(Client), (
        f"ccxt's ws Client has no asyncio_loop attribute {UPGRADE_HINT}"
    )


def test_receive_loop_still_reads_one_message_per_task_and_hands_it_to_handle_message() -> None:
    src = _source(Client.receive_loop)
    for needle in ("self.receive()", "self.handle_message(", "self.reject(", "self.on_close(1006)"):
        assert needle in src, (
            f"Client.receive_loop no longer contains {needle!r}; the pump copies its "
            f"contract {UPGRADE_HINT}"
        )


def test_exchange_builds_its_ws_clients_through_the_client_factory() -> None:
    src = _source(ccxt.pro.binance.client)
    assert "self.clients" in src and "def client(self, url)" in src, (
        f"Exchange.client(url) changed; ws_pump.install wraps it {UPGRADE_HINT}"
    )


def test_binance_ticker_handler_assigns_into_the_tickers_table() -> None:
    src = _source(ccxt.pro.binance.handle_tickers_and_bids_asks)
    assert "self.tickers[symbol] = " in src, (
        f"binance no longer assigns self.tickers[symbol]: HookTable would see no ticker "
        f"{UPGRADE_HINT}"
    )


@pytest.mark.parametrize(
    ("ccxt_id", "handler"),
    [("binance", "handle_trade"), ("bybit", "handle_trades"), ("okx", "handle_trades")],
)
def test_trade_handlers_append_to_the_cache_they_find(ccxt_id: str, handler: str) -> None:
    # trade_cache.HookedTrades relies on it: the handler looks up self.trades[symbol]
    # and appends to what it finds, creating a cache only when there is none
    src = _source(getattr(getattr(ccxt.pro, ccxt_id), handler))
    assert "self.safe_value(self.trades, symbol)" in src and ".append(" in src, (
        f"{ccxt_id}.{handler} no longer appends to the cache in self.trades: set "
        f"trade_hook=False in feeds/exchanges/{ccxt_id}.py until the hook is adapted "
        f"{UPGRADE_HINT}"
    )
    assert "'tradesLimit'" in src, (
        f"{ccxt_id}.{handler} no longer reads options['tradesLimit'] {UPGRADE_HINT}"
    )
