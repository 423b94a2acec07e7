"""What the ticker cache answers on ``Topics.CACHE_COMMANDS`` (``fix.sh cache``)."""

from __future__ import annotations

from virtuoso_daemon.core.requests import Args


class CacheRequest(Args, frozen=True, tag_field="request"):
    """Base of the ticker cache's requests."""


class RewarmCache(CacheRequest, frozen=True, tag="cache.rewarm"):
    """Rebuild the tickers view, queue every ticker for memcached again and, when
    memcached is not up, reconnect now instead of after the backoff.
    ``views_only``: only rebuild the view (``fix.sh dashboard``)."""

    views_only: bool = False
