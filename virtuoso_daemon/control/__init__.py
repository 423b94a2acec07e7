"""The control socket: a line-based JSON protocol for operators, scripts and the TUI.

* :mod:`.server` -- the actor: socket file, peer check, one session per client
* :mod:`.session` -- one connection: framing, concurrent commands, the writer
* :mod:`.registry` -- ``@command`` / ``forward``: how commands are declared and decoded
* :mod:`.commands` -- the commands, one module per area (every module is loaded)
* :mod:`.subscriptions` -- per-client topic subscriptions, throttling, drop accounting

The wire format and the client live in :mod:`virtuoso_daemon.protocol.frames`; the operator's
guide is ``docs/control.md``.
"""

from virtuoso_daemon.control.server import ControlActor

__all__ = ["ControlActor"]
