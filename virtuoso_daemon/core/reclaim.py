"""Asking the collector to free objects that were frozen and have since been dropped.

The daemon freezes what start-up built (``process/gc_policy.py``), so that its full
collections scan only what changes. A frozen object is never collected: if it was
alive at the freeze and is later dropped inside a reference cycle, it stays in memory
for good. A feed's ccxt instances are such objects (each is a web of cycles: its
caches point at hooks that point back at it) and a reconnect drops them: every
reconnect of a connection made before the freeze left its order books, caches and
parsed markets behind (the 30-minute soak's RSS rose in steps at each injected
fault).

Whoever drops long-lived cyclic objects calls :func:`request`; the collector sees the
count change and, at its next quiet moment, unfreezes, collects and freezes again.
The count is process-wide because the garbage collector is.
"""

from __future__ import annotations

_requested = 0


def request() -> None:
    """Ask for one collection of everything, frozen objects included, soon."""
    global _requested
    _requested += 1


def requested() -> int:
    """How many requests were made so far (the collector compares it with the last)."""
    return _requested
