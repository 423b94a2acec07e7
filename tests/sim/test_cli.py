"""``virtuoso-sim`` on the command line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
CMD = [sys.executable, "-m", "virtuoso_daemon.sim.cli"]


def test_help_lists_the_options() -> None:
    out = subprocess.run(
        [*CMD, "--help"], capture_output=True, text=True, env=ENV, timeout=60, check=True
    ).stdout
    for flag in ("--host", "--port", "--seed", "--symbols", "--speed", "--no-rate-limit"):
        assert flag in out
    assert out.startswith("usage: virtuoso-sim")


def test_runs_logs_its_urls_and_stops_on_sigint() -> None:
    proc = subprocess.Popen(
        [*CMD, "--port", "0", "--symbols", "ETH,SOL", "--seed", "3"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=ENV,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and "listening" not in line:
            line = proc.stderr.readline()
        match = re.search(r"REST spot (http://127\.0\.0\.1:\d+)/api/v3", line)
        assert match, line
        base = match.group(1)
        assert f"ws{base[4:]}/fstream/ws" in line and "/__sim/truth" in line
        with urllib.request.urlopen(f"{base}/api/v3/exchangeInfo", timeout=10) as resp:
            body = resp.read()
        assert b'"ETHUSDT"' in body and b'"SOLUSDT"' in body and b'"BTCUSDT"' in body
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
