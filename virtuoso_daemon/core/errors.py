"""The one error type every query raises, whichever surface asked.

A stable ``code``, a human message and the HTTP status: the HTTP API answers
``{"error": {"code", "message"}}`` with ``status``, the control socket replies with the
same code. Actors that ask another actor for data (the beta actor asking the market
store for closes) raise it too, so it lives below every layer.
"""

from __future__ import annotations


class QueryError(Exception):
    """Bad input or an unavailable source: a stable ``code``, a message, an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
