"""/api/openapi.json is generated from the routes and their types, and covers them all."""

from __future__ import annotations

from typing import Any

import aiohttp
import msgspec
import pytest

from tests.harness import running_daemon, test_config
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.http import app as app_module
from virtuoso_daemon.http.openapi import documented_routes
from virtuoso_daemon.http.queries import query_route
from virtuoso_daemon.http.routes import LoopRoutes
from virtuoso_daemon.process import api_reference
from virtuoso_daemon.read.contract import QueryArgs


class EchoArgs(QueryArgs, frozen=True):
    name: str
    times: int = 1
    loud: bool | None = None


class Echo(msgspec.Struct, frozen=True):
    words: list[str]


def echo(rt: Runtime, args: EchoArgs) -> Echo:
    """Say the name ``times`` times.

    A test query."""
    if args.times < 0:
        raise QueryError("invalid_parameter", "times must be >= 0")
    return Echo(words=[args.name] * args.times)


@pytest.fixture
def echo_area(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = LoopRoutes()
    query_route(routes, "/api/test/echo/{name}", echo, EchoArgs)
    monkeypatch.setattr(app_module, "AREAS", [*app_module.AREAS, lambda: routes])


async def _spec(base_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(base_url + "/api/openapi.json") as resp:
            assert resp.status == 200
            doc: dict[str, Any] = await resp.json()
    return doc


async def test_a_query_route_documents_its_parameters_and_answer(echo_area: None) -> None:
    async with running_daemon(test_config()) as d:
        spec = await _spec(d.base_url)
    op = spec["paths"]["/api/test/echo/{name}"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["name"] == {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    assert params["times"]["in"] == "query" and params["times"]["schema"]["type"] == "integer"
    assert not params["times"]["required"]
    assert params["loud"]["schema"] == {"type": "boolean"}  # a query string is never null
    assert op["summary"] == "Say the name ``times`` times."
    answer = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/Echo"}
    assert spec["components"]["schemas"]["Echo"]["properties"]["words"]["type"] == "array"
    error = op["responses"]["default"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}


async def test_the_spec_is_openapi_3_1_and_writes_declare_the_bearer_token() -> None:
    async with running_daemon(test_config()) as d:
        spec = await _spec(d.base_url)
    assert spec["openapi"] == "3.1.0" and spec["info"]["version"] == d.runtime.version
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    reload = spec["paths"]["/api/system/reload"]["post"]
    assert {"bearer": []} in reload["security"]
    assert "security" not in spec["paths"]["/api/system/status"]["get"]


async def test_with_a_read_token_every_read_but_the_probes_declares_it() -> None:
    async with running_daemon(test_config(api={"read_token": "r"})) as d:
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer r"}) as http:
            async with http.get(d.base_url + "/api/openapi.json") as resp:
                spec = await resp.json()
    assert spec["paths"]["/api/system/status"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/health/quick"]["get"]


async def test_every_route_the_daemon_serves_is_documented_with_its_parameters() -> None:
    """A hand-written handler needs @documented(params=...) (a query_route has it)."""
    async with running_daemon(test_config()) as d:
        app = app_module.create_app(d.runtime)  # the same routes the daemon serves
        routes = documented_routes(app)
        spec = await _spec(d.base_url)
    undocumented = [f"{r.method} {r.path}" for r in routes if r.operation is None]
    assert undocumented == []
    served = {(r.method.lower(), r.path) for r in routes}
    in_spec = {(m, p) for p, item in spec["paths"].items() for m in item}
    assert served == in_spec and len(served) >= 20


async def test_the_docs_page_is_served_and_reads_the_spec() -> None:
    async with running_daemon(test_config()) as d, aiohttp.ClientSession() as http:
        async with http.get(d.base_url + "/api/docs") as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            page = await resp.text()
    assert 'fetch("/api/openapi.json")' in page


# --- every JSON answer has a typed schema ------------------------------------------------

#: GET operations whose answer is still an open object (a read function returning
#: ``dict[str, Any]``): shrink this as they are typed; the test below fails when one
#: listed here has become typed, so the list cannot go stale.
NOT_YET_TYPED: set[str] = set()


def _untyped(schema: dict[str, Any]) -> bool:
    """Any JSON (``{}``) or an object with nothing said about it (``dict[str, Any]``)."""
    return schema in ({}, {"type": "object"})


def test_every_json_get_answer_has_a_typed_schema_but_the_listed_ones() -> None:
    """Text answers (/metrics, the docs page) and the event stream are not JSON: they
    are told apart by their content type, not listed."""
    spec = api_reference.spec()
    untyped: set[str] = set()
    typed: set[str] = set()
    for path, item in spec["paths"].items():
        if "get" not in item:
            continue
        content = item["get"]["responses"]["200"]["content"]
        if "application/json" not in content:
            assert set(content) <= {"text/html", "text/event-stream"} or all(
                c.startswith("text/plain") for c in content
            ), f"{path}: {set(content)}"
            continue
        (untyped if _untyped(content["application/json"]["schema"]) else typed).add(path)
    assert sorted(untyped - NOT_YET_TYPED) == [], "type these answers (a msgspec Struct)"
    assert sorted(NOT_YET_TYPED & typed) == [], "typed now: remove them from NOT_YET_TYPED"
    assert sorted(NOT_YET_TYPED - untyped - typed) == [], "listed but not served"
