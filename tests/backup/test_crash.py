"""SIGKILL (or SIGTERM) in the middle of a large backup: nothing that looks like a
backup is left, a temporary is removed on the next start, earlier backups stay intact."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.backup.helpers import backup_specs
from tests.control.helpers import run_ctl
from tests.foundation.daemon_process import DaemonProcess
from tests.harness import running_daemon, short_tmpdir
from virtuoso_daemon.backup.archive import list_archives
from virtuoso_daemon.backup.verify import verify_archive
from virtuoso_daemon.core.config import load_config


def write_config(tmp: Path) -> Path:
    path = tmp / "virtuoso.toml"
    path.write_text(
        f"""
[daemon]
port = 0
socket = "{tmp / "run" / "control.sock"}"
state_dir = "{tmp / "state"}"
[memcached]
enabled = false
[backup]
dir = "{tmp / "backups"}"
schedule = {{}}
zstd_level = 19   # slow on purpose: the run must still be going when it is killed
"""
    )
    return path


def large_state(state: Path, mb: int = 48) -> None:
    """Candle-store-like files: compressible, so zstd at level 19 takes seconds."""
    rng = np.random.default_rng(7)
    d = state / "candles" / "sim" / "1h"
    d.mkdir(parents=True)
    for i in range(mb // 8):
        (d / f"S{i}-USDT.npz").write_bytes(rng.integers(0, 40, 8 << 20, dtype=np.uint8).tobytes())


def wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise TimeoutError("condition not met in time")


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["KILL", "TERM"])
async def test_a_signal_mid_backup_leaves_no_backup_and_the_next_start_cleans_up(
    signum: int,
) -> None:
    tmp = short_tmpdir()
    config = write_config(tmp)
    sock = str(tmp / "run" / "control.sock")
    backups = tmp / "backups"
    daemon = DaemonProcess(tmp, "--config", str(config))
    try:
        wait_for(lambda: Path(sock).exists(), 30)
        code, _, err = await run_ctl("--socket", sock, "backup", "run", "config", timeout=60)
        assert code == 0, err
        earlier = list_archives(backups)
        assert len(earlier) == 1
        large_state(tmp / "state")
        code, _, err = await run_ctl(
            "--socket", sock, "backup", "run", "full", "--no-wait", timeout=60
        )
        assert code == 0, err

        def temp_growing() -> bool:
            return any(
                p.name.startswith(".tmp-virtuoso-full") and p.stat().st_size > 0
                for p in backups.iterdir()
            )

        wait_for(temp_growing, 30)
        daemon.signal(signum)
        daemon.wait(10)
    finally:
        daemon.stop()
    left = sorted(p.name for p in backups.iterdir())
    if signum == signal.SIGKILL:
        assert any(n.startswith(".tmp-") for n in left)  # killed mid-write: the temporary
    assert [s.id for _, s in list_archives(backups)] == [earlier[0][1].id]  # nothing new
    cfg = load_config(config, environ={})
    async with running_daemon(cfg, backup_specs(beta=False, control=False)) as d:
        actor = d.supervisor.actor("backup")
        assert [b.id for b in actor.catalogue.list()] == [earlier[0][1].id]
        if signum == signal.SIGKILL:
            assert any(n.startswith(".tmp-") for n in actor.cleaned)
    assert not [p.name for p in backups.iterdir() if p.name.startswith(".tmp-")]
    path, summary = earlier[0]
    assert verify_archive(path, None, expected=summary).ok


async def test_restore_refuses_the_state_dir_of_a_running_daemon_process() -> None:
    tmp = short_tmpdir()
    config = write_config(tmp)
    sock = str(tmp / "run" / "control.sock")
    daemon = DaemonProcess(tmp, "--config", str(config))
    try:
        wait_for(lambda: Path(sock).exists(), 30)
        code, out, err = await run_ctl("--socket", sock, "backup", "run", "config", timeout=60)
        assert code == 0, err
        backup_id = out.split()[1]
        restore = ["backup", "restore", backup_id, "--backup-dir", str(tmp / "backups")]
        code, _, err = await run_ctl(*restore, "--to", str(tmp / "state"))
        assert code == 1
        assert "running daemon" in err and f"pid {daemon.pid}" in err
        code, out, err = await run_ctl(*restore, "--to", str(tmp / "elsewhere"))
        assert code == 0, err  # another directory is fine while it runs
    finally:
        daemon.stop()
    code, out, err = await run_ctl(*restore, "--to", str(tmp / "state"))
    assert code == 0, err  # and the state dir once it has stopped
