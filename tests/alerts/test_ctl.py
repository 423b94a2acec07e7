"""``virtuoso-ctl alerts ...`` as a separate process against a daemon with the manager."""

from __future__ import annotations

import json

import anyio

from tests.alerts.helpers import (
    alert_specs,
    alerts_config,
    condition,
    manager,
    publish,
    running_daemon,
    wait_until,
)
from tests.control.helpers import run_ctl


async def test_list_show_ack_silence_and_unsilence() -> None:
    async with running_daemon(alerts_config(), alert_specs(control=True)) as d:
        sock = str(d.runtime.socket_path)
        await publish(d, condition("ETH/USDT", value=9.1), condition("SOL/USDT"))
        await wait_until(lambda: manager(d).counts["conditions"] == 2)
        code, out, err = await run_ctl("--socket", sock, "alerts", "list", "--symbol", "ETH/USDT")
        assert (code, err) == (0, ""), err
        assert "ETH/USDT" in out and "SOL/USDT" not in out and "1 of 1" in out
        code, out, _ = await run_ctl("--socket", sock, "--json", "alerts", "list")
        ids = {a["symbol"]: a["id"] for a in json.loads(out)["alerts"]}
        code, out, _ = await run_ctl("--socket", sock, "alerts", "show", ids["ETH/USDT"])
        assert code == 0 and "value" in out and "9.1" in out
        code, out, _ = await run_ctl(
            "--socket", sock, "alerts", "ack", ids["ETH/USDT"], "--by", "bob"
        )
        assert code == 0 and out.startswith("acknowledged")
        code, _, err = await run_ctl("--socket", sock, "alerts", "ack", "0123456789abcdef")
        assert code == 1 and "unknown_alert" in err
        code, out, _ = await run_ctl(
            "--socket", sock, "alerts", "silence", "--kind", "wall", "--for", "30m"
        )
        assert code == 0 and out.startswith("silence ")
        silence_id = out.split()[1]
        code, out, _ = await run_ctl("--socket", sock, "alerts", "silences")
        assert silence_id in out and "wall" in out
        code, out, _ = await run_ctl("--socket", sock, "alerts", "unsilence", silence_id)
        assert code == 0
        code, out, _ = await run_ctl("--socket", sock, "alerts", "silences")
        assert out.strip() == "no silences"
        code, _, err = await run_ctl("--socket", sock, "alerts", "list", "--since", "soon")
        assert code == 1 and "invalid_parameter" in err


async def test_tail_follows_alert_changes() -> None:
    async with running_daemon(alerts_config(), alert_specs(control=True)) as d:
        sock = str(d.runtime.socket_path)
        async with anyio.create_task_group() as tg:
            result: list[tuple[int, str, str]] = []

            async def tail() -> None:
                result.append(await run_ctl("--socket", sock, "alerts", "tail", "-n", "2"))

            tg.start_soon(tail)
            await wait_until(lambda: d.runtime.bus.subscribers("alerts") > 0, timeout=20)
            await publish(d, condition("ETH/USDT"), condition("ETH/USDT", active=False))
        code, out, _ = result[0]
    assert code == 0
    lines = out.splitlines()
    assert "firing" in lines[0] and "resolved" in lines[1] and "ETH/USDT" in lines[1]
