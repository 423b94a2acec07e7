"""Loading: the TOML file, then ``VIRTUOSO_*`` environment variables, then overrides
(the command line), merged, converted to :class:`Config`, checked and resolved."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from virtuoso_daemon.core.config.base import ENV_PREFIX
from virtuoso_daemon.core.config.errors import ConfigError, format_validation
from virtuoso_daemon.core.config.model import Config
from virtuoso_daemon.core.config.secrecy import resolve_secrets
from virtuoso_daemon.core.config.validation import validate, validate_exposure


def _parse_env_value(raw: str) -> Any:
    try:
        return msgspec.toml.decode(f"v = {raw}".encode())["v"]
    except msgspec.DecodeError:
        return raw


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{'.'.join(path)}: cannot override inside a non-table value")
        node = child
    node[path[-1]] = value


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Collect ``VIRTUOSO_SECTION__KEY=value`` variables into a nested dict."""
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(path):
            continue
        _set_path(tree, path, _parse_env_value(raw))
    return tree


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, tables merged key by key (neither changed):
    config files and environment overrides here, ccxt options and urls in the feeds."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load and validate the configuration; raises :class:`ConfigError` with one line."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path).expanduser()
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read config file {str(p)!r}: {exc.strerror}") from None
        try:
            data = msgspec.toml.decode(raw)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    data = deep_merge(data, env_overrides(os.environ if environ is None else environ))
    if overrides:
        data = deep_merge(data, overrides)
    try:
        cfg = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(format_validation(exc, data)) from None
    validate(cfg)
    cfg = resolve_secrets(cfg)
    validate_exposure(cfg)
    return cfg
