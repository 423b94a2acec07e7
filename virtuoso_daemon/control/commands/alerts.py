"""Alert commands: the same queries as ``/api/signals/...`` (:mod:`virtuoso_daemon.read.alerts`).

The socket is already limited to the daemon's user (and ``daemon.socket_group``), so
the write commands need no token here.
"""

from __future__ import annotations

from virtuoso_daemon.control.registry import query_command
from virtuoso_daemon.read import alerts as read

query_command("alerts.list", read.alerts_list, args=read.AlertsArgs)
query_command("alerts.get", read.alert_detail, args=read.AlertIdArgs)
query_command("alerts.ack", read.alert_ack, args=read.AckArgs)
query_command("alerts.silence", read.silence_add, args=read.SilenceArgs)
query_command("alerts.silences", read.silences_list, args=read.SilencesArgs)
query_command("alerts.unsilence", read.silence_remove, args=read.SilenceIdArgs)
