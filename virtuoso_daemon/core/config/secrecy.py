"""Secrets: read inline, from ``*_file`` or from an environment variable at load time,
and replaced by ``***`` before the config is ever logged or served."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import msgspec

from virtuoso_daemon.core.config.base import REDACTED, SECRET_FIELDS
from virtuoso_daemon.core.config.errors import ConfigError
from virtuoso_daemon.core.config.model import Config, memcached_prefix, socket_path, state_dir
from virtuoso_daemon.core.config.operations import AlertDestination, AlertsConfig


def _read_secret_file(key: str, path: str) -> str:
    try:
        return Path(path).expanduser().read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read secret file {path!r}: {exc.strerror}") from None


def resolve_secrets(cfg: Config) -> Config:
    api = cfg.api
    if api.token_file and not api.token:
        api = msgspec.structs.replace(
            api, token=_read_secret_file("api.token_file", api.token_file)
        )
    if api.read_token_file and not api.read_token:
        api = msgspec.structs.replace(
            api, read_token=_read_secret_file("api.read_token_file", api.read_token_file)
        )
    exchanges = []
    for i, ex in enumerate(cfg.exchanges):
        if ex.api_key_file and not ex.api_key:
            ex = msgspec.structs.replace(
                ex, api_key=_read_secret_file(f"exchanges[{i}].api_key_file", ex.api_key_file)
            )
        if ex.secret_file and not ex.secret:
            ex = msgspec.structs.replace(
                ex, secret=_read_secret_file(f"exchanges[{i}].secret_file", ex.secret_file)
            )
        exchanges.append(ex)
    alerts = msgspec.structs.replace(cfg.alerts, destinations=_resolve_destinations(cfg.alerts))
    return msgspec.structs.replace(cfg, api=api, exchanges=exchanges, alerts=alerts)


def _secret(dest: Any, key: str, field: str) -> str:
    """``field`` of an alert destination: inline, else ``<field>_file``, else the
    environment variable named by ``<field>_env``."""
    value: str = getattr(dest, field)
    path, env = getattr(dest, f"{field}_file"), getattr(dest, f"{field}_env")
    if not value and path:
        value = _read_secret_file(f"{key}.{field}_file", path)
    if not value and env:
        value = os.environ.get(env, "")
        if not value:
            raise ConfigError(f"{key}.{field}_env: environment variable {env!r} is not set")
    return value


def _check_url(key: str, url: str) -> None:
    # never echo the URL: it carries the webhook's secret
    if not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(f"{key}: expected an http:// or https:// URL")


def _resolve_destinations(alerts: AlertsConfig) -> list[AlertDestination]:
    out = []
    for i, d in enumerate(alerts.destinations):
        key = f"alerts.destinations[{i}]"
        if d.type == "telegram":
            token = _secret(d, key, "bot_token")
            if not token:
                raise ConfigError(f"{key}.bot_token: required for a telegram destination")
            if not d.chat_id:
                raise ConfigError(f"{key}.chat_id: required for a telegram destination")
            _check_url(f"{key}.api_url", d.api_url)
            d = msgspec.structs.replace(d, bot_token=token)
        else:
            url = _secret(d, key, "webhook_url")
            if not url:
                raise ConfigError(f"{key}.webhook_url: required for a {d.type} destination")
            _check_url(f"{key}.webhook_url", url)
            d = msgspec.structs.replace(d, webhook_url=url)
        out.append(d)
    return out


def redact(value: Any) -> Any:
    """Replace every secret-named field in a plain (builtins) tree by ``***``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            secret = k in SECRET_FIELDS or (k.endswith("_file") and k[:-5] in SECRET_FIELDS)
            out[k] = (REDACTED if v else "") if secret else redact(v)
        return out
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def redacted(cfg: Config) -> dict[str, Any]:
    """The config as plain data with secrets removed: safe to log or serve."""
    out: dict[str, Any] = redact(msgspec.to_builtins(cfg))
    return out


def resolved(cfg: Config) -> dict[str, Any]:
    """:func:`redacted` with the paths and names the daemon will really use filled in
    where the config leaves them to defaults (what ``--check-config`` prints)."""
    doc = redacted(cfg)
    doc["daemon"]["socket"] = str(socket_path(cfg))
    doc["daemon"]["state_dir"] = str(state_dir(cfg))
    doc["memcached"]["key_prefix"] = memcached_prefix(cfg)
    return doc
