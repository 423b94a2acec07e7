"""Reading a backup back: verify every file against the manifest, and restore.

Verification streams the archive once (decrypting and decompressing on the way),
hashes every member and compares it with the manifest, which is the archive's last
member; it also compares the archive's own SHA-256 with its summary when there is
one. When something is wrong it names the damaged file: the member whose bytes did
not match, or that was being read when decryption or decompression failed.

Restore reads the same way into a staging directory next to the target, checks
every hash, and only then moves the files into place, so a damaged backup never
overwrites anything. It refuses a target whose ``daemon.lock`` is held (a running
daemon holds an exclusive ``flock`` on it for as long as it runs).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import msgspec
import zstandard

from virtuoso_daemon.backup.crypto import MANIFEST_PURPOSE, Damaged, open_blob
from virtuoso_daemon.backup.manifest import MANIFEST_NAME, Manifest, Summary, manifest_decoder
from virtuoso_daemon.backup.streams import BLOCK, HashingReader, Stream, open_reader
from virtuoso_daemon.core import statelock

_MAX_MANIFEST = 64 << 20
LOCATE_BLOCK = tarfile.RECORDSIZE  # read-ahead when locating damage: 10 KiB


@dataclass
class VerifyResult:
    """The outcome of reading a whole archive."""

    ok: bool
    error: str | None = None
    damaged: str | None = None  # the file named as damaged (or "(archive)")
    files: int = 0
    bytes: int = 0
    manifest: Manifest | None = None
    encrypted: bool = False
    compression: str = "none"

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "error": self.error,
            "damaged": self.damaged,
            "files": self.files,
            "bytes": self.bytes,
            "encrypted": self.encrypted,
            "compression": self.compression,
        }


class _Failure(Exception):
    def __init__(self, damaged: str, error: str) -> None:
        super().__init__(error)
        self.damaged = damaged
        self.error = error


@dataclass
class _Member:
    name: str
    size: int
    sha256: str
    staged: Path | None = None


@dataclass
class _Walk:
    members: dict[str, _Member] = field(default_factory=dict)
    manifest: Manifest | None = None
    encrypted: bool = False
    compression: str = "none"
    archive_sha256: str = ""
    archive_size: int = 0
    # the stream broke (or a chunk failed authentication): what, and while reading what
    error: str | None = None
    error_at: str | None = None


_READ_ERRORS = (Damaged, zstandard.ZstdError, tarfile.TarError, zlib.error, EOFError, OSError)


def _safe_name(name: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise _Failure(name, f"unsafe member name {name!r}")
    return p


def _walk(
    path: Path, key: bytes | None, stage: Path | None, progress: Any, block: int = BLOCK
) -> _Walk:
    """Read every member of the archive (into ``stage`` if given), as far as it goes."""
    walk = _Walk()
    current = "(archive header)"
    with open(path, "rb") as raw:
        hashed = HashingReader(raw)
        opened = open_reader(hashed, key, block)
        stream, walk.encrypted, walk.compression = (
            opened.stream,
            opened.encrypted,
            opened.compression,
        )
        try:
            with tarfile.open(fileobj=stream, mode="r|", bufsize=block) as tf:
                for info in tf:
                    current = info.name
                    if not info.isfile():
                        raise _Failure(current, f"{current}: not a regular file")
                    f = tf.extractfile(info)
                    assert f is not None
                    if info.name == MANIFEST_NAME:
                        if info.size > _MAX_MANIFEST:
                            raise _Failure(current, "manifest too large")
                        try:
                            walk.manifest = manifest_decoder.decode(f.read())
                        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                            raise _Failure(MANIFEST_NAME, f"damaged manifest: {exc}") from None
                    else:
                        rel = _safe_name(info.name)
                        walk.members[info.name] = _read_member(f, info, rel, stage, progress, block)
                    current = f"(archive structure after {info.name})"
            # the rest of the stream: the tar's padding, zstd's checksum, the final chunk
            while stream.read(block):
                pass
        except _Failure as exc:
            walk.error, walk.error_at = exc.error, exc.damaged
        except _READ_ERRORS as exc:
            walk.error, walk.error_at = f"cannot be read: {exc}", current
        # the file may go on after what the layers consumed
        while hashed.read(BLOCK):
            pass
        walk.archive_sha256 = hashed.sha256.hexdigest()
        walk.archive_size = hashed.size
        chunks = opened.decryptor.damaged_chunks if opened.decryptor is not None else []
        if chunks and walk.error is None:
            walk.error = f"encrypted chunk {chunks[0]} failed authentication (damaged)"
            walk.error_at = current
    return walk


def _read_member(
    f: Stream,
    info: tarfile.TarInfo,
    rel: PurePosixPath,
    stage: Path | None,
    progress: Any,
    block: int,
) -> _Member:
    h = hashlib.sha256()
    out = None
    target = None
    if stage is not None:
        target = stage.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        out = open(target, "wb")  # noqa: SIM115 - closed in finally
    check = getattr(progress, "check", None)
    try:
        while True:
            if check is not None:
                check()
            data = f.read(block)
            if not data:
                break
            h.update(data)
            if out is not None:
                out.write(data)
            if progress is not None:
                progress.bytes_done += len(data)
    finally:
        if out is not None:
            out.flush()
            os.fsync(out.fileno())
            out.close()
    return _Member(info.name, info.size, h.hexdigest(), target)


def _known_manifest(expected: Summary | None, key: bytes | None) -> Manifest | None:
    """The manifest copy in the summary (decrypted with the key when sealed)."""
    if expected is None:
        return None
    if expected.manifest is not None:
        return expected.manifest
    if expected.sealed_manifest and key is not None:
        try:
            body = open_blob(key, base64.b64decode(expected.sealed_manifest), MANIFEST_PURPOSE)
            return manifest_decoder.decode(body)
        except (Damaged, ValueError, msgspec.DecodeError):
            return None
    return None


def _check(walk: _Walk, expected: Summary | None, key: bytes | None) -> VerifyResult:
    inner = walk.manifest
    m = inner or _known_manifest(expected, key)
    result = VerifyResult(
        ok=False, manifest=m, encrypted=walk.encrypted, compression=walk.compression
    )
    if m is None:
        result.damaged = walk.error_at or MANIFEST_NAME
        result.error = walk.error or "the archive has no manifest (truncated?)"
        return result
    listed = {e.name for e in m.files}
    # first a file whose bytes do not match: that names the damage precisely even when
    # the stream broke later (zstd checks its checksum at the end of the frame)
    for entry in m.files:
        got = walk.members.get(entry.name)
        if got is not None and (got.size != entry.size or got.sha256 != entry.sha256):
            result.damaged = entry.name
            result.error = f"{entry.name}: SHA-256 does not match the manifest (damaged)"
            return result
    if walk.error is not None:
        result.damaged = walk.error_at
        result.error = f"{walk.error_at}: {walk.error}"
        return result
    for entry in m.files:
        if entry.name not in walk.members:
            result.damaged, result.error = entry.name, f"{entry.name}: missing from the archive"
            return result
    extra = sorted(set(walk.members) - listed)
    if extra:
        result.damaged, result.error = extra[0], f"{extra[0]}: not in the manifest"
        return result
    if inner is None:
        result.damaged, result.error = MANIFEST_NAME, "the manifest inside the archive is missing"
        return result
    if expected is not None and (
        walk.archive_sha256 != expected.sha256 or walk.archive_size != expected.size
    ):
        result.damaged = "(archive)"
        result.error = (
            "the archive's SHA-256 does not match its summary (damage outside any file's content)"
        )
        return result
    result.ok = True
    result.files = len(m.files)
    result.bytes = m.bytes
    return result


def verify_archive(
    path: Path, key: bytes | None, *, expected: Summary | None = None, progress: Any = None
) -> VerifyResult:
    """Check every file of the archive; a wrong or missing key raises :class:`KeyProblem`."""
    try:
        walk = _walk(path, key, None, progress)
        if walk.error is not None and (walk.error_at or "(").startswith("("):
            # the layers' read-ahead met the damage before the tar reader reached a
            # file: read again with little read-ahead to see which file it is in
            slow = _walk(path, key, None, None, LOCATE_BLOCK)
            if slow.error is not None and not (slow.error_at or "(").startswith("("):
                walk = slow
    except FileNotFoundError:
        return VerifyResult(ok=False, error=f"{path.name}: no such file", damaged="(archive)")
    return _check(walk, expected, key)


class RestoreRefused(Exception):
    """The target is a running daemon's state directory (or otherwise unusable)."""


@dataclass
class RestorePlan:
    """What a restore wrote (or, with ``dry_run``, would write)."""

    target: str
    dry_run: bool
    files: list[dict[str, object]]
    bytes: int
    verify: VerifyResult

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "dry_run": self.dry_run,
            "files": self.files,
            "bytes": self.bytes,
            "verify": self.verify.to_dict(),
        }


def _destination(target: Path, name: str) -> Path:
    """``state/x`` -> ``target/x``; ``config/x`` and ``logs/x`` -> ``target/restored-*/x``
    (a restore never overwrites the live config file or logs: the operator moves them)."""
    parts = PurePosixPath(name).parts
    if parts[0] == "state":
        return target.joinpath(*parts[1:])
    return target.joinpath(f"restored-{parts[0]}", *parts[1:])


def restore(
    path: Path,
    target: Path,
    key: bytes | None,
    *,
    dry_run: bool = False,
    expected: Summary | None = None,
) -> RestorePlan:
    """Verify the archive and put its files under ``target`` (see the module docstring)."""
    pid = statelock.holder(target)
    if pid is not None:
        who = f"pid {pid}" if pid > 0 else "pid unknown"
        raise RestoreRefused(
            f"{target} is the state directory of a running daemon ({who} holds "
            f"{statelock.LOCK_NAME}): stop the daemon first, or restore to another directory"
        )
    if dry_run:
        result = verify_archive(path, key, expected=expected)
        files = [
            {"name": e.name, "size": e.size, "to": str(_destination(target, e.name))}
            for e in (result.manifest.files if result.manifest else [])
        ]
        return RestorePlan(str(target), True, files, sum(int(f["size"]) for f in files), result)  # type: ignore[call-overload]
    target.mkdir(parents=True, exist_ok=True)
    stage = target / f".tmp-restore-{os.getpid()}"  # never backed up (see kinds)
    try:
        stage.mkdir()
        walk = _walk(path, key, stage, None)
        result = _check(walk, expected, key)
        if not result.ok or result.manifest is None:
            return RestorePlan(str(target), False, [], 0, result)
        files = []
        for entry in result.manifest.files:
            member = walk.members[entry.name]
            dest = _destination(target, entry.name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            assert member.staged is not None
            if dest.name.endswith(".sqlite3"):
                # an old database's WAL would be replayed into the restored one
                for side in ("-wal", "-shm", "-journal"):
                    with contextlib.suppress(FileNotFoundError):
                        dest.with_name(dest.name + side).unlink()
            os.replace(member.staged, dest)
            files.append({"name": entry.name, "size": entry.size, "to": str(dest)})
        for d in {Path(str(f["to"])).parent for f in files} | {target}:
            with contextlib.suppress(OSError):
                fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
                os.fsync(fd)
                os.close(fd)
        return RestorePlan(str(target), False, files, result.bytes, result)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
