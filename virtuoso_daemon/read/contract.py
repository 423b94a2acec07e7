"""One contract for both surfaces: a query is a function, its arguments one struct.

Every query the HTTP API and the control socket answer is
``fn(rt: Runtime, args: SomeArgs) -> data`` (sync or async), where ``SomeArgs`` is a
:class:`QueryArgs` struct; one that reads only published views takes a
:class:`~virtuoso_daemon.core.runtime.ReadModel` instead of the runtime (and is sync),
so HTTP can answer it in its own thread (:mod:`virtuoso_daemon.http.routes`). HTTP
builds the struct from the URL (path parameters and the query string, strings
converted by :func:`args_from_strings`); the socket decodes the frame's ``args`` into
the same struct. Failures are :class:`QueryError` with one
code, which HTTP answers with its status and the socket with the same code. So the
same question gets the same answer and the same error code on both: arguments that do
not fit the struct (a wrong type, a value outside its ``Meta`` range or pattern, an
unknown or a missing one) are ``invalid_parameter`` with the same message on both
surfaces (:func:`args_from_strings`, :func:`args_from_values`).

Adding an endpoint: one argument struct and one function in ``read/<area>.py``, one
route line (:func:`virtuoso_daemon.http.queries.query_route`) and one command line
(:func:`virtuoso_daemon.control.commands.queries.query_command`).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec

from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.requests import Args, NoArgs
from virtuoso_daemon.core.runtime import Runtime

__all__ = ["Query", "QueryArgs", "QueryError", "args_from_strings", "args_from_values", "run_query"]


# query arguments and actor requests share one base (unknown fields are an error)
QueryArgs = Args
NoQueryArgs = NoArgs


A = TypeVar("A", bound=QueryArgs)
Query = Callable[[Runtime, Any], Any | Awaitable[Any]]


def _first_error_line(exc: msgspec.ValidationError) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.limit`": name the parameter plainly
    msg = str(exc)
    if " - at `$." in msg:
        what, _, where = msg.partition(" - at `$.")
        return f"{where.rstrip('`')}: {what[0].lower()}{what[1:]}"
    return msg


def args_from_strings(cls: type[A], values: Mapping[str, str]) -> A:
    """``cls`` from URL strings (``limit=5`` -> int); bad or unknown ones -> 400."""
    return _convert(cls, values, strict=False)


def args_from_values(cls: type[A], values: Mapping[str, Any]) -> A:
    """``cls`` from a socket frame's ``args`` (JSON types, so ``"5"`` is not an int):
    the same checks, code and message as :func:`args_from_strings`. The socket calls it
    to explain a query's arguments that failed to decode, so a wrong type, a value out
    of range or of the wrong shape, an unknown or a missing argument is
    ``invalid_parameter`` on both surfaces, not ``bad_args`` on one of them."""
    return _convert(cls, values, strict=True)


def _convert(cls: type[A], values: Mapping[str, Any], *, strict: bool) -> A:
    allowed = [f.encode_name for f in msgspec.structs.fields(cls)]
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise QueryError(
            "invalid_parameter",
            f"unknown parameter(s): {', '.join(unknown)} (allowed: {', '.join(allowed) or 'none'})",
        )
    try:
        return msgspec.convert(dict(values), cls, strict=strict)
    except msgspec.ValidationError as exc:
        raise QueryError("invalid_parameter", _first_error_line(exc), 400) from None


async def run_query(fn: Query, rt: Runtime, args: QueryArgs) -> Any:
    """Call ``fn`` (sync or async) and return its answer; errors stay QueryError."""
    result = fn(rt, args)
    if inspect.isawaitable(result):
        result = await result
    return result


# --- parameter parsing shared by the query modules ------------------------------------


def parse_int(name: str, value: int | str | None, default: int, lo: int, hi: int) -> int:
    """An integer parameter in ``[lo, hi]``; ``None`` or ``""`` -> ``default``."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise QueryError("invalid_parameter", f"{name} must be an integer")
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise QueryError("invalid_parameter", f"{name} must be an integer, got {value!r}") from None
    if not lo <= n <= hi:
        raise QueryError("invalid_parameter", f"{name} must be between {lo} and {hi}, got {n}")
    return n


def parse_choice(name: str, value: str | None, choices: Sequence[str], default: str) -> str:
    """One of ``choices`` (case-insensitive); ``None`` or ``""`` -> ``default``."""
    if value is None or value == "":
        return default
    v = value.lower()
    if v not in choices:
        raise QueryError(
            "invalid_parameter", f"{name} must be one of {', '.join(choices)}, got {value!r}"
        )
    return v
