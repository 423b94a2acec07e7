"""glibc malloc settings for a long-running daemon with bursty big allocations.

The beta calculator builds a few MB of numpy temporaries per recompute (in a worker
thread) and the feeds allocate and free a stream of mid-sized dicts (ccxt parses
every message into fresh ones). With glibc's defaults two things keep that memory
resident after it is freed:

* the mmap threshold adapts upwards whenever a large block is freed, so later large
  arrays come from the heap, where a freed block is only returned to the system when
  it happens to sit at the top;
* every thread that allocates gets an arena of its own (up to 8 per core), each
  holding on to its peak.

:func:`tune` fixes the threshold at 128 KiB (large arrays are mapped and unmapped
again), limits the process to :data:`ARENAS` arenas and lowers the trim threshold.
Measured on the 300-market soak (docs/market.md) it is a few percent of RSS, and it
keeps transient peaks from becoming the new floor. Settings the operator made with
glibc's own environment variables (``MALLOC_ARENA_MAX`` ...) win. Not glibc (musl,
macOS): nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger("virtuoso.malloc")

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

ARENAS = 2
MMAP_THRESHOLD = 128 * 1024
TRIM_THRESHOLD = 256 * 1024

_ENV = {
    M_ARENA_MAX: ("MALLOC_ARENA_MAX", ARENAS),
    M_MMAP_THRESHOLD: ("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD),
    M_TRIM_THRESHOLD: ("MALLOC_TRIM_THRESHOLD_", TRIM_THRESHOLD),
}


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None


def tune() -> dict[str, int]:
    """Apply the settings (before threads start); returns what was set."""
    libc = _libc()
    if libc is None:
        return {}
    done: dict[str, int] = {}
    for param, (env, value) in _ENV.items():
        if env in os.environ:
            continue
        if libc.mallopt(param, value) == 1:
            done[env] = value
    log.debug("glibc malloc tuned: %s", done)
    return done


def trim() -> None:
    """Give free heap memory back to the system (``malloc_trim(0)``), if glibc."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
