"""Health command: the same document as ``GET /health`` (subscribe to ``health`` for
every report as it is published)."""

from __future__ import annotations

from virtuoso_daemon.control.registry import query_command
from virtuoso_daemon.read.health import HealthArgs, health

query_command("health", health, args=HealthArgs)
