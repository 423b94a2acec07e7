"""What the feeds answer: one tagged struct per command, the union the feeds serve.

The registry (``Topics.FEED_COMMANDS``) answers :class:`ListFeeds` and routes the
others to the feed actor named by ``exchange``; that actor dispatches with ``match``.
The control socket's ``feeds.*``/``symbols.*`` commands take these structs as their
arguments and forward them unchanged.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from virtuoso_daemon.core.requests import Args


class FeedsRequest(Args, frozen=True, tag_field="request"):
    """Base of the feeds' requests (tagged with the command name)."""


class ListFeeds(FeedsRequest, frozen=True, tag="feeds.list"):
    """Feed state per exchange."""


class FeedStatusQuery(FeedsRequest, frozen=True, tag="feeds.status"):
    """One feed's state."""

    exchange: str


class PauseFeed(FeedsRequest, frozen=True, tag="feeds.pause"):
    """Pause an exchange or one symbol."""

    exchange: str
    symbol: str | None = None  # None: the whole exchange


class ResumeFeed(FeedsRequest, frozen=True, tag="feeds.resume"):
    """Resume an exchange or a symbol."""

    exchange: str
    symbol: str | None = None


class AddSymbols(FeedsRequest, frozen=True, tag="symbols.add"):
    """Add symbols to an exchange feed."""

    exchange: str
    symbols: Annotated[list[str], msgspec.Meta(min_length=1)]


class RemoveSymbols(FeedsRequest, frozen=True, tag="symbols.remove"):
    """Remove symbols from an exchange feed."""

    exchange: str
    symbols: Annotated[list[str], msgspec.Meta(min_length=1)]


class ReconnectFeed(FeedsRequest, frozen=True, tag="feeds.reconnect"):
    """Drop the exchange's connections and connect afresh (new ccxt clients, new
    backoffs): what ``fix.sh connection`` does. Operator state (pauses, added or
    removed symbols) is kept."""

    exchange: str


class ResetBackoff(FeedsRequest, frozen=True, tag="feeds.reset_backoff"):
    """Reopen the exchange's rate gate (closed after a 429 or a ban): ``fix.sh timeout``."""

    exchange: str


#: requests routed to one feed actor (everything but ListFeeds)
ExchangeRequest = (
    FeedStatusQuery
    | PauseFeed
    | ResumeFeed
    | AddSymbols
    | RemoveSymbols
    | ReconnectFeed
    | ResetBackoff
)
FeedRequest = ListFeeds | ExchangeRequest
