"""Signals commands: the same answers as ``/api/signals/whales|walls|manipulation``
(subscribe to ``conditions`` for every detector reading as it is published)."""

from __future__ import annotations

from virtuoso_daemon.control.registry import query_command
from virtuoso_daemon.read import signals as q

query_command("signals.whales", q.whales, args=q.WhalesArgs)
query_command("signals.walls", q.walls, args=q.WallsArgs)
query_command("signals.manipulation", q.manipulation, args=q.ManipulationArgs)
