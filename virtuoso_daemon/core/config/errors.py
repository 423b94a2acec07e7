"""Error naming: :class:`ConfigError`, and msgspec's validation errors turned into one
line that names the key and what it expects (``daemon.port: expected 0..65535, got
70000``), ranges and units read from the field's ``Meta``."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

from virtuoso_daemon.core.config.model import Config


class ConfigError(Exception):
    """A configuration problem, with a one-line message fit for an operator."""


_LOC = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")


def format_validation(err: msgspec.ValidationError, data: Mapping[str, Any]) -> str:
    """Turn msgspec's ``Expected `int`, got `str` - at `$.daemon.port``` into one line."""
    m = _LOC.match(str(err))
    msg, path = (m.group("msg"), m.group("path") or "") if m else (str(err), "")
    path = path.lstrip(".")
    unknown = re.match(r"Object contains unknown field `([^`]+)`", msg)
    if unknown:
        key = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
        return f"{key}: unknown key (check spelling; see config/virtuoso.toml)"
    missing = re.match(r"Object missing required field `([^`]+)`", msg)
    if missing:
        key = f"{path}.{missing.group(1)}" if path else missing.group(1)
        return f"{key}: required key is missing"
    if re.match(r"Expected `\w+` [<>]=? ", msg):
        ranged = _range_message(path, data)
        if ranged:
            return f"{path}: {ranged}"
    msg = msg.replace("`", "")
    msg = msg[0].lower() + msg[1:] if msg else msg
    if msg.startswith("invalid enum value"):
        choices = _literal_choices(path)
        if choices:
            msg += f" (expected one of: {', '.join(map(repr, choices))})"
    return f"{path or '(top level)'}: {msg}"


def _range_message(path: str, data: Mapping[str, Any]) -> str:
    """``expected seconds > 0, got 0`` from the ``Meta`` of the field at ``path``."""
    metas = [
        m for m in getattr(_field_type(path), "__metadata__", ()) if isinstance(m, msgspec.Meta)
    ]
    if not metas:
        return ""
    meta = metas[0]
    unit = (meta.extra or {}).get("unit", "")
    if meta.ge is not None and meta.le is not None:
        wanted = f"{meta.ge}..{meta.le}" + (f" {unit}" if unit else "")
    else:
        bounds = [("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")]
        parts = [f"{op} {getattr(meta, b)}" for b, op in bounds if getattr(meta, b) is not None]
        wanted = (f"{unit} " if unit else "") + " and ".join(parts)
    got = _value_at(data, path)
    return f"expected {wanted}" + ("" if got is _MISSING else f", got {got!r}")


_MISSING = object()


def _path_parts(path: str) -> list[str | int]:
    """``exchanges[0].poll_interval`` -> ``["exchanges", 0, "poll_interval"]``."""
    out: list[str | int] = []
    for part in path.split("."):
        m = re.match(r"^([^\[]*)((?:\[\d+\])*)$", part)
        if m is None:
            return []
        out.append(m.group(1))
        out += [int(i) for i in re.findall(r"\[(\d+)\]", m.group(2))]
    return out


def _value_at(data: Any, path: str) -> Any:
    node = data
    for part in _path_parts(path):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return node


def _field_type(path: str) -> Any:
    """The annotation (``Annotated`` extras kept) of the config field at ``a.b[0].c``."""
    tp: Any = Config
    for part in path.split("."):
        name = re.sub(r"(\[\d+\])+$", "", part)
        hints = typing.get_type_hints(tp, include_extras=True) if isinstance(tp, type) else {}
        if name not in hints:
            return None
        tp = hints[name]
        if part != path.split(".")[-1]:
            tp = _unwrap(tp)
    return tp


def _unwrap(tp: Any) -> Any:
    """The struct or literal inside ``Annotated[X, ...]``, ``list[X]``, ``X | None``."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (list, typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            return tp


def _literal_choices(path: str) -> tuple[Any, ...]:
    """The allowed values of the ``Literal`` field at ``path`` (``a.b[0].c``), if any."""
    tp = _unwrap(_field_type(path))
    return typing.get_args(tp) if typing.get_origin(tp) is Literal else ()
