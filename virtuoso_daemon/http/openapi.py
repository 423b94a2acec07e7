"""The API's OpenAPI 3.1 description, generated from the routes and their types.

Nothing here is written by hand per endpoint. Each route's handler carries an
:class:`Operation` (set by :func:`~virtuoso_daemon.http.queries.query_route` from the
query's argument struct and return annotation, or by :func:`documented` on the few
hand-written handlers); :func:`build_spec` walks the app's router and turns every
operation into a path item, the argument struct's fields into parameters (``in:
path`` for the ones in the path template, ``in: query`` for the rest) and the
structs into ``components.schemas`` with :func:`msgspec.json.schema_components`, so
the description cannot drift from the code. Errors are the one JSON error body of
:mod:`.errors`.

Served at ``/api/openapi.json`` with a small page at ``/api/docs`` (:mod:`.docs`).
"""

from __future__ import annotations

import copy
import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from virtuoso_daemon.http.auth import OPEN_PATHS, is_write

#: any route handler (given the request, and the model or the runtime: .routes)
Handler = Callable[..., Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

_ATTR = "__virtuoso_openapi__"
REF = "#/components/schemas/{name}"
ANY_JSON: dict[str, Any] = {}


@dataclass(frozen=True)
class Operation:
    """What the spec says about one handler: its arguments, its answer, its body."""

    summary: str = ""
    description: str = ""
    params: type[msgspec.Struct] | None = None  # path + query parameters
    response: Any = None  # a type msgspec can describe; None = any JSON
    body: Any = None  # a JSON request body's type, if any
    content_type: str = "application/json"  # of the 200 answer
    tag: str = ""
    # other statuses answered with the 200 body by design (/health: 503 when critical)
    same_body_on: tuple[int, ...] = ()
    # other statuses with a body of their own: ((202, Started),) (a run not waited for)
    other: tuple[tuple[int, Any], ...] = ()
    # the parameters may come in a JSON object body instead of the query string
    body_params: bool = False


@dataclass(frozen=True)
class ObjectOf:
    """An answer msgspec cannot describe as one type: a JSON object whose members are
    known only when the spec is built (the dashboard's registered parts), each member
    one of a few types (``anyOf``; ``None`` is any JSON). ``members()`` is called then."""

    name: str  # its component's name
    members: Callable[[], Mapping[str, tuple[Any, ...]]]
    required: tuple[str, ...] = ()


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str
    message: str


class ErrorBody(msgspec.Struct, frozen=True):
    """Every 4xx/5xx answer (see :mod:`.errors`)."""

    error: ErrorDetail


class SpecInfo(msgspec.Struct, frozen=True):
    title: str
    version: str
    description: str


class SpecComponents(msgspec.Struct, frozen=True, rename={"security_schemes": "securitySchemes"}):
    schemas: dict[str, Any]  # name -> JSON schema
    security_schemes: dict[str, Any]


class OpenApiDocument(msgspec.Struct, frozen=True):
    """What ``/api/openapi.json`` serves: an OpenAPI 3.1 document (:func:`build_spec`)."""

    openapi: str
    info: SpecInfo
    paths: dict[str, dict[str, Any]]  # path -> method -> operation
    components: SpecComponents


def documented(
    *,
    params: type[msgspec.Struct] | None = None,
    response: Any = None,
    body: Any = None,
    summary: str | None = None,
    content_type: str = "application/json",
    same_body_on: tuple[int, ...] = (),
    other: tuple[tuple[int, Any], ...] = (),
    body_params: bool = False,
    tag: str = "",
) -> Callable[[H], H]:
    """Describe a hand-written handler (a query_route describes itself); ``tag`` groups
    it (default: the path's area, ``/api/<area>/...``)."""

    def mark(handler: H) -> H:
        first, rest = split_doc(handler)
        op = Operation(
            summary=summary if summary is not None else first.strip(),
            description=rest.strip(),
            params=params,
            response=response,
            body=body,
            content_type=content_type,
            same_body_on=same_body_on,
            other=other,
            body_params=body_params,
            tag=tag,
        )
        setattr(handler, _ATTR, op)
        return handler

    return mark


def describe_query(
    handler: Handler,
    fn: Callable[..., Any],
    args: type[msgspec.Struct],
    *,
    body_params: bool = False,
    response: Any = None,
) -> None:
    """Attach the Operation of a read-layer query served by :func:`query_route` (or a
    write taking its arguments from the query string or a JSON body: ``body_params``);
    its answer is ``fn``'s return type unless ``response`` says more."""
    first, rest = split_doc(fn)
    setattr(
        handler,
        _ATTR,
        Operation(
            summary=first,
            description=rest,
            params=args,
            response=response if response is not None else return_type(fn),
            body_params=body_params,
        ),
    )


def split_doc(obj: object) -> tuple[str, str]:
    """A docstring's first paragraph (the summary, one line) and the rest."""
    doc = inspect.getdoc(obj) or ""
    first, _, rest = doc.partition("\n\n")
    return " ".join(first.split()), rest.strip()


def operation_of(handler: object) -> Operation | None:
    op = getattr(handler, _ATTR, None)
    return op if isinstance(op, Operation) else None


def return_type(fn: Callable[..., Any]) -> Any:
    """``fn``'s return annotation when msgspec can describe it (awaitables unwrapped)."""
    try:
        tp = typing.get_type_hints(fn).get("return")
    except Exception:  # an annotation that does not resolve: describe it as any JSON
        return None
    if typing.get_origin(tp) in (Awaitable, typing.Coroutine):
        tp = typing.get_args(tp)[-1]
    if tp is None or tp is type(None):
        return None
    try:
        msgspec.json.schema(tp)
    except (TypeError, ValueError):
        return None
    return tp


# --- the spec -------------------------------------------------------------------------

_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_INTERNAL = ("_unmatched_path", "_preflight")


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str  # the OpenAPI template: /api/market/ticker/{symbol}
    handler: Any
    operation: Operation | None


def documented_routes(app: web.Application) -> list[RouteDoc]:
    """Every route the API serves (not the catch-alls), with its Operation if any."""
    out: list[RouteDoc] = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        raw = info.get("formatter") or info.get("path") or ""
        if not raw or any(name in raw for name in _INTERNAL) or route.method == "HEAD":
            continue
        path = _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", raw)
        out.append(RouteDoc(route.method, path, route.handler, operation_of(route.handler)))
    return out


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is a string or absent, never JSON null: drop the null branch."""
    any_of = schema.get("anyOf")
    if not any_of:
        return schema
    rest = [s for s in any_of if s != {"type": "null"}]
    out = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    if len(rest) == 1:
        out.update(rest[0])
    else:
        out["anyOf"] = rest
    return out


def _parameters(route: RouteDoc, op: Operation, components: dict[str, Any]) -> list[dict[str, Any]]:
    in_path = set(re.findall(r"\{([^}]+)\}", route.path))
    params: list[dict[str, Any]] = []
    if op.params is not None:
        struct = components[op.params.__name__]
        required = set(struct.get("required", ()))
        for name, schema in struct.get("properties", {}).items():
            if name == _tag_field(op.params):
                continue  # a request struct's tag: implied by the route, never sent
            where = "path" if name in in_path else "query"
            param: dict[str, Any] = {
                "name": name,
                "in": where,
                "required": where == "path" or name in required,
                "schema": _strip_null(schema),
            }
            if "description" in schema:
                param["description"] = schema["description"]
            params.append(param)
    named = {p["name"] for p in params}
    for name in sorted(in_path - named):  # a path parameter the struct does not name
        params.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
    return params


def _tag_field(tp: Any) -> str | None:
    """The tag field of a tagged Struct type (a bus request doubling as the arguments)."""
    config = getattr(tp, "__struct_config__", None)
    return config.tag_field if config is not None and config.tag is not None else None


def _params_body(route: RouteDoc, op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of a route that takes its parameters from the query string or the
    body (``body_params``): the parameters but the path ones, none of them required
    there (each may come from either place)."""
    assert op.params is not None
    struct = components[op.params.__name__]
    skip = set(re.findall(r"\{([^}]+)\}", route.path)) | {_tag_field(op.params)}
    schema: dict[str, Any] = {
        k: copy.deepcopy(v) for k, v in struct.items() if k not in ("properties", "required")
    }
    schema["type"] = "object"
    schema["properties"] = {
        name: copy.deepcopy(prop)
        for name, prop in struct.get("properties", {}).items()
        if name not in skip
    }
    return schema


def _tag(path: str) -> str:
    parts = [p for p in path.split("/") if p and not p.startswith("{")]
    if parts[:1] == ["api"] and len(parts) > 1:
        return parts[1]
    return parts[0] if parts else "root"


def _schemas(types: Iterable[Any]) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    unique = list(dict.fromkeys(t for t in types if t is not None))
    refs, components = msgspec.json.schema_components(unique, ref_template=REF)
    return dict(zip(unique, refs, strict=True)), components


def build_spec(
    app: web.Application, *, title: str, version: str, read_token: bool
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``app``'s routes (see the module docstring)."""
    routes = documented_routes(app)
    ops = {id(r): r.operation or _fallback(r) for r in routes}
    types: list[Any] = [ErrorBody]
    objects: dict[str, tuple[ObjectOf, Mapping[str, tuple[Any, ...]]]] = {}
    for op in ops.values():
        response = op.response
        if isinstance(response, ObjectOf):
            members = response.members()
            objects[response.name] = (response, members)
            types += [tp for options in members.values() for tp in options]
            response = None
        types += [op.params, response, op.body, *(tp for _, tp in op.other)]
    refs, components = _schemas(types)
    for name, (obj, members) in objects.items():
        components[name] = _object_schema(obj, members, refs)
    error = {"application/json": {"schema": refs[ErrorBody]}}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        op = ops[id(route)]
        write = is_write(route.method, route.handler)
        answer: dict[str, Any] = {"schema": _answer_schema(op.response, refs)}
        item: dict[str, Any] = {
            "operationId": _operation_id(route),
            "tags": [op.tag or _tag(route.path)],
            "summary": op.summary or f"{route.method} {route.path}",
            "parameters": _parameters(route, op, components),
            "responses": {
                "200": {"description": "OK", "content": {op.content_type: answer}},
                **{
                    str(status): {
                        "description": "see the summary",
                        "content": {op.content_type: answer},
                    }
                    for status in op.same_body_on
                },
                **{
                    str(status): {
                        "description": "see the summary",
                        "content": {op.content_type: {"schema": copy.deepcopy(refs[tp])}},
                    }
                    for status, tp in op.other
                },
                "default": {"description": "an error", "content": error},
            },
        }
        if op.description:
            item["description"] = op.description
        if op.body is not None:
            item["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[op.body]}},
            }
        elif op.body_params and op.params is not None:
            body = _params_body(route, op, components)
            if body["properties"]:  # else every parameter is in the path
                item["requestBody"] = {
                    "required": False,
                    "content": {"application/json": {"schema": body}},
                }
        if write:
            item["security"] = [{"bearer": []}, {}]  # {}: no token needed from loopback
        elif read_token and route.path not in OPEN_PATHS:
            item["security"] = [{"bearer": []}]
        paths.setdefault(route.path, {})[route.method.lower()] = item
    doc = OpenApiDocument(
        openapi="3.1.0",
        info=SpecInfo(
            title=title,
            version=version,
            description="Generated from the daemon's routes and msgspec types.",
        ),
        paths=dict(sorted(paths.items())),
        components=SpecComponents(
            schemas=components,
            security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        ),
    )
    out: dict[str, Any] = msgspec.to_builtins(doc)
    return out


def _answer_schema(response: Any, refs: dict[Any, Any]) -> dict[str, Any]:
    if response is None:
        return ANY_JSON
    if isinstance(response, ObjectOf):
        return {"$ref": REF.format(name=response.name)}
    return dict(copy.deepcopy(refs[response]))


def _object_schema(
    obj: ObjectOf, members: Mapping[str, tuple[Any, ...]], refs: dict[Any, Any]
) -> dict[str, Any]:
    """The component of an :class:`ObjectOf` answer: each member any of its types."""

    def one_of(options: tuple[Any, ...]) -> dict[str, Any]:
        schemas = [copy.deepcopy(refs[tp]) if tp is not None else ANY_JSON for tp in options]
        if any(s == ANY_JSON for s in schemas):
            return {}
        return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}

    schema: dict[str, Any] = {
        "title": obj.name,
        "type": "object",
        "properties": {name: one_of(options) for name, options in members.items()},
    }
    if obj.required:
        schema["required"] = list(obj.required)
    return schema


def _fallback(route: RouteDoc) -> Operation:
    """An undocumented handler: its docstring, path parameters only (see the tests)."""
    first, rest = split_doc(route.handler)
    return replace(Operation(), summary=first, description=rest)


def _operation_id(route: RouteDoc) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", route.path).strip("_")
    return f"{route.method.lower()}_{words}"
