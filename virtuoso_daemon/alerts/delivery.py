"""Delivery of the outbox to one destination: a courier task per destination.

Why one task each: a receiver that hangs or answers 500 must never hold up detection
or the other destinations. The alert manager only writes messages to the outbox and
pokes the courier; each courier reads its own due messages from the store and sends
them one at a time, so a slow destination delays only itself.

Per message (at least once; the ``Idempotency-Key`` header and the body carry the
message's key, so a redelivery after a crash is recognisable):

* 2xx: delivered.
* 429: retried after ``Retry-After`` (seconds or an HTTP date; Telegram's
  ``parameters.retry_after`` in the body otherwise), else the backoff.
* any other 4xx: the destination refuses this message; marked failed, not retried.
* 5xx, a timeout (``timeout``), a connection error: retried with exponential backoff
  and jitter (``backoff_initial`` doubling up to ``backoff_max``), at most
  ``max_attempts`` attempts, then failed.

``rate_limit`` (messages a minute) spaces the sends to one destination. Errors are
logged with the destination's name and the error's type, never the URL (it carries
the webhook's or the bot's secret).
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import anyio
import msgspec

from virtuoso_daemon.alerts import formatters
from virtuoso_daemon.alerts.store import AlertStore, OutboxMessage
from virtuoso_daemon.core.backoff import Backoff
from virtuoso_daemon.core.config import AlertDestination

log = logging.getLogger("virtuoso.alerts")

_encode = msgspec.json.Encoder().encode
IDLE = 3600.0  # s a courier sleeps with nothing due (a poke wakes it)
MAX_RETRY_AFTER = 3600.0


def retry_after(headers: Any, body: bytes, now: float) -> float | None:
    """Seconds to wait from a 429's ``Retry-After`` header or Telegram's body."""
    raw = headers.get("Retry-After")
    if raw:
        raw = raw.strip()
        try:
            return min(MAX_RETRY_AFTER, max(0.0, float(raw)))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(raw).timestamp()
            except (TypeError, ValueError, IndexError):
                return None
            return min(MAX_RETRY_AFTER, max(0.0, when - now))
    try:
        doc = msgspec.json.decode(body)
        value = doc["parameters"]["retry_after"]
        return min(MAX_RETRY_AFTER, max(0.0, float(value)))
    except (msgspec.DecodeError, KeyError, TypeError, ValueError):
        return None


class Courier:
    """Sends one destination's outbox (see the module docstring)."""

    def __init__(
        self,
        dest: AlertDestination,
        store: AlertStore,
        session: aiohttp.ClientSession,
        *,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.dest = dest
        self.store = store
        self.session = session
        self.clock = clock
        self.on_change = on_change
        self._wake = anyio.Event()
        self._next_send = 0.0
        self.delivered = 0
        self.failed = 0
        self.retries = 0
        self.attempts = 0
        self.last_error: str | None = None
        self.sending: str | None = None  # msg_id of the message in flight

    def poke(self) -> None:
        """New messages are in the outbox."""
        self._wake.set()

    def stats(self) -> dict[str, Any]:
        return {
            "type": self.dest.type,
            "delivered": self.delivered,
            "failed": self.failed,
            "retries": self.retries,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "in_flight": self.sending is not None,
        }

    async def run(self) -> None:
        name = self.dest.name
        # a restart is a reason to try again at once: the receiver may be back
        self.store.retry_now(name, self.clock())
        while True:
            self._wake = anyio.Event()  # before looking: a poke after the look wakes us
            now = self.clock()
            due = self.store.due_messages(name, now)
            if not due:
                nxt = self.store.next_attempt(name)
                delay = IDLE if nxt is None else max(0.0, nxt - now)
                with anyio.move_on_after(delay):
                    await self._wake.wait()
                continue
            for msg in due:
                await self._pace()
                await self.send(msg)
                if self.on_change is not None:
                    self.on_change()

    async def _pace(self) -> None:
        """Wait for the destination's rate limit."""
        wait = self._next_send - time.monotonic()
        if wait > 0:
            await anyio.sleep(wait)
        self._next_send = time.monotonic() + 60.0 / self.dest.rate_limit

    async def send(self, msg: OutboxMessage) -> None:
        """One attempt at ``msg``; its new state goes to the store."""
        dest = self.dest
        url, body = formatters.request(dest, msg)
        headers = {"Content-Type": "application/json", "Idempotency-Key": msg.msg_id}
        self.attempts += 1
        self.sending = msg.msg_id
        try:
            async with self.session.post(
                url,
                data=_encode(body),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=dest.timeout),
                allow_redirects=False,
            ) as resp:
                status = resp.status
                text = await resp.content.read(64 * 1024)
                resp_headers = resp.headers
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._retry(msg, None, f"{type(exc).__name__}", None)
            return
        finally:
            self.sending = None
        now = self.clock()
        if 200 <= status < 300:
            self.store.mark_delivered(msg.msg_id, status, now)
            self.delivered += 1
            self.last_error = None
            log.debug("alerts: %s took message %s", dest.name, msg.msg_id[:12])
        elif status == 429:
            self._retry(msg, status, "HTTP 429", retry_after(resp_headers, text, now))
        elif 400 <= status < 500:
            self.store.mark_failed(msg.msg_id, status, f"HTTP {status}", now)
            self.failed += 1
            self.last_error = f"HTTP {status}"
            log.warning(
                "alerts: %s refused message %s with HTTP %d; not retried",
                dest.name,
                msg.msg_id[:12],
                status,
            )
        else:
            self._retry(msg, status, f"HTTP {status}", None)

    def _retry(
        self, msg: OutboxMessage, status: int | None, error: str, wait: float | None
    ) -> None:
        now = self.clock()
        self.last_error = error
        attempts = msg.attempts + 1
        if attempts >= self.dest.max_attempts:
            self.store.mark_failed(msg.msg_id, status, f"{error} (gave up after {attempts})", now)
            self.failed += 1
            log.warning(
                "alerts: %s: message %s failed after %d attempts (%s)",
                self.dest.name,
                msg.msg_id[:12],
                attempts,
                error,
            )
            return
        if wait is None:
            backoff = Backoff(self.dest.backoff_initial, self.dest.backoff_max)
            backoff.failures = msg.attempts
            wait = backoff.next()
        self.retries += 1
        self.store.mark_retry(msg.msg_id, now + wait, status, error)
        log.info(
            "alerts: %s: message %s not delivered (%s); retry in %.1fs",
            self.dest.name,
            msg.msg_id[:12],
            error,
            wait,
        )
