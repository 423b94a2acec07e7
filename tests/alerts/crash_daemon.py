"""A daemon with the alert manager and the HTTP API in a process of its own, for the
``kill -9`` test: ``python -m tests.alerts.crash_daemon STATE_DIR HOOK_URL N``.

It writes its HTTP port to ``STATE_DIR/port``, then publishes ``N`` conditions (one
every few milliseconds, so the kill lands while alerts are still being made) and
waits to be killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from tests.alerts.helpers import alert_specs, condition, publish, running_daemon
from tests.harness import test_config

GAP = 0.003  # s between two conditions


def crash_config(tmp: Path, url: str) -> object:
    return test_config(
        tmp,
        alerts={
            "group_wait": 0,
            "group_interval": 0,
            "tick": 0.02,
            "destinations": [
                {
                    "name": "hook",
                    "webhook_url": url,
                    "rate_limit": 6000,
                    "timeout": 60,
                    "backoff_initial": 0.05,
                    "backoff_max": 0.2,
                }
            ],
        },
    )


async def main(tmp: Path, url: str, n: int) -> None:
    cfg = crash_config(tmp, url)
    async with running_daemon(cfg, alert_specs(http=True)) as d:  # type: ignore[arg-type]
        (tmp / "port.tmp").write_text(str(d.http_port))
        (tmp / "port.tmp").rename(tmp / "port")
        for i in range(n):
            await publish(d, condition(f"C{i}/USDT"))
            await anyio.sleep(GAP)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
