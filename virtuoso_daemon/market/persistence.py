"""Candle persistence: one ``.npz`` file per series in the state directory.

Layout: ``<state_dir>/candles/<exchange>/<timeframe>/<BASE-QUOTE[-SETTLE]>.npz``
holding four arrays: ``times`` (int64 open times, ascending), ``values`` (float64
``[n, 5]`` open, high, low, close, volume), ``closed`` (bool) and ``meta`` (UTF-8
JSON as uint8: format version, exchange, symbol, timeframe, saved_at). The symbol
is read back from ``meta``, never from the file name.

Writes are atomic: the file is written under a temporary name in the same
directory, flushed and fsynced, then renamed over the old one, and the directory is
fsynced; a crash leaves either the old or the new file, never a torn one.
Leftover temporary files from a crash are removed by :func:`remove_stale_temp`.
Files are loaded with ``allow_pickle=False``, and what they hold is checked row by row
(:func:`sane`): a well-formed file can still carry times no exchange produced.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

from virtuoso_daemon.core.symbols import key_form
from virtuoso_daemon.market.ringbuffer import BoolArray, FloatArray, IntArray

FORMAT_VERSION = 1
EARLIEST_MS = 1_230_768_000_000  # 2009-01-01: no market data is older
TMP_MARK = ".tmp-"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class SeriesMeta(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    exchange: str
    symbol: str
    timeframe: str
    saved_at: float


@dataclass(frozen=True, slots=True)
class SeriesData:
    """One persisted series."""

    meta: SeriesMeta
    times: IntArray
    values: FloatArray
    closed: BoolArray


def safe_name(name: str) -> str:
    """A path component from an exchange name or timeframe (no separators, no dots-only)."""
    out = _UNSAFE.sub("_", name)
    return out if out.strip(".") else "_" + out


def candles_dir(state_dir: Path) -> Path:
    return state_dir / "candles"


def series_path(state_dir: Path, exchange: str, symbol: str, timeframe: str) -> Path:
    return (
        candles_dir(state_dir)
        / safe_name(exchange)
        / safe_name(timeframe)
        / f"{safe_name(key_form(symbol))}.npz"
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_series(
    path: Path,
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    times: IntArray,
    values: FloatArray,
    closed: BoolArray,
    sync_dir: bool = True,
) -> int:
    """Atomically write one series; returns the bytes written."""
    meta = SeriesMeta(
        version=FORMAT_VERSION,
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        saved_at=time.time(),
    )
    meta_arr = np.frombuffer(msgspec.json.encode(meta), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, times=times, values=values, closed=closed, meta=meta_arr)
            f.flush()
            os.fsync(f.fileno())
            size = f.tell()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if sync_dir:
        _fsync_dir(path.parent)
    return size


def sync_dirs(paths: set[Path]) -> None:
    """fsync directories after a batch of ``save_series(..., sync_dir=False)``."""
    for p in paths:
        _fsync_dir(p)


class CorruptSeries(Exception):
    """A series file that cannot be read back (truncated, wrong arrays, bad meta)."""


def load_series(path: Path) -> SeriesData:
    """Read one series file; raises CorruptSeries when it is not a valid one."""
    try:
        # open the file ourselves: np.load leaks its handle when the zip is torn
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            meta = msgspec.json.decode(z["meta"].tobytes(), type=SeriesMeta)
            times = np.asarray(z["times"], dtype=np.int64)
            values = np.asarray(z["values"], dtype=np.float64)
            closed = np.asarray(z["closed"], dtype=np.bool_)
    except Exception as exc:  # OSError, ValueError, BadZipFile, DecodeError ...: unreadable
        raise CorruptSeries(f"{path}: {type(exc).__name__}: {exc}") from None
    if meta.version != FORMAT_VERSION:
        raise CorruptSeries(f"{path}: unsupported format version {meta.version}")
    if values.ndim != 2 or values.shape[1] != 5 or not (len(times) == len(values) == len(closed)):
        raise CorruptSeries(f"{path}: array shapes do not match")
    return SeriesData(meta, times, values, closed)


def sane(data: SeriesData, tf_ms: int, *, now_ms: int | None = None) -> tuple[SeriesData, int]:
    """The rows of ``data`` a ring can take, and how many were dropped: open times
    between :data:`EARLIEST_MS` and the candle open now (one timeframe of clock skew
    allowed), on the series' grid (the phase most rows share: 0 for minutes to days,
    Monday for weekly candles), each later than every row kept before it, with finite
    prices and volume.

    Without this a crafted file (times near ``-2**63``) loaded as valid, fixed the
    ring's phase far from today and left that series empty for good, restart after
    restart.
    """
    now = int(time.time() * 1000) if now_ms is None else now_ms
    times, values = data.times, data.values
    ok = (times >= EARLIEST_MS) & (times <= now + tf_ms)
    ok &= np.isfinite(values).all(axis=1)
    if ok.any():
        phases, counts = np.unique(times[ok] % tf_ms, return_counts=True)
        ok &= (times - phases[np.argmax(counts)]) % tf_ms == 0
    idx = np.flatnonzero(ok)
    if len(idx):
        t = times[idx]
        # strictly increasing: a row not later than every row kept before it goes
        running = np.maximum.accumulate(t)
        later = np.concatenate(([True], t[1:] > running[:-1]))
        idx = idx[later]
    dropped = len(times) - len(idx)
    if not dropped:
        return data, 0
    return SeriesData(data.meta, times[idx], values[idx], data.closed[idx]), dropped


def iter_series_files(state_dir: Path, exchange: str, timeframe: str) -> Iterator[Path]:
    d = candles_dir(state_dir) / safe_name(exchange) / safe_name(timeframe)
    if d.is_dir():
        yield from sorted(p for p in d.iterdir() if p.suffix == ".npz" and p.is_file())


def remove_stale_temp(state_dir: Path) -> int:
    """Delete temporary files a crash left behind; returns how many."""
    root = candles_dir(state_dir)
    n = 0
    if root.is_dir():
        for p in root.rglob(f"*{TMP_MARK}*"):
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
    return n
