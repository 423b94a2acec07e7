"""The daemon process holds against a careless operator: a reload it cannot apply,
start-up configuration errors, a second daemon, repeated signals (issue 16)."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.foundation.daemon_process import DaemonProcess
from tests.harness import free_port, short_tmpdir


def _args(tmp: Path, port: int, *extra: str) -> list[str]:
    return [
        "--port",
        str(port),
        "--socket",
        str(tmp / "ctl.sock"),
        "--state-dir",
        str(tmp / "state"),
        *extra,
    ]


def test_a_sighup_with_a_config_an_actor_refuses_keeps_the_daemon_serving() -> None:
    tmp = short_tmpdir()
    cfg = tmp / "v.toml"
    cfg.write_text("[memcached]\nenabled = false\n")
    d = DaemonProcess(tmp, *_args(tmp, free_port(), "--config", str(cfg)))
    try:
        d.wait_log("ready:")
        cfg.write_text('[memcached]\nenabled = false\nttl = 42\n[beta.windows]\n"1h" = ["2x"]\n')
        d.signal(signal.SIGHUP)
        d.wait_log("config reload rejected, keeping the running config: beta.windows.1h")
        cfg.write_text("[memcached]\nenabled = false\n[store]\ntrades = 0\n")
        d.signal(signal.SIGHUP)
        d.wait_log("store.trades: expected >= 1, got 0")
        cfg.write_text("[memcached]\nenabled = false\nttl = 42\n")
        d.signal(signal.SIGHUP)
        d.wait_log("config reloaded; changed sections: memcached")
        d.signal(signal.SIGTERM)
        assert d.wait() == 0
    finally:
        d.stop()
