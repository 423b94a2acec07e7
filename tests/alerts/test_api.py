"""``/api/signals/...`` and the ``alerts.*`` socket commands: the same answers and the
same error codes, writes guarded, and the live SSE stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
import pytest

from tests.alerts.helpers import (
    alert_specs,
    alerts_config,
    condition,
    manager,
    publish,
    running_daemon,
    wait_until,
)
from tests.harness import DaemonHandle, test_config
from virtuoso_daemon.protocol import CommandError, ControlClient

BAD = [
    ("/api/signals/alerts?kind=bogus", 400, "invalid_parameter"),
    ("/api/signals/alerts?severity=loud", 400, "invalid_parameter"),
    ("/api/signals/alerts?since=yesterday", 400, "invalid_parameter"),
    ("/api/signals/alerts?since=2026-01-01T00:00:00", 400, "invalid_parameter"),
    ("/api/signals/alerts?limit=0", 400, "invalid_parameter"),
    ("/api/signals/alerts?limit=many", 400, "invalid_parameter"),
    ("/api/signals/alerts?colour=red", 400, "invalid_parameter"),
    ("/api/signals/alerts?status=sleeping", 400, "invalid_parameter"),
    ("/api/signals/alerts/0123456789abcdef", 404, "unknown_alert"),
    ("/api/signals/alerts/not-an-id", 400, "invalid_parameter"),
    ("/api/signals/stream?kind=bogus", 400, "invalid_parameter"),
]


@asynccontextmanager
async def api(**alerts: Any) -> AsyncIterator[tuple[DaemonHandle, aiohttp.ClientSession]]:
    cfg = alerts_config(**alerts)
    async with (
        running_daemon(cfg, alert_specs(http=True, control=True)) as d,
        aiohttp.ClientSession(base_url=d.base_url) as http,
    ):
        yield d, http


async def fire(d: DaemonHandle, n: int) -> None:
    kinds = ["price_move", "volume_spike", "whale_trade"]
    await publish(
        d,
        *(
            condition(f"S{i}/USDT", kind=kinds[i % 3], severity="critical" if i % 2 else "info")
            for i in range(n)
        ),
    )
    await wait_until(lambda: manager(d).counts["conditions"] == n)


async def test_bad_input_is_a_4xx_json_error_with_the_same_code_on_the_socket() -> None:
    async with api() as (d, http), ControlClient.connect(d.runtime.socket_path) as ctl:
        for path, status, code in BAD:
            async with http.get(path) as resp:
                assert resp.status == status, path
                assert (await resp.json())["error"]["code"] == code, path
        with pytest.raises(CommandError) as err:
            await ctl.call("alerts.list", kind="bogus")
        assert err.value.code == "invalid_parameter"
        with pytest.raises(CommandError) as err:
            await ctl.call("alerts.ack", id="0123456789abcdef")
        assert err.value.code == "unknown_alert"
        with pytest.raises(CommandError) as err:  # not an id's shape: as HTTP answers it
            await ctl.call("alerts.ack", id="nope")
        assert err.value.code == "invalid_parameter"
        async with http.post("/api/signals/alerts/0123456789abcdef/ack") as resp:
            assert resp.status == 404 and (await resp.json())["error"]["code"] == "unknown_alert"
        async with http.post("/api/signals/alerts/nope/ack") as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == {
                "code": err.value.code,
                "message": err.value.message,
            }
        async with http.delete("/api/signals/silences/0123456789ab") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["code"] == "unknown_silence"
        async with http.post("/api/signals/silences", json={"kind": "x", "duration": "1h"}) as r:
            assert r.status == 400
        async with http.post("/api/signals/silences", json={"kind": "wall", "duration": "-1"}) as r:
            assert r.status == 400
        async with http.post("/api/signals/silences", data=b"[1,2") as resp:
            assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_body"


async def test_the_list_filters_and_pages_and_both_surfaces_agree() -> None:
    async with api() as (d, http), ControlClient.connect(d.runtime.socket_path) as ctl:
        await fire(d, 12)
        async with http.get("/api/signals/alerts?severity=critical&limit=4") as resp:
            page1 = await resp.json()
        async with http.get("/api/signals/alerts?severity=critical&limit=4&offset=4") as resp:
            page2 = await resp.json()
        same = await ctl.call("alerts.list", severity="critical", limit=4)
        async with http.get("/api/signals/alerts?kind=whale_trade&symbol=S2/USDT") as resp:
            one = await resp.json()
        async with http.get("/api/signals/alerts?since=1h&exchange=binance") as resp:
            recent = await resp.json()
        async with http.get("/api/signals/alerts?since=2h&exchange=bybit") as resp:
            none = await resp.json()
    assert page1["total"] == 6 and len(page1["alerts"]) == 4 and page1["next_offset"] == 4
    assert len(page2["alerts"]) == 2 and page2["next_offset"] is None
    ids = {a["id"] for a in page1["alerts"]} | {a["id"] for a in page2["alerts"]}
    assert len(ids) == 6
    assert all(a["severity"] == "critical" for a in page1["alerts"] + page2["alerts"])
    assert same == page1
    assert [a["symbol"] for a in one["alerts"]] == ["S2/USDT"]
    assert recent["total"] == 12 and none["total"] == 0


async def test_detail_shows_the_triggering_numbers_and_the_delivery_state() -> None:
    async with api() as (d, http):
        await fire(d, 1)
        async with http.get("/api/signals/alerts") as resp:
            alert_id = (await resp.json())["alerts"][0]["id"]
        async with http.get(f"/api/signals/alerts/{alert_id}") as resp:
            doc = await resp.json()
    assert doc["alert"]["data"] == {"value": 5.2, "threshold": 3.0, "window": "5m"}
    assert doc["deliveries"] == []  # no destination configured


async def test_ack_needs_the_token_when_one_is_set_and_stops_repeats() -> None:
    cfg = test_config(api={"token": "t0ken"}, alerts={"tick": 0.02, "repeat_interval": 0.05})
    async with (
        running_daemon(cfg, alert_specs(http=True)) as d,
        aiohttp.ClientSession(base_url=d.base_url) as http,
    ):
        await fire(d, 1)
        m = manager(d)
        await wait_until(lambda: m.counts["fired"] >= 2)  # repeating
        alert_id = next(iter(m.lifecycle.open.values())).id
        async with http.post(f"/api/signals/alerts/{alert_id}/ack") as resp:
            assert resp.status == 401
        bad = {"Authorization": "Bearer wrong"}
        async with http.post(f"/api/signals/alerts/{alert_id}/ack", headers=bad) as resp:
            assert resp.status == 403
        ok = {"Authorization": "Bearer t0ken"}
        body = {"by": "alice"}
        async with http.post(f"/api/signals/alerts/{alert_id}/ack", headers=ok, json=body) as r:
            assert r.status == 200
            acked = (await r.json())["alert"]
        fired = m.counts["fired"]
        await anyio.sleep(0.3)  # six repeat intervals: an acknowledged alert stays quiet
        assert m.counts["fired"] == fired
    assert acked["acked_by"] == "alice" and acked["acked_ts"] is not None


async def test_a_silence_mutes_until_removed_on_either_surface() -> None:
    async with api() as (d, http), ControlClient.connect(d.runtime.socket_path) as ctl:
        body = {"kind": "price_move", "symbol": "S0/USDT", "duration": "2h", "comment": "noisy"}
        async with http.post("/api/signals/silences", json=body) as resp:
            assert resp.status == 201
            silence = (await resp.json())["silence"]
        listed = await ctl.call("alerts.silences")
        await publish(d, condition("S0/USDT"))
        m = manager(d)
        await wait_until(lambda: m.counts.get("muted") == 1)
        async with http.delete(f"/api/signals/silences/{silence['id']}") as resp:
            assert resp.status == 200
        await wait_until(lambda: m.counts.get("fired") == 1)  # delivered once unmuted
        with pytest.raises(CommandError) as err:
            await ctl.call("alerts.unsilence", id=silence["id"])
    assert err.value.code == "unknown_silence"
    assert silence["ends"] - silence["starts"] == 7200
    assert [s["id"] for s in listed["silences"]] == [silence["id"]]


async def test_the_live_stream_pushes_each_new_alert_matching_its_filter() -> None:
    async with api() as (d, http):
        async with http.get("/api/signals/stream?severity=critical") as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            await resp.content.readline()  # the opening comment: the tap is in place
            await fire(d, 4)  # two info, two critical
            events: list[bytes] = []
            with anyio.fail_after(5):
                while len(events) < 2:
                    line = await resp.content.readline()
                    if line.startswith(b"data: "):
                        events.append(line)
    assert all(b'"severity":"critical"' in e for e in events)


async def test_an_alerts_subscription_on_the_socket_gets_every_change() -> None:
    async with api() as (d, _), ControlClient.connect(d.runtime.socket_path) as ctl:
        await ctl.subscribe("alerts")
        await fire(d, 1)
        await publish(d, condition("S0/USDT", kind="price_move", active=False))
        got = []
        with anyio.fail_after(5):
            async for event in ctl.events():
                got.append(event.data.event)
                if len(got) == 2:
                    break
    assert got == ["firing", "resolved"]


async def test_an_open_stream_ends_when_the_daemon_stops_and_does_not_hold_it_up() -> None:
    async with aiohttp.ClientSession() as http:
        async with running_daemon(alerts_config(), alert_specs(http=True)) as d:
            resp = await http.get(f"{d.base_url}/api/signals/stream")
            await resp.content.readline()  # the stream is open
            stopping = anyio.current_time()
        stopped_in = anyio.current_time() - stopping
        with anyio.fail_after(5):
            rest = await resp.content.read()  # the server ended it: EOF, not a hang
        resp.close()
    assert rest.strip() == b""  # the rest of the opening comment, then the end
    assert stopped_in < 1.0  # the HTTP thread's stop budget is 2 s; a held stream used it all
