"""The alert manager: conditions in, durable, grouped, delivered alerts out.

``lifecycle`` (fire once, repeat, escalate, resolve, mute), ``grouping`` (group_wait,
group_interval), ``store`` (SQLite WAL: alerts, notifications, outbox, silences),
``formatters`` and ``delivery`` (one courier per destination), ``actor`` (wires them
to the bus), ``requests`` (what the actor answers).
"""
