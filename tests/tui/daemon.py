"""A real daemon for the TUI tests: in-process (pilot tests) or as a process (tmux tests).

Both are the real assembly (``virtuoso_daemon.process.assembly.build_specs``) in demo mode:
the simulator, the feeds, the market actors and the control socket.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tests.harness import test_config
from virtuoso_daemon.core.config import Config

# a 1m beta window, so a beta actor (once assembled) has numbers after one candle close
FAST_BETA = {"windows": {"1m": ["1h"]}}


def demo_config(n_alts: int = 8, **sections: dict[str, Any]) -> Config:
    """A small demo daemon on free ports with a short socket path, memcached off."""
    daemon = {"demo": True, "log_level": "info", **sections.pop("daemon", {})}
    demo = {"n_alts": n_alts, **sections.pop("demo", {})}
    beta = {**FAST_BETA, **sections.pop("beta", {})}
    return test_config(daemon=daemon, demo=demo, beta=beta, **sections)


def daemon_argv(socket: Path, state_dir: Path, n_alts: int = 8) -> tuple[list[str], dict[str, str]]:
    """``virtuoso-daemon --demo`` on ``socket``: command line and environment."""
    env = {
        **os.environ,
        "VIRTUOSO_DEMO__N_ALTS": str(n_alts),
        "VIRTUOSO_MEMCACHED__ENABLED": "false",
        "VIRTUOSO_BETA__WINDOWS": '{"1m" = ["1h"]}',
    }
    exe = str(Path(sys.executable).with_name("virtuoso-daemon"))
    flags = ["--demo", "--port", "0", "--socket", str(socket), "--state-dir", str(state_dir)]
    return [exe, *flags], env
