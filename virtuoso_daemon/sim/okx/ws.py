"""OKX v5 public websockets: ``/ws/v5/public`` and ``/ws/v5/business`` (candles).

Subscribe with ``{"op": "subscribe", "args": [{"channel", "instId"}]}``; each arg is
answered ``{"event": "subscribe", "arg", "connId"}`` (or ``{"event": "error"}``).
Channels: ``tickers``, ``trades``, ``candle<bar>`` (business only), ``books`` (a
400-level snapshot, then updates chained by ``seqId``/``prevSeqId`` with OKX's
checksum), ``books5``, ``bbo-tbt``, ``funding-rate``, ``open-interest``. A text
``ping`` is answered ``pong``.

Like the Binance hub, each tick's frames are built once per channel and queued per
connection; a new ``books`` subscriber gets its snapshot in the next tick's batch, so
the first update it sees chains from it. The websocket faults (``outage``,
``ws_close``, ``ws_silent``) apply per connection.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec
from aiohttp import web

from virtuoso_daemon.sim.config import SimConfig
from virtuoso_daemon.sim.encode import dumps
from virtuoso_daemon.sim.fanout import FanOut
from virtuoso_daemon.sim.faults import FaultBoard
from virtuoso_daemon.sim.model import Engine
from virtuoso_daemon.sim.okx import encode
from virtuoso_daemon.sim.universe import Kind

log = logging.getLogger("virtuoso.sim.okx")

PUBLIC = ("tickers", "trades", "books", "books5", "bbo-tbt", "funding-rate", "open-interest")
TICKER_CHANNELS = frozenset({"tickers"})

Sub = tuple[str, str]  # (channel, instId)


@dataclass(eq=False)
class OkxConn:
    """One websocket client."""

    id: int
    business: bool
    ws: web.WebSocketResponse
    send: Any  # anyio MemoryObjectSendStream[list[bytes] | None]
    transport: Any
    subs: set[Sub] = field(default_factory=set)
    kinds: set[Kind] = field(default_factory=set)
    fresh_books: set[Sub] = field(default_factory=set)  # owed a snapshot
    pending: list[bytes] = field(default_factory=list)
    closing: bool = False

    def hit_by(self, faults: FaultBoard, kind: str) -> bool:
        """Whether a websocket fault of ``kind`` hits this connection (any market it
        carries, or every connection for a fault without a market)."""
        return any(faults.ws(kind, k, self.id) for k in self.kinds or {"spot"})


class OkxHub(FanOut[OkxConn]):
    """The OKX websocket endpoint, its subscriptions and the per-tick fan-out."""

    def __init__(self, engine: Engine, faults: FaultBoard, config: SimConfig) -> None:
        self.engine = engine
        self.faults = faults
        self.config = config
        self.instruments = encode.Instruments(engine)
        self.conns: dict[int, OkxConn] = {}
        self.subs: dict[Sub, set[OkxConn]] = {}
        self._ids = itertools.count(1)
        self.messages_sent = 0
        self.connections_total = 0

    # -- subscriptions ----------------------------------------------------------------

    def _check(self, conn: OkxConn, arg: Any) -> str | None:
        if not isinstance(arg, dict):
            return "Illegal request"
        channel, iid = arg.get("channel"), arg.get("instId")
        if not isinstance(channel, str) or not isinstance(iid, str):
            return "Illegal request"
        if self.instruments.find(iid) is None:
            return f"channel:{channel},instId:{iid} doesn't exist"
        if channel.startswith("candle"):
            if not conn.business:
                return f"channel:{channel} is not supported on /ws/v5/public: use /ws/v5/business"
            if encode.timeframe(channel[len("candle") :]) is None:
                return f"channel:{channel},instId:{iid} doesn't exist"
            return None
        if channel not in PUBLIC:
            return f"channel:{channel},instId:{iid} doesn't exist"
        if conn.business:
            return f"channel:{channel} is not supported on /ws/v5/business"
        mk = self.instruments.find(iid)
        if channel in ("funding-rate", "open-interest") and mk is not None and mk.kind != "futures":
            return f"channel:{channel},instId:{iid} doesn't exist"
        return None

    def _command(self, conn: OkxConn, raw: str) -> None:
        if raw == "ping":
            self._reply(conn, b"pong")
            return
        try:
            msg = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            self._error(conn, "60012", f"Illegal request: {raw[:100]}")
            return
        op = msg.get("op") if isinstance(msg, dict) else None
        args = msg.get("args") if isinstance(msg, dict) else None
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
            self._error(conn, "60012", f"Illegal request: {raw[:100]}")
            return
        for arg in args:
            err = self._check(conn, arg)
            if err is not None:
                self._error(conn, "60018", err)
                continue
            key: Sub = (arg["channel"], arg["instId"].upper())
            if op == "subscribe":
                conn.subs.add(key)
                mk = self.instruments.find(key[1])
                if mk is not None:
                    conn.kinds.add(mk.kind)
                self.subs.setdefault(key, set()).add(conn)
                if key[0] == "books":
                    conn.fresh_books.add(key)
            else:
                self._unsubscribe(conn, key)
            self._reply(
                conn,
                dumps(
                    {
                        "event": op,
                        "arg": {"channel": key[0], "instId": key[1]},
                        "connId": f"{conn.id:08x}",
                    }
                ),
            )

    def _unsubscribe(self, conn: OkxConn, key: Sub) -> None:
        conn.subs.discard(key)
        conn.fresh_books.discard(key)
        subs = self.subs.get(key)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self.subs[key]

    def _error(self, conn: OkxConn, code: str, msg: str) -> None:
        self._reply(
            conn, dumps({"event": "error", "code": code, "msg": msg, "connId": f"{conn.id:08x}"})
        )

    def _reply(self, conn: OkxConn, frame: bytes) -> None:
        if self.faults.has("ws_silent") and conn.hit_by(self.faults, "ws_silent"):
            return
        conn.pending.append(frame)
        self._flush(conn)

    # -- connection lifecycle ---------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        business = request.path.rstrip("/").endswith("/business")
        conn_id = next(self._ids)
        if self.faults.has("outage") and (
            self.faults.ws("outage", "spot", conn_id)
            or self.faults.ws("outage", "futures", conn_id)
        ):
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse(heartbeat=None, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        self.connections_total += 1
        send, recv = anyio.create_memory_object_stream[list[bytes] | None](
            self.config.ws_send_queue
        )
        conn = OkxConn(conn_id, business, ws, send, request.transport)
        self.conns[conn_id] = conn
        try:
            if self.faults.has("ws_close") and conn.hit_by(self.faults, "ws_close"):
                await ws.close(code=1001, message=b"simulated close")
                return ws
            await self._pump(conn, recv)
        finally:
            self._drop(conn)
            send.close()
            recv.close()
        return ws

    def _drop(self, conn: OkxConn) -> None:
        self.conns.pop(conn.id, None)
        for key in list(conn.subs):
            self._unsubscribe(conn, key)

    # -- the tick -----------------------------------------------------------------------

    def apply_faults(self) -> None:
        f = self.faults
        if not self.conns or not (f.has("ws_close") or f.has("outage")):
            return
        for conn in list(self.conns.values()):
            if conn.closing:
                continue
            if conn.hit_by(f, "outage"):
                self._abort(conn)
            elif conn.hit_by(f, "ws_close"):
                self._close(conn)

    def _frames(self, key: Sub) -> list[bytes]:
        """This tick's frames of one channel (shared by its subscribers)."""
        channel, iid = key
        engine = self.engine
        mk = self.instruments.find(iid)
        if mk is None:
            return []
        m = mk.index
        arg = {"channel": channel, "instId": iid}
        if channel == "tickers":
            return [dumps({"arg": arg, "data": [encode.ticker(engine, m)]})]
        if channel == "trades":
            trades = engine.tick_trades[m]
            return (
                [dumps({"arg": arg, "data": [encode.trade(mk, t) for t in trades]})]
                if trades
                else []
            )
        if channel.startswith("candle"):
            tf = encode.timeframe(channel[len("candle") :]) or "1m"
            series = engine.series[tf]
            rows = []
            if tf in engine.closed_now:
                rows.append(encode.candle_row(engine, tf, m, series.n - 1))
            rows.append(encode.candle_row(engine, tf, m, series.n))
            return [dumps({"arg": arg, "data": [r]}) for r in rows]
        if channel == "books":
            return self._book_update(arg, m)
        if channel in ("books5", "bbo-tbt"):
            uid, bids, asks = encode.book_levels(engine, m, encode.BOOK_CHANNELS[channel])
            data = {"asks": asks, "bids": bids, "instId": iid, "ts": str(engine.t_ms), "seqId": uid}
            return [dumps({"arg": arg, "data": [data]})]
        if channel == "funding-rate":
            return [dumps({"arg": arg, "data": [encode.funding(engine, mk)]})]
        if channel == "open-interest":
            return [dumps({"arg": arg, "data": [encode.open_interest(engine, mk)]})]
        return []

    def _book_update(self, arg: dict[str, str], m: int) -> list[bytes]:
        book = self.engine.books[m]
        _, last, prev, bids, asks = book.diff
        if not bids and not asks:
            return []
        mk = book.market
        _, top_b, top_a = encode.book_levels(self.engine, m, encode.CHECKSUM_LEVELS)
        data = {
            "asks": [
                [book.price_str(lvl), encode.size(mk, q), "0", "1" if q else "0"] for lvl, q in asks
            ],
            "bids": [
                [book.price_str(lvl), encode.size(mk, q), "0", "1" if q else "0"] for lvl, q in bids
            ],
            "ts": str(self.engine.t_ms),
            "checksum": encode.checksum(top_b, top_a),
            "prevSeqId": prev,
            "seqId": last,
        }
        return [dumps({"arg": arg, "action": "update", "data": [data]})]

    def _book_snapshot(self, key: Sub) -> bytes:
        mk = self.instruments.find(key[1])
        assert mk is not None
        uid, bids, asks = encode.book_levels(self.engine, mk.index, encode.BOOK_CHANNELS["books"])
        data = {
            "asks": asks,
            "bids": bids,
            "ts": str(self.engine.t_ms),
            "checksum": encode.checksum(
                bids[: encode.CHECKSUM_LEVELS], asks[: encode.CHECKSUM_LEVELS]
            ),
            "prevSeqId": -1,
            "seqId": uid,
        }
        return dumps(
            {"arg": {"channel": "books", "instId": key[1]}, "action": "snapshot", "data": [data]}
        )

    def prepare(self, part: str = "all") -> list[tuple[OkxConn, list[bytes]]]:
        """This tick's frames per subscriber (``part``: "tickers", "rest" or "all")."""
        if not self.subs:
            return []
        batches: dict[OkxConn, list[bytes]] = {}
        muted: set[int] = set()
        if self.faults.has("ws_silent"):
            muted = {c.id for c in self.conns.values() if c.hit_by(self.faults, "ws_silent")}
        for key, conns in self.subs.items():
            if part != "all" and (key[0] in TICKER_CHANNELS) != (part == "tickers"):
                continue
            frames: list[bytes] | None = None
            for conn in conns:
                if conn.id in muted:
                    continue
                out = batches.setdefault(conn, [])
                if key in conn.fresh_books:
                    conn.fresh_books.discard(key)
                    out.append(self._book_snapshot(key))
                    continue
                if frames is None:
                    frames = self._frames(key)
                out.extend(frames)
        return [(c, f) for c, f in batches.items() if f]
