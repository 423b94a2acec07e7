"""Backups: verified, optionally compressed and encrypted archives of the daemon's state.

``kinds`` says what each kind of backup holds, ``archive`` writes one atomically,
``verify`` checks and restores one, ``catalogue`` remembers them, ``retention``
decides which to delete, ``schedule`` when to run, ``actor`` ties it to the bus.
The format is described in ``docs/backups.md``.
"""
