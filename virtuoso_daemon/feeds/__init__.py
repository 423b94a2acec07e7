"""Exchange feeds: one actor per exchange (``feeds:<name>``) plus the ``feeds`` registry.

:func:`feed_specs` is what the assembly needs: the actor specs for every configured
feed, and the registry that answers ``Topics.FEED_COMMANDS``.
"""

from __future__ import annotations

from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.feeds.actor import STATUS_VIEW, FeedActor, command_topic, exchange_config
from virtuoso_daemon.feeds.registry import FeedsRegistryActor, feed_names

__all__ = [
    "STATUS_VIEW",
    "FeedActor",
    "FeedsRegistryActor",
    "command_topic",
    "exchange_config",
    "feed_names",
    "feed_specs",
]


def feed_specs(runtime: Runtime) -> list[ActorSpec]:
    """``feeds:<name>`` per exchange, then ``feeds``."""
    specs = [ActorSpec(f"feeds:{n}", FeedActor.factory(n)) for n in feed_names(runtime)]
    specs.append(ActorSpec("feeds", FeedsRegistryActor))
    return specs
