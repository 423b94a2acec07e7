"""The socket's ``tickers`` command, the one market query with a hot path of its own.

Without arguments it answers with the ticker cache's pre-encoded list (no struct, no
encoding), as ``GET /api/market/tickers`` does; with arguments it is the catalog's
:func:`~virtuoso_daemon.read.catalog.tickers`, as on HTTP. Every other market and
analytics query is a catalog row (:mod:`.catalog`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from virtuoso_daemon.control.registry import CommandFailed, Context, command
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.read import catalog
from virtuoso_daemon.read import market as queries

_ALL_TICKERS = catalog.TickersArgs()


@command("tickers", args=catalog.TickersArgs, query=True)
async def tickers(ctx: Context, args: catalog.TickersArgs) -> Any:
    """Newest tickers, filtered by exchange/quote, sorted, limited."""
    if args == _ALL_TICKERS:
        return msgspec.Raw(queries.tickers_body(ctx.runtime))
    try:
        return catalog.tickers(ctx.runtime, args)
    except QueryError as exc:
        raise CommandFailed(exc.code, exc.message) from None
