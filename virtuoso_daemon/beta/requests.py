"""What the beta actor answers on its request topic (``beta_queries``)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from virtuoso_daemon.core.requests import Args


class BetaRequest(Args, frozen=True, tag_field="request"):
    """Base of the beta actor's requests."""


class SymbolDetail(BetaRequest, frozen=True, tag="symbol"):
    """History of every timeframe/window and a rolling beta series for one symbol."""

    exchange: str
    symbol: str
    timeframe: str | None = None
    window: str | None = None
    points: Annotated[int, msgspec.Meta(ge=1)] = 500
