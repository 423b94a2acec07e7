"""Writing one backup atomically.

1. Every source is streamed into ``.tmp-<id>.tar[.zst][.enc]`` in the backup
   directory (SQLite databases first copied with the online backup API into
   ``.tmp-<id>.d/``, so a live database is never read as a file), each file hashed on
   the way; the manifest is the archive's last member.
2. The archive is flushed and fsynced, then read back and verified against its
   manifest (decrypting and decompressing, as a restore would).
3. The summary ``<archive>.json`` is written and fsynced, then both are renamed to
   their final names and the directory is fsynced.

Anything interrupted before step 3 leaves only ``.tmp-*`` names, which nothing lists
and :func:`clean_leftovers` deletes on the next start. So what carries a backup's
name was written, synced and verified.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import shutil
import sqlite3
import tarfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from virtuoso_daemon.backup.crypto import MANIFEST_PURPOSE, key_id, seal_blob
from virtuoso_daemon.backup.kinds import Source
from virtuoso_daemon.backup.manifest import (
    MANIFEST_NAME,
    Compression,
    FileEntry,
    Kind,
    Manifest,
    Summary,
    manifest_encoder,
    summary_decoder,
)
from virtuoso_daemon.backup.streams import BLOCK, HashingWriter, Stream, archive_suffix, open_writer

TMP_PREFIX = ".tmp-"
SQLITE_PAGES_PER_STEP = 1024


class BackupFailed(Exception):
    """A backup could not be made; the message says why (for logs, alerts, replies)."""


class Cancelled(BackupFailed):
    """The run was cancelled (daemon shutting down)."""


@dataclass
class Progress:
    """Shared between the worker thread and the actor, which publishes it."""

    files_total: int = 0
    bytes_total: int = 0
    files_done: int = 0
    bytes_done: int = 0
    phase: str = "starting"  # copying, verifying, finishing, remote
    cancel: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled")


@dataclass(frozen=True, slots=True)
class Options:
    compression: Compression = "zstd"
    level: int = 3
    key: bytes | None = None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def snapshot_sqlite(src: Path, dst: Path, progress: Progress | None = None) -> None:
    """Copy a (possibly live) SQLite database with its online backup API."""

    def step(status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress.check()

    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30.0)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target, pages=SQLITE_PAGES_PER_STEP, progress=step)
        finally:
            target.close()
    finally:
        source.close()


class _Copy:
    """Reads exactly ``size`` bytes of an open file, hashing and counting them."""

    def __init__(self, f: Stream, size: int, progress: Progress) -> None:
        self._f = f
        self._left = size
        self.sha256 = hashlib.sha256()
        self._progress = progress

    def read(self, n: int = -1) -> bytes:
        self._progress.check()
        want = self._left if n < 0 else min(n, self._left)
        data = self._f.read(want)
        if len(data) != want:
            raise BackupFailed("a file shrank while it was being backed up")
        self._left -= len(data)
        self.sha256.update(data)
        self._progress.bytes_done += len(data)
        return data


def _add_file(tf: tarfile.TarFile, name: str, path: Path, progress: Progress) -> FileEntry | None:
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; opened first so a rename cannot race
    except FileNotFoundError:
        return None  # removed since the plan was made (a symbol dropped): not an error
    with f:
        st = os.fstat(f.fileno())
        info = tarfile.TarInfo(name)
        info.size = st.st_size
        info.mtime = int(st.st_mtime)
        info.mode = 0o600
        copy = _Copy(f, st.st_size, progress)
        tf.addfile(info, copy)
    return FileEntry(name=name, size=st.st_size, sha256=copy.sha256.hexdigest())


def archive_name(backup_id: str, options: Options) -> str:
    return f"virtuoso-{backup_id}{archive_suffix(options.compression, options.key is not None)}"


def write_backup(
    dest_dir: Path,
    backup_id: str,
    kind: Kind,
    version: str,
    sources: Sequence[Source],
    options: Options,
    progress: Progress | None = None,
) -> Summary:
    """Write, sync, verify and publish one backup (see the module docstring)."""
    from virtuoso_daemon.backup.verify import verify_archive  # the reading half

    progress = progress or Progress()
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / archive_name(backup_id, options)
    tmp = dest_dir / f"{TMP_PREFIX}{final.name}"
    staging = dest_dir / f"{TMP_PREFIX}{backup_id}.d"
    summary_tmp = dest_dir / f"{TMP_PREFIX}{final.name}.json"
    created = time.time()
    progress.files_total = len(sources)
    progress.bytes_total = sum(s.path.stat().st_size for s in sources if s.path.exists())
    try:
        staging.mkdir(exist_ok=True)
        entries: list[FileEntry] = []
        progress.phase = "copying"
        with open(tmp, "wb") as raw:
            hashed = HashingWriter(raw)
            top = open_writer(hashed, options.compression, options.level, options.key)
            with tarfile.open(
                fileobj=top, mode="w|", format=tarfile.PAX_FORMAT, bufsize=BLOCK
            ) as tf:
                tf.copybufsize = BLOCK  # type: ignore[attr-defined]  # read by addfile
                for i, src in enumerate(sources):
                    path = src.path
                    if src.sqlite:
                        if not path.exists():
                            continue
                        path = staging / f"{i}.sqlite3"
                        snapshot_sqlite(src.path, path, progress)
                    entry = _add_file(tf, src.name, path, progress)
                    if entry is not None:
                        entries.append(entry)
                    progress.files_done += 1
                manifest = Manifest(
                    id=backup_id, kind=kind, version=version, created=created, files=entries
                )
                body = manifest_encoder.encode(manifest)
                info = tarfile.TarInfo(MANIFEST_NAME)
                info.size = len(body)
                info.mtime = int(created)
                info.mode = 0o600
                tf.addfile(info, io.BytesIO(body))
            top.close()
            raw.flush()
            os.fsync(raw.fileno())
        summary = Summary(
            id=backup_id,
            kind=kind,
            version=version,
            created=created,
            archive=final.name,
            size=hashed.size,
            sha256=hashed.sha256.hexdigest(),
            files=len(entries),
            bytes=manifest.bytes,
            compression=options.compression,
            encrypted=options.key is not None,
            key_id=key_id(options.key) if options.key is not None else None,
            manifest=None if options.key is not None else manifest,
            sealed_manifest=(
                base64.b64encode(seal_blob(options.key, body, MANIFEST_PURPOSE)).decode()
                if options.key is not None
                else None
            ),
        )
        progress.phase = "verifying"
        progress.bytes_done = 0  # the read-back goes through the same bytes again
        result = verify_archive(tmp, options.key, expected=summary, progress=progress)
        if not result.ok:
            raise BackupFailed(f"the new archive failed verification: {result.error}")
        progress.phase = "finishing"
        with open(summary_tmp, "wb") as f:
            f.write(msgspec.json.format(manifest_encoder.encode(summary)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(summary_tmp, summary_path(final))
        os.replace(tmp, final)
        _fsync_dir(dest_dir)
        return summary
    except BaseException:
        for p in (tmp, summary_tmp):
            with contextlib.suppress(OSError):
                p.unlink()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def summary_path(archive: Path) -> Path:
    return archive.with_name(archive.name + ".json")


def read_summary(archive: Path) -> Summary | None:
    try:
        return summary_decoder.decode(summary_path(archive).read_bytes())
    except (OSError, msgspec.DecodeError):
        return None


def clean_leftovers(dest_dir: Path) -> list[str]:
    """Delete what an interrupted run left (``.tmp-*``, summaries without an archive)."""
    removed: list[str] = []
    if not dest_dir.is_dir():
        return removed
    for p in dest_dir.iterdir():
        orphan = (
            p.name.startswith("virtuoso-")
            and p.name.endswith(".json")
            and not p.with_name(p.name[: -len(".json")]).exists()
        )
        if p.name.startswith(TMP_PREFIX) or orphan:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()
            removed.append(p.name)
    return sorted(removed)


def list_archives(dest_dir: Path) -> list[tuple[Path, Summary]]:
    """Every finished archive in ``dest_dir`` with its summary, oldest first."""
    out: list[tuple[Path, Summary]] = []
    if dest_dir.is_dir():
        for p in dest_dir.glob("virtuoso-*"):
            if p.name.endswith(".json") or p.name.startswith(TMP_PREFIX):
                continue
            summary = read_summary(p)
            if summary is not None:
                out.append((p, summary))
    return sorted(out, key=lambda x: x[1].created)
