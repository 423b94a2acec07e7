"""Textual messages the live loop posts to the app (the only way data enters the UI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from textual.message import Message

from virtuoso_daemon.protocol import Hello

LinkState = Literal["connecting", "connected", "disconnected"]


class LinkChanged(Message):
    """The connection to the daemon changed state.

    ``retry_in`` is the backoff before the next attempt (disconnected only), ``attempt``
    how many attempts in a row have failed, ``detail`` the reason or the daemon's hello.
    """

    def __init__(
        self,
        state: LinkState,
        detail: str = "",
        *,
        retry_in: float | None = None,
        attempt: int = 0,
        hello: Hello | None = None,
    ) -> None:
        super().__init__()
        self.state: LinkState = state
        self.detail = detail
        self.retry_in = retry_in
        self.attempt = attempt
        self.hello = hello


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A command the live loop could not load (``unavailable`` topic): the daemon does
    not serve it, or refused it; ``message`` says why, for the screen that needs it."""

    command: str
    message: str


class LiveData(Message):
    """A subscription event or a decoded snapshot answer (``topic`` names which);
    ``data`` is typed: a message struct, or what :mod:`tui.answers` made of an answer."""

    def __init__(self, topic: str, data: Any) -> None:
        super().__init__()
        self.topic = topic
        self.data = data
