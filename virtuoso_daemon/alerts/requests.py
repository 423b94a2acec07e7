"""What the alert manager answers on ``Topics.ALERT_COMMANDS``.

The read layer (:mod:`virtuoso_daemon.read.alerts`) validates what a client sent and
asks with these; the actor answers from its store, so every surface sees the same.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from virtuoso_daemon.core.requests import Args


class AlertRequest(Args, frozen=True, tag_field="request"):
    """Base of the alert manager's requests."""


class ListAlerts(AlertRequest, frozen=True, tag="alerts.list"):
    kind: str | None = None
    severity: str | None = None
    symbol: str | None = None
    exchange: str | None = None
    status: str | None = None
    since: float | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    offset: Annotated[int, msgspec.Meta(ge=0)] = 0


class GetAlert(AlertRequest, frozen=True, tag="alerts.get"):
    id: str


class AckAlert(AlertRequest, frozen=True, tag="alerts.ack"):
    id: str
    by: str = ""


class AddSilence(AlertRequest, frozen=True, tag="alerts.silence"):
    duration: Annotated[float, msgspec.Meta(gt=0)]  # seconds
    kind: str | None = None
    symbol: str | None = None
    exchange: str | None = None
    comment: str = ""
    by: str = ""


class ListSilences(AlertRequest, frozen=True, tag="alerts.silences"):
    all: bool = False  # also the ended ones still kept


class RemoveSilence(AlertRequest, frozen=True, tag="alerts.unsilence"):
    id: str


AlertRequests = ListAlerts | GetAlert | AckAlert | AddSilence | ListSilences | RemoveSilence
