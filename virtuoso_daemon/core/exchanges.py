"""Which exchange feeds the daemon runs: the config's, or the simulator's in demo mode.

The store (which series to reload), the ticker cache (which aggregates to read on a
warm restart) and the queries (exchange order, timeframes, configured symbols) need
the feeds' exchange configs before or without the feeds. In demo mode those are not
in ``config.exchanges``; :func:`~..actors.demo.demo_exchanges` describes them (its
URLs, unknown until the simulator listens, do not matter here).
"""

from __future__ import annotations

from virtuoso_daemon.core.config import Config, ExchangeConfig
from virtuoso_daemon.core.runtime import Runtime

_PLACEHOLDER_URL = "http://127.0.0.1:0"
_cache: tuple[Config, list[ExchangeConfig]] | None = None


def exchange_configs(rt: Runtime) -> list[ExchangeConfig]:
    """The exchange configs of the feeds this daemon runs, in feed order."""
    global _cache
    cfg = rt.config
    if _cache is not None and _cache[0] is cfg:
        return _cache[1]
    if cfg.daemon.demo:  # the feeds then watch only the simulator (feeds.feed_names)
        from virtuoso_daemon.process.demo import demo_exchanges

        exchanges = demo_exchanges(_PLACEHOLDER_URL, cfg.demo)
    else:
        exchanges = list(cfg.exchanges)
    _cache = (cfg, exchanges)
    return exchanges
