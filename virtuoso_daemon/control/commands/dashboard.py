"""Dashboard and recent-log commands: the same queries as ``/api/dashboard/*`` and
``/api/system/logs``."""

from __future__ import annotations

from virtuoso_daemon.control.registry import query_command
from virtuoso_daemon.read.dashboard import CacheStatsArgs, OverviewArgs, cache_stats, overview
from virtuoso_daemon.read.logs import LogsArgs, logs

query_command("dashboard.overview", overview, args=OverviewArgs)
query_command("dashboard.cache_stats", cache_stats, args=CacheStatsArgs)
query_command("logs.recent", logs, args=LogsArgs)
