"""The profile of every ccxt exchange without its own: nothing assumed beyond ``has``.

Order-book depth is passed through as asked, and streamed trades are read by
scanning ccxt's trade cache (kept at 1000 rows, enough for 1000 trades per symbol
between two scans) rather than hooked, since whether an unknown exchange's handler
reuses a cache it did not create is not known.
"""

from __future__ import annotations

from virtuoso_daemon.feeds.exchanges.profile import ExchangeProfile

DEFAULT = ExchangeProfile(ccxt_id="*")
