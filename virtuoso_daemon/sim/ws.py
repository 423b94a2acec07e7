"""Binance market-data websocket streams: subscriptions, per-tick fan-out, faults.

Paths (spot / USD-M futures):

- ``/ws``, ``/ws/<stream>[/<stream>...]`` and ``/fstream/ws...``: raw events.
- ``/stream``, ``/stream/<n>``, ``/stream?streams=a/b``: combined ``{"stream", "data"}``.
- ``/fstream/public/ws/<n>``, ``/fstream/market/ws/<n>``: what ccxt builds from a linear
  base ``.../fstream/ws`` (raw events).

Every tick the hub builds each subscribed stream's events once (shared bytes, cached
by the engine for the tick) and queues them per connection; a writer task per
connection sends them. A connection whose queue overflows is dropped, like a slow
consumer on Binance. The server pings every ``ws_heartbeat`` seconds.
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec
from aiohttp import web

from virtuoso_daemon.sim import encode
from virtuoso_daemon.sim.config import SimConfig
from virtuoso_daemon.sim.fanout import FanOut
from virtuoso_daemon.sim.faults import FaultBoard
from virtuoso_daemon.sim.history import TIMEFRAMES
from virtuoso_daemon.sim.model import Engine
from virtuoso_daemon.sim.universe import Kind

log = logging.getLogger("virtuoso.sim.ws")

_STREAM = re.compile(
    r"^(?P<sym>[a-z0-9]+)@(?P<ch>ticker|miniTicker|bookTicker|trade|aggTrade|markPrice"
    r"|kline_(?P<tf>\w+)|depth(?P<lv>5|10|20)?)(?:@(?P<rate>\d+m?s))?$"
)
_ALL = {
    "!miniTicker@arr": "allMini",
    "!ticker@arr": "allTicker",
    "!markPrice@arr": "allMark",
    "!markPrice@arr@1s": "allMark",
    "!bookTicker": "allBook",
}


@dataclass(frozen=True)
class StreamSpec:
    """A parsed stream name: channel, market index (None for all-market streams), arg."""

    channel: str
    m: int | None = None
    arg: str | int | None = None


#: channels that carry 24 h tickers (published first in a tick, see Hub.publish)
TICKER_CHANNELS = frozenset({"ticker", "miniTicker", "allTicker", "allMini"})


def parse_stream(engine: Engine, kind: Kind, name: str) -> StreamSpec | None:
    if name in _ALL:
        channel = _ALL[name]
        if channel in ("allMark", "allBook") and kind != "futures":
            return None
        return StreamSpec(channel)
    match = _STREAM.match(name)
    if match is None:
        return None
    mk = engine.universe.find(kind, match["sym"])
    if mk is None:
        return None
    ch = match["ch"]
    if ch == "markPrice" and kind != "futures":
        return None
    if match["tf"] is not None:
        if match["tf"] not in TIMEFRAMES:
            return None
        return StreamSpec("kline", mk.index, match["tf"])
    if match["lv"] is not None:
        return StreamSpec("partialDepth", mk.index, int(match["lv"]))
    return StreamSpec(ch, mk.index)


def stream_events(engine: Engine, kind: Kind, spec: StreamSpec) -> list[bytes]:
    """This tick's events of one stream (raw payloads)."""
    ch, m, now = spec.channel, spec.m, engine.t_ms
    if m is None:
        markets = engine.universe.kind_markets(kind)
        if ch == "allMini":
            return [encode.join([encode.mini_ticker_event(engine, k.index) for k in markets])]
        if ch == "allTicker":
            return [encode.join([encode.ticker_event(engine, k.index) for k in markets])]
        if ch == "allMark":
            return [encode.join([encode.mark_price_event(engine, k.index) for k in markets])]
        return [encode.book_ticker_event(engine, k.index) for k in markets]
    mk = engine.markets[m]
    if ch == "trade":
        return [encode.trade_event(mk, t, now) for t in engine.tick_trades[m]]
    if ch == "aggTrade":
        return [encode.agg_trade_event(mk, t, now) for t in engine.tick_trades[m]]
    if ch == "ticker":
        return [encode.ticker_event(engine, m)]
    if ch == "miniTicker":
        return [encode.mini_ticker_event(engine, m)]
    if ch == "kline":
        series = engine.series[str(spec.arg)]
        out = []
        if series.name in engine.closed_now:
            out.append(
                engine.cached(("kc", m, series.name), lambda: series.kline_event(m, True, now))
            )
        out.append(engine.cached(("ko", m, series.name), lambda: series.kline_event(m, False, now)))
        return out
    if ch == "depth":
        ev = encode.diff_depth_event(engine, m)
        return [] if ev is None else [ev]
    if ch == "partialDepth":
        return [encode.partial_depth_event(engine, m, int(spec.arg or 5))]
    if ch == "markPrice":
        return [encode.mark_price_event(engine, m)]
    if ch == "bookTicker":
        return [encode.book_ticker_event(engine, m)]
    return []


@dataclass(eq=False)
class Conn:
    """One websocket client."""

    id: int
    kind: Kind
    combined: bool
    ws: web.WebSocketResponse
    send: Any  # anyio MemoryObjectSendStream[list[bytes] | None]
    transport: Any  # asyncio.Transport | None, to drop the connection abruptly
    streams: set[str] = field(default_factory=set)
    pending: list[bytes] = field(default_factory=list)
    closing: bool = False


class Hub(FanOut[Conn]):
    """Websocket endpoint, subscriptions and the per-tick fan-out."""

    def __init__(self, engine: Engine, faults: FaultBoard, config: SimConfig) -> None:
        self.engine = engine
        self.faults = faults
        self.config = config
        self.conns: dict[int, Conn] = {}
        self.subs: dict[tuple[Kind, str], set[Conn]] = {}
        self.specs: dict[tuple[Kind, str], StreamSpec] = {}
        self._ids = itertools.count(1)
        self.messages_sent = 0
        self.connections_total = 0

    # -- subscriptions --------------------------------------------------------------------

    def _subscribe(self, conn: Conn, names: list[str]) -> str | None:
        for name in names:
            key = (conn.kind, name)
            if key not in self.specs:
                spec = parse_stream(self.engine, conn.kind, name)
                if spec is None:
                    return f"Invalid request: unknown stream '{name}'"
                self.specs[key] = spec
        if len(conn.streams | set(names)) > self.config.ws_max_streams:
            return f"Invalid request: too many streams (max {self.config.ws_max_streams})"
        for name in names:
            conn.streams.add(name)
            self.subs.setdefault((conn.kind, name), set()).add(conn)
        return None

    def _unsubscribe(self, conn: Conn, names: list[str]) -> None:
        for name in names:
            conn.streams.discard(name)
            subs = self.subs.get((conn.kind, name))
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self.subs[(conn.kind, name)]

    def _reply(self, conn: Conn, doc: dict[str, Any]) -> None:
        if not self.faults.has("ws_silent") or not self.faults.ws("ws_silent", conn.kind, conn.id):
            conn.pending.append(encode.dumps(doc))
            self._flush(conn)

    def _command(self, conn: Conn, raw: str) -> None:
        try:
            msg = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            self._reply(
                conn, {"error": {"code": 3, "msg": "Invalid JSON: expected value"}, "id": None}
            )
            return
        if not isinstance(msg, dict):
            self._reply(conn, {"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
            return
        rid = msg.get("id")
        method = msg.get("method")
        params = msg.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                self._reply(
                    conn, {"error": {"code": 2, "msg": "Invalid request: params"}, "id": rid}
                )
                return
            if method == "SUBSCRIBE":
                err = self._subscribe(conn, params)
                if err is not None:
                    self._reply(conn, {"error": {"code": 2, "msg": err}, "id": rid})
                    return
            else:
                self._unsubscribe(conn, params)
            self._reply(conn, {"result": None, "id": rid})
        elif method == "LIST_SUBSCRIPTIONS":
            self._reply(conn, {"result": sorted(conn.streams), "id": rid})
        elif method == "SET_PROPERTY":
            if isinstance(params, list) and len(params) == 2 and params[0] == "combined":
                conn.combined = bool(params[1])
            self._reply(conn, {"result": None, "id": rid})
        elif method == "GET_PROPERTY":
            self._reply(conn, {"result": conn.combined, "id": rid})
        else:
            self._reply(
                conn,
                {
                    "error": {"code": 2, "msg": f"Invalid request: unknown method '{method}'"},
                    "id": rid,
                },
            )

    # -- connection lifecycle -------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        kind: Kind = "futures" if path.startswith("/fstream") else "spot"
        tail = path[len("/fstream") :] if kind == "futures" else path
        conn_id = next(self._ids)
        if self.faults.has("outage", kind) and self.faults.ws("outage", kind, conn_id):
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse(
            heartbeat=self.config.ws_heartbeat, compress=False, max_msg_size=1 << 20
        )
        await ws.prepare(request)
        self.connections_total += 1
        combined = (
            tail.startswith("/stream")
            or tail.startswith("/public/stream")
            or tail.startswith("/market/stream")
        )
        send, recv = anyio.create_memory_object_stream[list[bytes] | None](
            self.config.ws_send_queue
        )
        conn = Conn(conn_id, kind, combined, ws, send, request.transport)
        names: list[str] = []
        if "streams" in request.query:
            names = [n for n in request.query["streams"].split("/") if n]
        else:
            parts = tail.split("/")
            names = [p for p in parts if "@" in p or p.startswith("!")]
        self.conns[conn_id] = conn
        try:
            if names:
                err = self._subscribe(conn, names)
                if err is not None:
                    await ws.close(code=1008, message=err.encode()[:120])
                    return ws
            if self.faults.has("ws_close", kind) and self.faults.ws("ws_close", kind, conn_id):
                await ws.close(code=1001, message=b"simulated close")
                return ws
            await self._pump(conn, recv)
        finally:
            self._drop(conn)
            send.close()
            recv.close()
        return ws

    def _drop(self, conn: Conn) -> None:
        self.conns.pop(conn.id, None)
        self._unsubscribe(conn, list(conn.streams))

    # -- the tick ---------------------------------------------------------------------------

    def apply_faults(self) -> None:
        """Close connections hit by ``ws_close`` (clean close) or ``outage`` (dropped)."""
        f = self.faults
        if not self.conns or not (f.has("ws_close") or f.has("outage")):
            return
        for conn in list(self.conns.values()):
            if conn.closing:
                continue
            if f.ws("outage", conn.kind, conn.id):
                self._abort(conn)
            elif f.ws("ws_close", conn.kind, conn.id):
                self._close(conn)

    def prepare(self, part: str = "all") -> list[tuple[Conn, list[bytes]]]:
        r"""Encode this tick's events, per subscriber, without sending them.

        ``part``: ``"tickers"`` (the ticker streams only), ``"rest"`` (every other
        stream) or ``"all"``. The clock prepares a tick ahead of its time and
        :meth:`send`\ s it when the time comes, tickers first: an exchange's streams
        are independent, so a ticker does not wait for a few hundred klines to be
        encoded, and at the push the simulator only writes to sockets (encoding a
        tick's klines and books while the client parses its tickers held a core of a
        two-core machine for ~15 ms a tick, which the client's latency paid for).
        """
        batches: dict[Conn, list[bytes]] = {}
        if not self.subs:
            return []
        engine = self.engine
        silent = self.faults.has("ws_silent")
        muted: set[int] = set()
        if silent:
            muted = {c.id for c in self.conns.values() if self.faults.ws("ws_silent", c.kind, c.id)}
        for (kind, name), conns in self.subs.items():
            spec = self.specs[(kind, name)]
            if part != "all" and (spec.channel in TICKER_CHANNELS) != (part == "tickers"):
                continue
            events = stream_events(engine, kind, spec)
            if not events:
                continue
            wrapped: list[bytes] | None = None
            for conn in conns:
                if muted and conn.id in muted:
                    continue
                out = batches.setdefault(conn, [])
                if conn.combined:
                    if wrapped is None:
                        head = b'{"stream":"' + name.encode() + b'","data":'
                        wrapped = [head + ev + b"}" for ev in events]
                    out.extend(wrapped)
                else:
                    out.extend(events)
        return list(batches.items())
