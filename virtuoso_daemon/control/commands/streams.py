"""Subscription commands: subscribe, unsubscribe, topics."""

from __future__ import annotations

from typing import Any

from virtuoso_daemon.control.registry import Context, NoArgs, command
from virtuoso_daemon.control.subscriptions import TOPICS, SubscribeArgs, UnsubscribeArgs


@command("subscribe", args=SubscribeArgs)
async def subscribe(ctx: Context, args: SubscribeArgs) -> dict[str, Any]:
    """Stream topics as events; throttle_ms conflates to the newest per key per interval."""
    return ctx.session.subs.add(args)


@command("unsubscribe", args=UnsubscribeArgs)
async def unsubscribe(ctx: Context, args: UnsubscribeArgs) -> dict[str, Any]:
    """Stop streaming the given topics (all when none are given)."""
    return ctx.session.subs.remove(args.topics)


@command("topics", args=NoArgs)
async def topics(ctx: Context, args: NoArgs) -> list[dict[str, Any]]:
    """Topics that can be subscribed to, and whether they can be throttled."""
    return [
        {"name": t.name, "help": t.help, "throttle": t.key is not None}
        for t in sorted(TOPICS.values(), key=lambda t: t.name)
    ]
