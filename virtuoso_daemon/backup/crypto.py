"""Authenticated encryption of a backup stream: AES-256-GCM in chunks.

Layout of an encrypted file::

    b"VBKENC1\\n"  u32 header length  header (JSON: alg, chunk, nonce prefix, key id)
    then chunks:   u32 ciphertext length  ciphertext+tag

Chunk ``i`` is sealed with nonce ``prefix(8) || i(4, big-endian)`` and associated
data ``header || i || final-flag``, so chunks cannot be reordered, dropped, moved
between files or truncated at a chunk boundary without failing authentication (the
STREAM construction). The key is 32 bytes, read from a file or an environment
variable (raw, hex or base64); it is never written anywhere. The header carries a
fingerprint of the key (``key_id``: a hash that does not reveal the key), so a wrong
key is reported as such rather than as damage.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import struct
from pathlib import Path
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

Stream = Any  # a binary file-like object (the layers are duck-typed file objects)
MAGIC = b"VBKENC1\n"
CHUNK = 1 << 20
_LEN = struct.Struct(">I")
_MAX_HEADER = 4096
MANIFEST_PURPOSE = b"virtuoso-backup-manifest"


class KeyProblem(Exception):
    """The key is missing, unreadable, malformed or not the backup's key."""


class Damaged(Exception):
    """A chunk failed authentication or the stream is truncated."""

    def __init__(self, message: str, chunk: int | None = None) -> None:
        super().__init__(message)
        self.chunk = chunk


class CryptoHeader(msgspec.Struct, frozen=True, kw_only=True):
    alg: str = "AES-256-GCM"
    chunk: int = CHUNK
    nonce_prefix: str  # hex, 8 bytes
    key_id: str  # hex, 8 bytes


def key_id(key: bytes) -> str:
    """A fingerprint of the key: shows which key a backup needs, reveals nothing of it."""
    return hashlib.sha256(b"virtuoso-backup-key-id\0" + key).hexdigest()[:16]


def parse_key(raw: bytes, source: str) -> bytes:
    """32 bytes given raw, as 64 hex digits or as base64; anything else is an error."""
    if len(raw) == 32:
        return raw
    text = raw.strip()
    if len(text) == 64:
        try:
            return binascii.unhexlify(text)
        except binascii.Error:
            pass
    try:
        decoded = base64.b64decode(text, validate=True)
    except binascii.Error:
        decoded = b""
    if len(decoded) == 32:
        return decoded
    raise KeyProblem(
        f"{source}: the backup key must be 32 bytes (raw, 64 hex digits or base64), "
        "e.g. made with `openssl rand -hex 32`"
    )


def load_key(key_file: str, key_env: str, environ: dict[str, str] | None = None) -> bytes:
    """The key from the file or the environment variable the config names."""
    env = os.environ if environ is None else environ
    if key_file:
        path = Path(key_file).expanduser()
        try:
            return parse_key(path.read_bytes(), f"backup.key_file {str(path)!r}")
        except OSError as exc:
            raise KeyProblem(
                f"backup.key_file: cannot read {str(path)!r}: {exc.strerror}"
            ) from None
    if key_env:
        value = env.get(key_env)
        if not value:
            raise KeyProblem(f"backup.key_env: the environment variable {key_env} is not set")
        return parse_key(value.encode(), f"backup.key_env ${key_env}")
    raise KeyProblem("encryption needs a key: set backup.key_file or backup.key_env")


class EncryptingWriter(io.RawIOBase):
    """A write-only stream that seals what is written into ``out`` chunk by chunk."""

    def __init__(self, out: Stream, key: bytes, chunk: int = CHUNK) -> None:
        super().__init__()
        self._out = out
        self._aead = AESGCM(key)
        self._prefix = os.urandom(8)
        header = CryptoHeader(chunk=chunk, nonce_prefix=self._prefix.hex(), key_id=key_id(key))
        self._header = msgspec.json.encode(header)
        self._chunk = chunk
        self._buf = bytearray()
        self._index = 0
        out.write(MAGIC + _LEN.pack(len(self._header)) + self._header)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buf += data
        while len(self._buf) > self._chunk:
            self._seal(bytes(self._buf[: self._chunk]), final=False)
            del self._buf[: self._chunk]
        return len(data)

    def _seal(self, plain: bytes, *, final: bool) -> None:
        nonce = self._prefix + struct.pack(">I", self._index)
        aad = self._header + struct.pack(">IB", self._index, final)
        sealed = self._aead.encrypt(nonce, plain, aad)
        self._out.write(_LEN.pack(len(sealed)) + sealed)
        self._index += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buf), final=True)  # always one final chunk, maybe empty
            self._buf.clear()
        super().close()


def read_header(f: Stream) -> tuple[CryptoHeader, bytes]:
    """The header of an encrypted stream positioned after the magic."""
    raw_len = f.read(4)
    if len(raw_len) != 4:
        raise Damaged("truncated encryption header")
    (n,) = _LEN.unpack(raw_len)
    if n > _MAX_HEADER:
        raise Damaged("damaged encryption header")
    raw = f.read(n)
    try:
        return msgspec.json.decode(raw, type=CryptoHeader), raw
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise Damaged("damaged encryption header") from None


class DecryptingReader(io.RawIOBase):
    """A read-only stream of the plaintext; raises :class:`Damaged` on any tampering."""

    def __init__(self, src: Stream, key: bytes) -> None:
        super().__init__()
        self._src = src
        self.header, self._header_raw = read_header(src)
        if self.header.alg != "AES-256-GCM":
            raise Damaged(f"unknown encryption {self.header.alg!r}")
        if self.header.key_id != key_id(key):
            raise KeyProblem(
                f"wrong key: this backup was encrypted with key {self.header.key_id}, "
                f"the configured key is {key_id(key)}"
            )
        self._aead = AESGCM(key)
        self._prefix = bytes.fromhex(self.header.nonce_prefix)
        self._index = 0
        self._buf = b""
        self._pos = 0
        self._done = False
        # chunks that failed authentication: their bytes are still decrypted (AES-GCM
        # is CTR underneath), so a flipped bit stays one flipped bit and the file it
        # lands in fails its hash and is named; nothing read here is trusted once
        # this is non-empty (restore refuses, verify reports the damage)
        self.damaged_chunks: list[int] = []
        self._key = key

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> None:
        raw_len = self._src.read(4)
        if len(raw_len) != 4:
            raise Damaged(f"truncated: chunk {self._index} is missing", self._index)
        (n,) = _LEN.unpack(raw_len)
        if n > self.header.chunk + 16:
            raise Damaged(f"chunk {self._index} has a damaged length", self._index)
        sealed = self._src.read(n)
        if len(sealed) != n:
            raise Damaged(f"truncated inside chunk {self._index}", self._index)
        nonce = self._prefix + struct.pack(">I", self._index)
        self._pos = 0
        for final in (False, True):
            aad = self._header_raw + struct.pack(">IB", self._index, final)
            try:
                self._buf = self._aead.decrypt(nonce, sealed, aad)
            except InvalidTag:
                continue
            self._index += 1
            if final:
                self._done = True
                if self._src.read(1):
                    raise Damaged("data after the final chunk", self._index)
            return
        self.damaged_chunks.append(self._index)
        ctr = Cipher(algorithms.AES(self._key), modes.CTR(nonce + b"\x00\x00\x00\x02"))
        self._buf = ctr.decryptor().update(sealed[:-16])
        self._index += 1
        peek = getattr(self._src, "peek", None)
        if peek is not None and not peek(1):  # nothing follows: it was the final chunk
            self._done = True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._pos >= len(self._buf):
            if self._done:
                return 0
            self._next_chunk()
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n


def seal_blob(key: bytes, data: bytes, purpose: bytes) -> bytes:
    """One small message sealed on its own (the manifest copy in a summary)."""
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, data, purpose)


def open_blob(key: bytes, blob: bytes, purpose: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:12], blob[12:], purpose)
    except InvalidTag:
        raise Damaged("the sealed manifest in the summary is damaged") from None
