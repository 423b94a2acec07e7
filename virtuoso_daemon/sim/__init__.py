"""The simulated exchange (spot + USD-M perpetuals, in the Binance and/or OKX v5
dialect) that the daemon's real ccxt code runs against over loopback; see
``docs/sim.md``. Typical use::

    sim = Simulator(SimConfig(seed=7))
    async with sim.running() as base_url:
        ex = make_ccxt_exchange(base_url, "spot")
        try:
            await ex.fetch_ticker("ETH/USDT")
        finally:
            await ex.close()
"""

from __future__ import annotations

from virtuoso_daemon.sim.client import (
    ccxt_overrides,
    make_ccxt_exchange,
    make_okx_exchange,
    okx_overrides,
)
from virtuoso_daemon.sim.config import SimConfig
from virtuoso_daemon.sim.faults import Fault
from virtuoso_daemon.sim.server import Simulator

__all__ = [
    "Fault",
    "SimConfig",
    "Simulator",
    "ccxt_overrides",
    "make_ccxt_exchange",
    "make_okx_exchange",
    "okx_overrides",
]
