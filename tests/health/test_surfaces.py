"""/health, /metrics, the socket's ``health`` and ``virtuoso-ctl health`` against a real
daemon: same question, same answer and error code on both surfaces."""

from __future__ import annotations

import json
import re

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.control.helpers import run_ctl
from tests.harness import REPO, test_config
from tests.health.env import HealthEnv, health_env
from tests.health.test_monitor import FAST, AlwaysCrashes
from virtuoso_daemon.control import ControlActor
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.protocol import CommandError, ControlClient
from virtuoso_daemon.tickers.actor import TickerCacheActor

CONTROL = ActorSpec("control", ControlActor)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed by prometheus-client's own parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def get(env: HealthEnv, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(env.daemon.base_url + path) as resp:
        return resp.status, await resp.text()


async def test_health_lists_every_check_with_value_threshold_status_and_message() -> None:
    async with health_env(test_config(health=FAST), [CONTROL]) as env:
        await env.wait_for(env.report, 5, "a report")
        status, body = await get(env, "/health")
        assert status == 200
        doc = json.loads(body)
        names = {c["name"] for c in doc["checks"]}
        expected = {"api", "cache", "memory", "cpu", "disk", "error_rate", "actors", "event_loop"}
        assert expected <= names
        for check in doc["checks"]:
            assert {"value", "threshold", "status", "message"} <= set(check)
        async with ControlClient.connect(env.runtime.socket_path) as client:
            answer = await client.call("health", {"check": "api"})
        assert [c["name"] for c in answer["checks"]] == ["api"]


async def test_bad_input_is_the_same_error_on_http_and_the_socket() -> None:
    async with health_env(test_config(health=FAST), [CONTROL]) as env:
        await env.wait_for(env.report, 5, "a report")
        status, body = await get(env, "/health?check=nosuch")
        assert status == 404 and json.loads(body)["error"]["code"] == "unknown_check"
        status, body = await get(env, "/health?transitions=-1")
        assert status == 400 and json.loads(body)["error"]["code"] == "invalid_parameter"
        async with ControlClient.connect(env.runtime.socket_path) as client:
            for args, code in (
                ({"check": "nosuch"}, "unknown_check"),
                ({"transitions": -1}, "invalid_parameter"),
            ):
                try:
                    await client.call("health", args)
                except CommandError as exc:
                    assert exc.code == code
                else:
                    raise AssertionError(f"health {args} succeeded")


async def test_critical_answers_503_with_the_failing_check_and_its_transition() -> None:
    cfg = test_config(health=FAST, supervisor={"intensity": 1, "backoff_initial": 0.01})
    async with health_env(cfg, [ActorSpec("crasher", AlwaysCrashes)]) as env:
        await env.wait_status("actors", "critical", 10)
        status, body = await get(env, "/health")
        assert status == 503
        doc = json.loads(body)
        assert doc["status"] == "critical" and "actors" in doc["summary"]
        [last] = [
            t for t in doc["transitions"] if t["check"] == "actors" and t["new"] == "critical"
        ]
        assert "crasher" in last["message"]


async def test_metrics_parse_and_count_the_requests_made() -> None:
    async with health_env(test_config(health=FAST), [CONTROL]) as env:
        await env.wait_for(env.report, 5, "a report")
        _, before = await get(env, "/metrics")
        for _ in range(5):
            await get(env, "/api/system/status")
        await get(env, "/no/such/path")
        async with ControlClient.connect(env.runtime.socket_path) as client:
            for _ in range(3):
                await client.call("status")
        _, after = await get(env, "/metrics")
        b, a = samples(before), samples(after)
        status_key = (
            "virtuoso_api_requests_total",
            (
                ("method", "GET"),
                ("route", "/api/system/status"),
                ("status", "200"),
                ("surface", "http"),
            ),
        )
        assert a[status_key] - b.get(status_key, 0) == 5
        miss = (
            "virtuoso_api_requests_total",
            (("method", "*"), ("route", "unmatched"), ("status", "404"), ("surface", "http")),
        )
        assert a[miss] == 1
        sock = (
            "virtuoso_api_requests_total",
            (("method", ""), ("route", "status"), ("status", "ok"), ("surface", "socket")),
        )
        assert a[sock] == 3
        hist = (
            "virtuoso_api_request_duration_seconds_count",
            (("method", "GET"), ("route", "/api/system/status"), ("surface", "http")),
        )
        assert a[hist] - b.get(hist, 0) == 5
        assert a[("virtuoso_health_check_status", (("category", "api"), ("check", "api")))] == 0
        assert ("virtuoso_actor_restarts_total", (("actor", "health"),)) in a
        assert a[("process_resident_memory_bytes", ())] > 0


async def test_ctl_health_prints_the_checks_and_watch_follows_reports() -> None:
    async with health_env(test_config(health=FAST), [CONTROL]) as env:
        await env.wait_for(env.report, 5, "a report")
        sock = str(env.runtime.socket_path)
        code, out, err = await run_ctl("--socket", sock, "health")
        assert (code, err) == (0, "")
        assert out.startswith("healthy:") and "CHECK" in out and "event_loop" in out
        code, out, _ = await run_ctl("--socket", sock, "health", "--watch", "-n", "2")
        assert code == 0
        lines = out.splitlines()
        assert lines[0].startswith("healthy:")  # the document now ...
        assert (
            sum(" health " in line and "healthy:" in line for line in lines) == 2
        )  # ... then 2 reports


async def test_the_grafana_dashboard_uses_only_metrics_the_daemon_exports() -> None:
    dashboard = (REPO / "config" / "grafana-virtuoso.json").read_text()
    used = set(re.findall(r"\b((?:virtuoso|process)_[a-z_]+)", dashboard))
    # the alert manager's and the backup actor's families appear when those actors run
    used = {n for n in used if not n.startswith(("virtuoso_alert", "virtuoso_backup"))}
    async with health_env(
        test_config(health=FAST), [ActorSpec("ticker_cache", TickerCacheActor)]
    ) as env:
        await env.wait_for(env.report, 5, "a report")
        _, text = await get(env, "/metrics")
    exported = {s for s, _ in samples(text)} | {
        f.name + suffix
        for f in text_string_to_metric_families(text)
        for suffix in ("", "_total", "_bucket", "_count", "_sum")
    }
    assert used <= exported, sorted(used - exported)
