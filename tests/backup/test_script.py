"""scripts/backup.sh: the seed's interface as a thin wrapper over virtuoso-ctl."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio

from tests.backup.helpers import backup_config, backup_specs
from tests.harness import REPO, running_daemon, short_tmpdir

SCRIPT = REPO / "scripts" / "backup.sh"


def env() -> dict[str, str]:
    ctl = Path(sys.executable).parent / "virtuoso-ctl"
    return {**os.environ, "VIRTUOSO_CTL": str(ctl), "PYTHONPATH": str(REPO)}


def test_help_lists_the_kinds_and_options() -> None:
    done = subprocess.run([SCRIPT, "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    for word in (
        "critical",
        "full",
        "config",
        "data",
        "remote",
        "auto",
        "--verify",
        "--encrypt",
        "--cleanup",
    ):
        assert word in done.stdout


def test_an_unknown_option_is_a_usage_error() -> None:
    done = subprocess.run([SCRIPT, "full", "--zip"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "unknown argument: --zip" in done.stderr


async def test_runs_and_verifies_an_encrypted_backup_through_the_daemon() -> None:
    tmp = short_tmpdir()
    cfg = backup_config(tmp)
    async with running_daemon(cfg, backup_specs(beta=False)) as d:
        with anyio.fail_after(60):
            done = await anyio.run_process(
                [str(SCRIPT), "critical", "--encrypt", "--verify", "--socket", cfg.daemon.socket],
                env=env(),
                check=False,
            )
        assert done.returncode == 0, done.stderr.decode()
        out = done.stdout.decode()
        assert "completed" in out and "intact" in out
        rows = d.supervisor.actor("backup").catalogue.list()
        assert len(rows) == 1 and rows[0].encrypted and rows[0].kind == "critical"
