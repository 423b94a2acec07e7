"""Which exchange feeds the daemon runs: the effective config's, in feed order.

Demo mode is resolved before the supervisor starts (``process.demo``): the simulator
binds first and the effective config carries its exchanges with their real URLs, so
every reader (store, ticker cache, beta, queries) asks the config and nothing else.
"""

from __future__ import annotations

from virtuoso_daemon.core.config import ExchangeConfig
from virtuoso_daemon.core.runtime import ReadModel


def exchange_configs(rt: ReadModel) -> list[ExchangeConfig]:
    """The exchange configs of the feeds this daemon runs, in feed order."""
    return list(rt.config.exchanges)
