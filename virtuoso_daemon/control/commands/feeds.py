"""Feed commands: requests to the feeds actors on ``Topics.FEED_COMMANDS``.

The feeds actor answers each with ``req.reply(result)`` or ``req.fail(code, message)``
under the same command name and with these arguments (as a plain dict).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from virtuoso_daemon.control.registry import Args, NoArgs, forward
from virtuoso_daemon.core.bus import Topics


class FeedTarget(Args, frozen=True):
    exchange: str
    symbol: str | None = None  # None: the whole exchange


class SymbolsArgs(Args, frozen=True):
    exchange: str
    symbols: Annotated[list[str], msgspec.Meta(min_length=1)]


forward("feeds.list", Topics.FEED_COMMANDS, args=NoArgs, help="Feed state per exchange.")
forward(
    "feeds.pause", Topics.FEED_COMMANDS, args=FeedTarget, help="Pause an exchange or one symbol."
)
forward(
    "feeds.resume", Topics.FEED_COMMANDS, args=FeedTarget, help="Resume an exchange or a symbol."
)
forward(
    "symbols.add", Topics.FEED_COMMANDS, args=SymbolsArgs, help="Add symbols to an exchange feed."
)
forward(
    "symbols.remove",
    Topics.FEED_COMMANDS,
    args=SymbolsArgs,
    help="Remove symbols from an exchange feed.",
)
