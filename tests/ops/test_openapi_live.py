"""Schemathesis against the live demo daemon: no 5xx, every answer matches the spec.

The daemon runs as a process in demo mode (simulated exchange, real feeds with ccxt
parsing); its own ``/api/openapi.json`` is loaded and every GET operation is called
with generated parameters (valid and invalid ones). Writes are left out: they change
the running daemon (reload, fixes) and have their own tests.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.generation import GenerationMode

from tests.ops.daemon import DaemonProcess, daemon_process, wait_for

EXAMPLES = 25  # per operation and mode: ~25 operations x 2 modes stays under 30 s


@schemathesis.check
def no_undocumented_server_error(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """No 5xx, except one the operation documents as its answer (``/health`` is 503
    while critical: that is what a load balancer acts on)."""
    documented = case.operation.definition.raw.get("responses", {})
    if response.status_code >= 500 and str(response.status_code) not in documented:
        raise AssertionError(f"server error {response.status_code}: {response.text[:300]}")


CHECKS = [
    no_undocumented_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def daemon() -> Iterator[DaemonProcess]:
    with daemon_process() as d:
        # warmed up: the analytics answer (before their first computation they answer
        # 503 not_ready by design, which this test would count as a server error)
        wait_for(lambda: _ok(d, "/api/market/beta"), timeout=60, what="the first betas")
        yield d


def _ok(d: DaemonProcess, path: str) -> bool:
    try:
        d.get(path)
        return True
    except urllib.error.HTTPError:
        return False


def _operations(d: DaemonProcess) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_dict(d.get("/api/openapi.json"))
    ops = [result.ok() for result in schema.get_all_operations()]
    # a server-sent event stream (/api/signals/stream) never ends: it has its own tests
    return [op for op in ops if op.method.upper() == "GET" and not _streams(op)]


def _streams(op: schemathesis.APIOperation) -> bool:
    answer = op.definition.raw.get("responses", {}).get("200", {})
    return "text/event-stream" in answer.get("content", {})


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_get_answers_without_5xx_and_as_its_schema_says(
    daemon: DaemonProcess, mode: GenerationMode
) -> None:
    ops = _operations(daemon)
    assert len(ops) >= 20  # the market, analytics, system and docs areas at least
    ran = 0
    for op in ops:
        if mode is GenerationMode.NEGATIVE and not op.query and not op.path_parameters:
            continue  # nothing to get wrong
        ran += 1

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call(base_url=daemon.base_url, timeout=10)
            case.validate_response(response, checks=CHECKS)

        call()
    assert ran >= (12 if mode is GenerationMode.NEGATIVE else 20)  # all with parameters
