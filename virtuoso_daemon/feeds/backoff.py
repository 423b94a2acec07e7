"""Retry pacing for exchange calls: exponential backoff, Retry-After, error kinds.

Two tools, because an exchange misbehaves in two ways:

* :class:`Backoff` paces *one* loop (a stream reconnect, a polling loop) after its own
  failures: exponential in consecutive failures, capped, with jitter so that many
  loops (and many daemons) do not retry in lock step.
* :class:`RateGate` is shared by every REST call and stream (re)connect of one
  exchange. A 429/418 is an exchange-wide instruction ("this IP, stop"), so when one
  call is told to wait, all calls wait: the gate stays closed for at least the
  ``Retry-After`` the exchange sent (or the backoff when it sent none).

:func:`error_kind` maps ccxt's exception tree onto the few kinds an operator cares
about; those are the keys of ``FeedStatus.errors``.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import anyio
import ccxt.async_support as ccxt

from virtuoso_daemon.core.backoff import Backoff

__all__ = ["Backoff", "RateGate", "error_kind", "retry_after_seconds"]


def retry_after_seconds(
    headers: Mapping[str, Any] | None, now: float | None = None
) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), else None."""
    if not headers:
        return None
    raw = None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value
            break
    if raw is None:
        return None
    text = str(raw).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RateGate:
    """Exchange-wide "not before" time: every request waits while the gate is closed."""

    def __init__(self) -> None:
        self._not_before = 0.0  # anyio.current_time() clock
        self.closures = 0
        self.last_retry_after: float | None = None

    def close_for(self, seconds: float) -> None:
        """Keep the gate closed for at least ``seconds`` from now (never shortens it)."""
        until = anyio.current_time() + max(0.0, seconds)
        if until > self._not_before:
            self._not_before = until
            self.closures += 1

    def remaining(self) -> float:
        return max(0.0, self._not_before - anyio.current_time())

    def reopen(self) -> float:
        """Open the gate now (an operator's reset); the seconds it had left. Waiters
        notice on their next check (they sleep at most the old remaining time)."""
        left = self.remaining()
        self._not_before = 0.0
        return left

    async def wait(self) -> None:
        # a deadline, not a condition someone signals: sleeping until it is the point;
        # loop because another 429 may push it further while we sleep
        while (delay := self.remaining()) > 0:  # noqa: ASYNC110
            await anyio.sleep(delay)


#: error kinds, most specific first (RateLimitExceeded and RequestTimeout are
#: NetworkErrors, BadResponse is an OperationFailed, ...)
_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (ccxt.RateLimitExceeded, "rate_limit"),
    (ccxt.DDoSProtection, "rate_limit"),
    (ccxt.RequestTimeout, "timeout"),
    (ccxt.ExchangeNotAvailable, "unavailable"),
    (ccxt.BadResponse, "bad_response"),
    (ccxt.NetworkError, "network"),
    (ccxt.BadSymbol, "bad_symbol"),
    (ccxt.NotSupported, "not_supported"),
    (ccxt.ExchangeError, "exchange"),
    (TimeoutError, "timeout"),
    (OSError, "network"),
    # ccxt parses a garbled body into something its parsers choke on
    (ValueError, "bad_response"),
    (TypeError, "bad_response"),
    (KeyError, "bad_response"),
    (IndexError, "bad_response"),
    (AttributeError, "bad_response"),
)


def error_kind(exc: BaseException) -> str:
    """The operator-facing kind of a failed exchange call."""
    for cls, kind in _KINDS:
        if isinstance(exc, cls):
            return kind
    return "other"


def is_rate_limit(exc: BaseException) -> bool:
    return isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded)
