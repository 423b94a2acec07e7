"""memcached access for the ticker cache: key scheme, value codec, a safer client.

Key scheme (``prefix`` = :func:`~virtuoso_daemon.core.config.memcached_prefix`: the
configured ``memcached.key_prefix``, by default ``virtuoso:<hash of the state dir>:``):

=========================================  ==========================================
key                                        value (msgpack)
=========================================  ==========================================
``<prefix>ticker:<exchange>:<BASE-QUOTE>``  one ``Ticker`` (``BTC-USDT``, or
                                           ``BTC-USDT-USDT`` for a perpetual)
``<prefix>tickers:<exchange>``             ``TickerAggregate``: every ticker of the
                                           exchange, sorted by symbol
``<prefix>cache:epoch``                    the writer's epoch token (liveness probe)
=========================================  ==========================================

A symbol its feed stops watching (``symbols remove``) has its ticker key deleted at
the next flush (not left to expire with the TTL).

Values are msgpack maps as ``messages.msgpack_encoder`` writes them (tagged
structs: a ticker has ``"type": "Ticker"``), all with the TTL ``memcached.ttl``.
Characters memcached does not allow in keys (space, control characters) are
replaced by ``_``.

:class:`SafeClient` is aiomcache's client with two additions: a storage command
that fails on a connection closed by the server instead of spinning forever
(aio-libs/aiomcache#502: ``readline()`` returns ``b""`` at EOF and the library's
loop never ends, freezing the event loop), and :meth:`SafeClient.set_many` /
:meth:`SafeClient.delete_many`, which pipeline many ``set`` / ``delete`` commands on
one connection (one round trip per chunk instead of one per key).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import aiomcache
import msgspec
from aiomcache.client import acquire
from aiomcache.exceptions import ClientException
from aiomcache.pool import Connection

from virtuoso_daemon.core.messages import Ticker
from virtuoso_daemon.core.symbols import key_form

PIPELINE_CHUNK = 256  # sets per pipelined write (bounds the server's reply buffer)
_BAD_KEY_CHARS = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_REPLIES_OK = (b"STORED\r\n", b"NOT_STORED\r\n", b"EXISTS\r\n", b"NOT_FOUND\r\n")
_DELETE_OK = (b"DELETED\r\n", b"NOT_FOUND\r\n")

# what every memcached operation may raise when the server is unreachable or odd
ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, TimeoutError, ClientException)


class TickerAggregate(msgspec.Struct, frozen=True, kw_only=True):
    """All tickers of one exchange, as stored under ``<prefix>tickers:<exchange>``."""

    exchange: str
    updated: float
    tickers: list[Ticker]


ticker_encoder = msgspec.msgpack.Encoder()
ticker_decoder = msgspec.msgpack.Decoder(Ticker)
aggregate_decoder = msgspec.msgpack.Decoder(TickerAggregate)


def _clean(part: str) -> str:
    return _BAD_KEY_CHARS.sub("_", part)


def ticker_key(prefix: str, exchange: str, symbol: str) -> bytes:
    return f"{_clean(prefix)}ticker:{_clean(exchange)}:{_clean(key_form(symbol))}".encode()


def aggregate_key(prefix: str, exchange: str) -> bytes:
    return f"{_clean(prefix)}tickers:{_clean(exchange)}".encode()


def epoch_key(prefix: str) -> bytes:
    return f"{_clean(prefix)}cache:epoch".encode()


class SafeClient(aiomcache.Client):
    """aiomcache's client, EOF-safe, with pipelined :meth:`set_many`."""

    async def _execute_simple_command(self, conn: Connection, raw_command: bytes) -> bytes:
        conn.writer.write(raw_command)
        await conn.writer.drain()
        response = bytearray()
        line = b""
        while not line.endswith(b"\r\n"):
            line = await conn.reader.readline()
            if not line:
                raise ConnectionResetError("memcached closed the connection")
            response.extend(line)
        return bytes(response[:-2])

    @acquire
    async def _set_chunk(
        self, conn: Connection, items: Sequence[tuple[bytes, bytes]], exptime: int
    ) -> int:
        buf = bytearray()
        for key, value in items:
            self._validate_key(key)
            buf += b"set %b 0 %d %d\r\n" % (key, exptime, len(value))
            buf += value
            buf += b"\r\n"
        return await _pipelined(conn, buf, len(items), _REPLIES_OK, b"STORED\r\n", "set")

    @acquire
    async def _delete_chunk(self, conn: Connection, keys: Sequence[bytes]) -> int:
        buf = bytearray()
        for key in keys:
            self._validate_key(key)
            buf += b"delete %b\r\n" % key
        return await _pipelined(conn, buf, len(keys), _DELETE_OK, b"DELETED\r\n", "delete")

    async def delete_many(self, keys: Sequence[bytes]) -> int:
        """Delete every key (a missing one is fine); returns how many were there."""
        deleted = 0
        for i in range(0, len(keys), PIPELINE_CHUNK):
            deleted += await self._delete_chunk(keys[i : i + PIPELINE_CHUNK])
        return deleted

    async def set_many(self, items: Sequence[tuple[bytes, bytes]], exptime: int = 0) -> int:
        """Store every ``(key, value)``; returns how many were stored."""
        stored = 0
        for i in range(0, len(items), PIPELINE_CHUNK):
            stored += await self._set_chunk(items[i : i + PIPELINE_CHUNK], exptime)
        return stored


async def _pipelined(
    conn: Connection, commands: bytearray, n: int, ok: tuple[bytes, ...], done: bytes, what: str
) -> int:
    """Send ``n`` pipelined commands at once and read their ``n`` replies; how many
    replied ``done``. A reply outside ``ok`` is an error; EOF is a reset connection."""
    conn.writer.write(commands)
    await conn.writer.drain()
    count = 0
    for _ in range(n):
        line = await conn.reader.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionResetError("memcached closed the connection")
        if line not in ok:
            raise ClientException(f"{what} failed", line)
        count += line == done
    return count
