"""Socket commands for every row of the read layer's query catalog.

The command ``spec.command`` takes the same argument struct as the HTTP path
``spec.path`` and answers with the same data and error codes
(:mod:`virtuoso_daemon.read.catalog`).
"""

from __future__ import annotations

from virtuoso_daemon.control.registry import query_command
from virtuoso_daemon.read.catalog import CATALOG

for spec in CATALOG:
    query_command(spec.command, spec.fn, args=spec.args)
