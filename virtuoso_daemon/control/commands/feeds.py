"""Feed commands: typed requests to the feeds on ``Topics.FEED_COMMANDS``.

Each command's arguments are the feeds' own request struct (:mod:`virtuoso_daemon.feeds.requests`),
decoded from the frame and forwarded as they are; the feeds answer with
``req.reply(result)`` or ``req.fail(code, message)``.
"""

from __future__ import annotations

from virtuoso_daemon.control.registry import forward
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.feeds.requests import (
    AddSymbols,
    ListFeeds,
    PauseFeed,
    RemoveSymbols,
    ResumeFeed,
)

forward("feeds.list", Topics.FEED_COMMANDS, args=ListFeeds, help="Feed state per exchange.")
forward(
    "feeds.pause", Topics.FEED_COMMANDS, args=PauseFeed, help="Pause an exchange or one symbol."
)
forward(
    "feeds.resume", Topics.FEED_COMMANDS, args=ResumeFeed, help="Resume an exchange or a symbol."
)
forward(
    "symbols.add", Topics.FEED_COMMANDS, args=AddSymbols, help="Add symbols to an exchange feed."
)
forward(
    "symbols.remove",
    Topics.FEED_COMMANDS,
    args=RemoveSymbols,
    help="Remove symbols from an exchange feed.",
)
