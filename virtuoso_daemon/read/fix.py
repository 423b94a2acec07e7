"""The common fixes as one daemon command (``fix`` on the socket, ``POST
/api/system/fix``, ``virtuoso-ctl fix``, ``scripts/fix.sh``).

Each target asks the actors that own the state to act (typed requests over the bus;
nothing here reaches into an actor) and reports what each one did:

* ``cache``: the ticker cache rebuilds its view, queues every ticker for memcached
  again and reconnects now if memcached is down (no backoff wait);
* ``connection``: every feed (or ``exchange``) drops its connections and connects
  afresh, keeping operator state (pauses, symbol edits);
* ``timeout``: every feed's rate gate (closed after a 429 or a ban) reopens;
* ``dashboard``: the tickers view is rebuilt (the dashboard's first screen);
* ``all``: the four, in that order.

An owner that refuses or does not answer is reported (``ok: false``) and the other
actions still run; the answer's ``ok`` is true only when every action succeeded.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from virtuoso_daemon.core.bus import RequestError, Topics
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.requests import Args, command_name
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.feeds.requests import ListFeeds, ReconnectFeed, ResetBackoff
from virtuoso_daemon.tickers.requests import RewarmCache

FixTarget = Literal["cache", "connection", "timeout", "dashboard", "all"]
TARGETS: tuple[str, ...] = ("cache", "connection", "timeout", "dashboard")
ASK_TIMEOUT = 4.0


class FixArgs(Args, frozen=True):
    target: FixTarget = "all"
    exchange: str | None = None  # connection/timeout: one feed instead of all


class FixAction(msgspec.Struct, frozen=True):
    """One thing done: the target it belongs to, the request, its outcome."""

    target: str
    action: str
    ok: bool
    result: Any = None  # the owner's answer (what it did)
    error: str | None = None


class FixReport(msgspec.Struct, frozen=True):
    target: str
    ok: bool
    actions: list[FixAction]


async def _ask(rt: Runtime, target: str, topic: str, body: Any) -> FixAction:
    action = command_name(body)
    try:
        result = await rt.bus.request(topic, body, timeout=ASK_TIMEOUT)
    except RequestError as exc:
        return FixAction(target, action, False, error=f"{exc.code}: {exc.message}")
    except TimeoutError:
        return FixAction(target, action, False, error=f"no answer within {ASK_TIMEOUT:g}s")
    return FixAction(target, action, True, result=result)


async def _feeds(rt: Runtime, exchange: str | None) -> list[str]:
    try:
        statuses = await rt.bus.request(Topics.FEED_COMMANDS, ListFeeds(), timeout=ASK_TIMEOUT)
    except (RequestError, TimeoutError):
        statuses = []
    names = [str(s["exchange"]) for s in statuses]
    if exchange is None:
        return names
    if exchange not in names:
        raise QueryError(
            "unknown_exchange",
            f"no feed named {exchange!r}; feeds: {', '.join(names) or 'none'}",
            404,
        )
    return [exchange]


async def fix(rt: Runtime, args: FixArgs) -> FixReport:
    """Apply the common fixes for ``target`` and say what each one did."""
    targets = TARGETS if args.target == "all" else (args.target,)
    actions: list[FixAction] = []
    for target in targets:
        if target == "cache":
            actions.append(await _ask(rt, target, Topics.CACHE_COMMANDS, RewarmCache()))
        elif target == "dashboard":
            body = RewarmCache(views_only=True)
            actions.append(await _ask(rt, target, Topics.CACHE_COMMANDS, body))
        else:
            make = ReconnectFeed if target == "connection" else ResetBackoff
            for name in await _feeds(rt, args.exchange):
                req = make(exchange=name)
                actions.append(await _ask(rt, target, Topics.FEED_COMMANDS, req))
    return FixReport(args.target, all(a.ok for a in actions), actions)
