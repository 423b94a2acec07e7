"""Building, sharing markets between, and closing ccxt exchange instances.

One feed uses several ccxt instances: one for REST (markets, backfill, polling,
funding) and one per streaming data kind. A stream that goes silent or keeps failing
is recovered by closing its instance and building a fresh one, which is the only
reliable way to drop every websocket, subscription and cached future ccxt holds.
Stream instances borrow the REST instance's markets, so a reconnect costs no HTTP.

Every instance is tracked from creation to close: :meth:`ExchangeFactory.close_all`
on shutdown closes whatever is still open, shielded and bounded, because an
unclosed aiohttp session is both a resource leak and (in tests) an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import ccxt.async_support as ccxt_rest
import ccxt.pro as ccxt_pro

from virtuoso_daemon.core import reclaim
from virtuoso_daemon.core.config import ExchangeConfig
from virtuoso_daemon.core.config.load import deep_merge
from virtuoso_daemon.feeds import book_buffer, ws_pump
from virtuoso_daemon.feeds.backoff import RateGate, retry_after_seconds
from virtuoso_daemon.feeds.exchanges import profile_for

log = logging.getLogger("virtuoso.feeds")

CLOSE_TIMEOUT = 2.0  # seconds per close; ccxt itself sleeps 0.25 s in close()
# streamed trades ccxt caches per symbol (where the trade hook is in, the feed's own
# caches replace them for watched symbols: this only bounds any other) and candles
# per symbol and timeframe between two scans
TRADES_LIMIT = 50
OHLCV_LIMIT = 8  # a scan reads back to the candle it tracks; a longer gap is refetched


#: config key -> ccxt constructor key
PROXY_KEYS = {
    "http_proxy": "httpProxy",
    "https_proxy": "httpsProxy",
    "socks_proxy": "socksProxy",
    "ws_proxy": "wsProxy",
}


def exchange_class(ccxt_id: str) -> type[Any]:
    """``ccxt.pro.<id>`` when ccxt streams that exchange, else the REST-only class."""
    cls = getattr(ccxt_pro, ccxt_id, None) or getattr(ccxt_rest, ccxt_id, None)
    if not isinstance(cls, type):
        raise ValueError(f"unknown ccxt exchange id {ccxt_id!r}")
    return cls


def ccxt_config(cfg: ExchangeConfig) -> dict[str, Any]:
    """The constructor config for one feed: our defaults, the exchange profile's
    options, then the operator's."""
    profile = profile_for(cfg.ccxt_id)
    options: dict[str, Any] = {
        # load only the market type this feed watches (binance/bybit default to all,
        # which is three to eleven extra calls and ambiguous ids like BTCUSDT)
        "fetchMarkets": {"types": [profile.market_type(cfg.market)]},
        # ccxt keeps the newest N streamed trades and candles per symbol (default 1000
        # each: ~1.25 MB of trade dicts per symbol, hours to fill, hundreds of MB over
        # a large universe). The feeds only read what arrived since their last scan
        # (see cache_scan.CacheScan), so a short tail is enough; a scanned exchange
        # (no trade hook in its profile) keeps enough rows for a burst between scans.
        "tradesLimit": TRADES_LIMIT if profile.trade_hook else profile.scan_trades_limit,
        "OHLCVLimit": OHLCV_LIMIT,
    }
    options = deep_merge(options, profile.options)
    if cfg.market == "linear":
        options["defaultType"] = "swap"
        options["defaultSubType"] = "linear"
    conf: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": cfg.timeout_ms,
        "options": deep_merge(options, cfg.options),
    }
    if cfg.urls and not cfg.sandbox:
        conf["urls"] = cfg.urls  # with sandbox: applied after set_sandbox_mode (create)
    for key, ccxt_key in PROXY_KEYS.items():
        if getattr(cfg, key):
            conf[ccxt_key] = getattr(cfg, key)
    if cfg.headers:
        conf["headers"] = dict(cfg.headers)
    if cfg.rate_limit_ms > 0:
        conf["rateLimit"] = cfg.rate_limit_ms
    if cfg.api_key:
        conf["apiKey"] = cfg.api_key
        conf["secret"] = cfg.secret
    return conf


#: the instance attribute holding the tasks ccxt spawned for it (see _track_spawned)
SPAWNED = "virtuoso_spawned"


def _track_spawned(ex: Any) -> None:
    """Keep the tasks ccxt spawns for ``ex`` (``spawn``), so that closing it cancels them.

    ccxt starts background tasks of its own and never cancels them on ``close()``:
    Binance's order-book stream spawns a REST snapshot fetch per symbol, which waits
    its turn in the rate limiter that every instance of the feed shares. After a
    reconnect those fetches of the closed instance went on waiting (at 300 markets,
    minutes of the shared budget), each holding the closed instance and its books in
    memory, and then spent the budget on requests whose answers nobody reads.
    """
    tasks: set[asyncio.Task[Any]] = set()
    spawn = ex.spawn

    def tracked(method: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        async def run(*a: Any) -> Any:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                return await method(*a)
            finally:
                tasks.discard(task)

        return spawn(run, *args)

    ex.spawn = tracked
    ex.__dict__[SPAWNED] = tasks


class ExchangeFactory:
    """Makes the ccxt instances of one feed and guarantees they get closed."""

    def __init__(self, cfg: ExchangeConfig, gate: RateGate) -> None:
        self.cfg = cfg
        self.gate = gate
        self.cls = exchange_class(cfg.ccxt_id)
        self.live: set[Any] = set()
        self.throttler: Any = None  # one leaky bucket for every instance of this feed
        self.created = 0
        self.closed = 0
        self.responses: dict[int, int] = {}
        # book deltas dropped from ccxt's buffers when their snapshot was requested
        self.book_deltas_dropped = 0
        self.profile = profile_for(cfg.ccxt_id)

    def create(self, markets_from: Any | None = None, kind: str | None = None) -> Any:
        """A new instance; with ``markets_from`` it shares that instance's markets.

        ``kind``: the data kind it will stream (its websocket read loop's fair share).
        """
        conf = ccxt_config(self.cfg)
        ex = self.cls(conf)
        if self.cfg.sandbox:
            # copies urls['test'] over urls['api']: before the operator's urls, which
            # would otherwise be undone
            ex.set_sandbox_mode(True)
        if self.cfg.urls:
            # the constructor deep-merges, but binance keeps urls['api'] under 'api';
            # assigning after construction is the documented belt-and-braces
            ex.urls = deep_merge(ex.urls, self.cfg.urls)
        self._hook_responses(ex)
        _track_spawned(ex)
        ws_pump.install(ex, kind)
        if self.profile.book_snapshot_path:
            book_buffer.install(ex, self.profile.book_snapshot_path, self._count_dropped)
        if self.throttler is not None:
            ex.throttler = self.throttler
        if markets_from is not None and markets_from.markets:
            ex.set_markets_from_exchange(markets_from)
        self.live.add(ex)
        self.created += 1
        return ex

    def _count_dropped(self, n: int) -> None:
        self.book_deltas_dropped += n

    def share_throttler(self, ex: Any) -> None:
        """Make ``ex``'s rate limiter the one every later instance uses.

        ccxt limits each instance on its own; a feed with a REST instance and several
        stream instances (order-book snapshots are REST calls) would otherwise add up
        to several times the exchange's limit.
        """
        self.throttler = ex.throttler

    def _hook_responses(self, ex: Any) -> None:
        """See every HTTP response: count statuses, close the gate on 429/418, and
        refuse a 2xx body that starts as JSON but does not parse (a cut-off answer).

        ccxt turns such a body into ``None`` and hands the text to the exchange class,
        whose parsers differ: Binance's fail on it (counted as ``bad_response``), OKX's
        read ``data`` from it with a default, so a truncated answer was an empty one
        (no tickers, no error, the feed "connected" until its data aged out). The body
        is decoded once: ccxt's next step decodes the very string this hook returns,
        and is handed the value decoded here (a 226 KB ticker answer: ~1 ms).
        """
        original = ex.on_rest_response
        decode = ex.on_json_response  # ccxt's parser (orjson when installed)
        decoded: list[tuple[str, Any]] = []  # the body this hook decoded, and its value
        gate, responses, cfg = self.gate, self.responses, self.cfg

        def on_json_response(text: str) -> Any:
            if decoded and decoded[0][0] is text:
                return decoded.pop()[1]
            return decode(text)

        def on_rest_response(
            code: int,
            reason: str,
            url: str,
            method: str,
            response_headers: Mapping[str, Any],
            response_body: str,
            request_headers: Any,
            request_body: Any,
        ) -> Any:
            responses[code] = responses.get(code, 0) + 1
            if code in (418, 429):
                wait = retry_after_seconds(response_headers)
                gate.last_retry_after = wait
                # no Retry-After: still stop everything for the initial backoff
                gate.close_for(wait if wait is not None else cfg.backoff_initial)
            body = original(
                code,
                reason,
                url,
                method,
                response_headers,
                response_body,
                request_headers,
                request_body,
            )
            decoded.clear()
            if 200 <= code < 300 and isinstance(body, str) and body[:1] in ("{", "["):
                try:
                    decoded.append((body, decode(body)))
                except ValueError:
                    raise ccxt_rest.BadResponse(
                        f"{ex.id} {method} {url.split('?')[0]}: malformed JSON ({len(body)} bytes)"
                    ) from None
            return body

        ex.on_rest_response = on_rest_response
        ex.on_json_response = on_json_response

    async def close(self, ex: Any) -> None:
        """Close one instance, shielded from cancellation and bounded in time."""
        if ex not in self.live:
            return
        self.live.discard(ex)
        for task in ex.__dict__.get(SPAWNED, ()):
            task.cancel()
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True) as scope:
            try:
                await ex.close()
            except Exception as exc:  # closing a broken client must not raise
                log.debug("%s: error while closing a ccxt instance: %r", self.cfg.name, exc)
        self.closed += 1
        # a closed instance is a web of reference cycles, and may have been frozen with
        # start-up (core/reclaim.py): only a collection that thaws it frees it
        reclaim.request()
        if scope.cancelled_caught:
            log.warning("%s: closing a ccxt instance took over %ss", self.cfg.name, CLOSE_TIMEOUT)

    async def close_all(self) -> None:
        """Close every instance still open, concurrently (shutdown path)."""
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tg:
                for ex in list(self.live):
                    tg.start_soon(self.close, ex)
