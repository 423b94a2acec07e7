"""Exponential backoff with jitter, shared by every retry loop in the daemon.

Jitter keeps many loops (and many daemons) from retrying in lock step; the cap holds
after jitter, so ``maximum`` is a real bound a test can rely on.
"""

from __future__ import annotations

import random


class Backoff:
    """Exponential delay with +-``jitter`` (fraction), capped at ``maximum`` seconds."""

    def __init__(self, initial: float, maximum: float, *, factor: float = 2.0, jitter: float = 0.5):
        if initial <= 0 or maximum < initial:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.failures = 0

    def next(self) -> float:
        """Record one failure and return how long to wait before the next attempt."""
        base = min(self.maximum, self.initial * self.factor ** min(self.failures, 60))
        self.failures += 1
        # jitter, not crypto; the cap holds after jitter so "within backoff_max" is a bound
        return min(self.maximum, base * random.uniform(1 - self.jitter, 1 + self.jitter))

    def reset(self) -> None:
        self.failures = 0

    @property
    def bound(self) -> float:
        """The longest a single wait can be."""
        return self.maximum
