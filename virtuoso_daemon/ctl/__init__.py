"""``virtuoso-ctl``: the operator's command line over the control socket.

One subcommand per socket command, human-readable tables by default and ``--json``
for scripts; ``watch`` and ``tail`` follow subscriptions until Ctrl-C. Exit codes are
stable so scripts can rely on them:

* 0 -- ok
* 1 -- the command failed (the daemon answered with an error, or did not answer in time)
* 2 -- usage error
* 3 -- the daemon is unreachable (not running, wrong socket, not allowed, went away)
"""

from __future__ import annotations

from virtuoso_daemon.ctl.main import FAILED, OK, UNREACHABLE, USAGE, main

__all__ = ["FAILED", "OK", "UNREACHABLE", "USAGE", "main"]
