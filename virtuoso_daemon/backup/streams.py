"""The layers of an archive file: tar inside optional zstd inside optional encryption.

A plain backup is a standard ``.tar`` and a compressed one a standard ``.tar.zst``
(``zstd -dc x.tar.zst | tar t`` lists it); an encrypted one (``.enc`` appended) is the
same stream sealed by :mod:`.crypto`. Readers detect the layers from the first bytes,
not from the name. Every byte of the file passes through a SHA-256, so the archive's
own checksum costs no second read.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import zstandard

from virtuoso_daemon.backup.crypto import (
    MAGIC,
    DecryptingReader,
    EncryptingWriter,
    KeyProblem,
    Stream,
)
from virtuoso_daemon.backup.manifest import Compression

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BLOCK = 1 << 20  # read/write size: large, so hashing, zstd and AES release the GIL long


def archive_suffix(compression: Compression, encrypted: bool) -> str:
    return ".tar" + (".zst" if compression == "zstd" else "") + (".enc" if encrypted else "")


class HashingWriter(io.RawIOBase):
    """Counts and hashes what goes to ``out`` (the archive file)."""

    def __init__(self, out: Stream) -> None:
        super().__init__()
        self._out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.sha256.update(data)
        self.size += len(data)
        self._out.write(data)
        return len(data)


class HashingReader(io.RawIOBase):
    """Counts and hashes what is read from ``src`` (the archive file)."""

    def __init__(self, src: Stream) -> None:
        super().__init__()
        self._src = src
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self._src.readinto(b)
        if n:
            mv = memoryview(b)[:n]
            self.sha256.update(mv)
            self.size += n
        return int(n or 0)


class _Closing(io.RawIOBase):
    """The top of a writer chain: closing it closes every layer below, in order."""

    def __init__(self, top: Stream, layers: list[Stream]) -> None:
        super().__init__()
        self._top = top
        self._layers = layers

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._top.write(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            for layer in self._layers:
                layer.close()
        super().close()


def open_writer(out: Stream, compression: Compression, level: int, key: bytes | None) -> Stream:
    """A stream whose bytes end up in ``out`` compressed and sealed as asked; closing it
    finishes every layer (zstd frame, final chunk) but leaves ``out`` open."""
    layers: list[Stream] = []
    top: Stream = out
    if key is not None:
        top = EncryptingWriter(top, key)
        layers.insert(0, top)
    if compression == "zstd":
        cctx = zstandard.ZstdCompressor(level=level, write_checksum=True)
        top = cctx.stream_writer(top, closefd=False, write_size=BLOCK)
        layers.insert(0, top)
    return _Closing(top, layers)


@dataclass
class Opened:
    """The tar stream inside an archive and the layers it was found in."""

    stream: Stream
    encrypted: bool
    compression: str
    decryptor: DecryptingReader | None  # its ``damaged_chunks`` say if any chunk was forged


def open_reader(src: Stream, key: bytes | None, block: int = BLOCK) -> Opened:
    """The tar stream inside ``src``. An encrypted archive without a key, or with the
    wrong one, raises :class:`KeyProblem`. ``block`` bounds how far the layers read
    ahead of the tar reader (small when locating damage)."""
    buffered = io.BufferedReader(src, block)
    head = buffered.peek(len(MAGIC))[: len(MAGIC)]
    stream: Stream = buffered
    decryptor = None
    if head == MAGIC:
        if key is None:
            raise KeyProblem(
                "this backup is encrypted: set backup.key_file or backup.key_env "
                "(or pass --key-file)"
            )
        buffered.read(len(MAGIC))
        decryptor = DecryptingReader(buffered, key)
        stream = io.BufferedReader(decryptor, block)
        head = stream.peek(4)[:4]
    compression = "none"
    if head[:4] == ZSTD_MAGIC:
        compression = "zstd"
        dctx = zstandard.ZstdDecompressor()
        stream = dctx.stream_reader(stream, read_size=block, closefd=False)
    return Opened(stream, decryptor is not None, compression, decryptor)
