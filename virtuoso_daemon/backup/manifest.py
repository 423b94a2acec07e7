"""What a backup holds: the manifest inside every archive and the summary next to it.

The manifest (``MANIFEST.json``, the archive's last member) lists every file with its
size and SHA-256, so verification needs nothing but the archive (and the key). The
summary (``<archive>.json``) sits beside the archive in plain text: it carries the
archive's own size and SHA-256 and what is needed to list and adopt a backup without
reading it, but never the file list (an encrypted backup should not give away its
contents in a plain file).
"""

from __future__ import annotations

from typing import Literal

import msgspec

FORMAT = 1
MANIFEST_NAME = "MANIFEST.json"
Kind = Literal["critical", "full", "config", "data", "remote", "auto"]
KINDS: tuple[Kind, ...] = ("critical", "full", "config", "data", "remote", "auto")
Compression = Literal["none", "zstd"]


class FileEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One file of a backup: its name inside the archive, size and SHA-256."""

    name: str
    size: int
    sha256: str


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """Every file of one backup, and what kind of backup it is."""

    format: int = FORMAT
    id: str
    kind: Kind
    version: str  # the daemon's version that wrote it
    created: float  # epoch seconds
    files: list[FileEntry]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """The plain-text description next to an archive (``<archive>.json``)."""

    format: int = FORMAT
    id: str
    kind: Kind
    version: str
    created: float
    archive: str  # the archive's file name (same directory)
    size: int  # the archive's size in bytes
    sha256: str  # of the archive file
    files: int
    bytes: int  # the files' bytes before compression
    compression: Compression
    encrypted: bool
    key_id: str | None = None  # fingerprint of the key (encrypted backups only)
    manifest: Manifest | None = None  # plain backups
    sealed_manifest: str | None = None  # encrypted backups: base64 of the sealed manifest


manifest_encoder = msgspec.json.Encoder()
manifest_decoder = msgspec.json.Decoder(Manifest)
summary_decoder = msgspec.json.Decoder(Summary)
