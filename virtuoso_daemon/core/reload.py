"""All-or-nothing config reload (SIGHUP, ``virtuoso-ctl config reload``).

A reload that half-applies is worse than none: the store would run on the new
settings and beta on the old ones, with ``config.get`` showing either. So a reload
goes in three steps, and the first failure ends it with the running config kept
everywhere and the reason in the reply and the log:

1. load and validate the file (the same :func:`load_config` as start-up);
2. every actor owning a changed section checks its part (an optional
   ``check_config(new_config)`` that raises :class:`ConfigError` naming the key)
   before anything is applied;
3. apply: swap ``runtime.config``, the log level, then each owner's ``reconfigure``.
   An owner that still fails here is a bug, but not a fatal one: the owners already
   reconfigured are handed the old config back.

The result and the ``ConfigReloaded`` event name the changed settings that only take
effect on a restart (``restart_required``), so the operator is not left guessing.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import anyio
import msgspec

from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import Config, ConfigError, changed_sections, load_config
from virtuoso_daemon.core.logs import set_level
from virtuoso_daemon.core.messages import ConfigReloaded
from virtuoso_daemon.core.runtime import Runtime

log = logging.getLogger("virtuoso.reload")

# Read once at start-up (listeners, files, the event loop, queue sizes, the demo
# universe): a reload records them but they take effect on the next start.
RESTART_KEYS = frozenset(
    {
        "daemon.host",
        "daemon.port",
        "daemon.socket",
        "daemon.socket_group",
        "daemon.state_dir",
        "daemon.log_format",
        "daemon.demo",
        "daemon.event_loop",
        "daemon.gc_every",
        "api.thread",
    }
)
RESTART_SECTIONS = frozenset({"bus", "demo"})
# Read where they are used, so the swapped ``runtime.config`` is enough.
LIVE_KEYS = frozenset({"daemon.log_level", "daemon.shutdown_timeout"})
LIVE_SECTIONS = frozenset({"supervisor"})


@runtime_checkable
class Reconfigurable(Protocol):
    """An actor that can take a new config without a restart."""

    config_sections: ClassVar[tuple[str, ...]]

    async def reconfigure(self, config: Config) -> None: ...


class ReloadResult(msgspec.Struct, frozen=True):
    """What a reload changed (sections) and which settings wait for a restart."""

    changed: list[str]
    restart_required: list[str]


def changed_settings(old: Config, new: Config) -> list[str]:
    """Dotted names of the settings that differ; feeds by name (``exchanges.<name>``
    when one is added or removed, ``exchanges.<name>.<key>`` when one changed)."""
    a, b = msgspec.to_builtins(old), msgspec.to_builtins(new)
    out: list[str] = []
    for section in Config.__struct_fields__:
        x, y = a.get(section), b.get(section)
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            out += [f"{section}.{k}" for k in sorted(x.keys() | y.keys()) if x.get(k) != y.get(k)]
        elif isinstance(x, list) and isinstance(y, list) and _named(x) and _named(y):
            olds, news = {e["name"]: e for e in x}, {e["name"]: e for e in y}
            for name in sorted(olds.keys() | news.keys()):
                if name not in olds or name not in news:
                    out.append(f"{section}.{name}")
                else:
                    o, n = olds[name], news[name]
                    out += [f"{section}.{name}.{k}" for k in sorted(o) if o[k] != n.get(k)]
        else:
            out.append(section)
    return out


def _named(entries: list[Any]) -> bool:
    return all(isinstance(e, dict) and "name" in e for e in entries)


def needs_restart(setting: str, owned: set[str]) -> bool:
    """Whether a changed setting waits for a restart (``owned``: sections some actor
    takes live). A section nobody takes live is reported rather than assumed applied."""
    section, _, rest = setting.partition(".")
    if setting in RESTART_KEYS or section in RESTART_SECTIONS:
        return True
    if setting in LIVE_KEYS or section in LIVE_SECTIONS:
        return False
    if section == "exchanges" and "." not in rest:
        return True  # a feed added or removed: the actor tree is built at start
    return section not in owned


class Reloader:
    """Runs reloads one at a time over the actors the supervisor hands it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._lock = anyio.Lock()  # SIGHUP and `config reload` may race

    async def reload(self, actors: Sequence[tuple[str, Any]]) -> ReloadResult:
        async with self._lock:
            rt = self.runtime
            rt.notifier.reloading()
            try:
                result = await self._reload(actors)
            except ConfigError as exc:
                log.error("config reload rejected, keeping the running config: %s", exc)
                rt.notifier.ready(f"config reload rejected: {exc}")
                raise
            rt.notifier.ready("reloaded")
            return result

    async def _reload(self, actors: Sequence[tuple[str, Any]]) -> ReloadResult:
        rt = self.runtime
        old = rt.config
        new = rt.resolve_config(load_config(rt.config_path, overrides=rt.overrides))
        changed = sorted(changed_sections(old, new))
        owners = [
            (name, inst)
            for name, inst in actors
            if isinstance(inst, Reconfigurable) and set(inst.config_sections) & set(changed)
        ]
        for name, inst in owners:
            await _check(name, inst, new)
        owned = {
            s
            for _, inst in actors
            if isinstance(inst, Reconfigurable)
            for s in inst.config_sections
        }
        restart = [s for s in changed_settings(old, new) if needs_restart(s, owned)]
        await self._apply(old, new, owners)
        await rt.bus.publish(
            Topics.CONFIG,
            ConfigReloaded(sections=changed, restart_required=restart, ts=time.time()),
        )
        log.info(
            "config reloaded; changed sections: %s%s",
            ", ".join(changed) or "none",
            f"; needs a restart: {', '.join(restart)}" if restart else "",
        )
        return ReloadResult(changed=changed, restart_required=restart)

    async def _apply(self, old: Config, new: Config, owners: list[tuple[str, Any]]) -> None:
        rt = self.runtime
        rt.config = new
        set_level(new.daemon.log_level)
        done: list[tuple[str, Any]] = []
        for name, inst in owners:
            try:
                await inst.reconfigure(new)
            except Exception as exc:
                log.exception("%s failed to apply the new config; rolling back", name)
                rt.config = old
                set_level(old.daemon.log_level)
                for back_name, back in reversed([*done, (name, inst)]):
                    try:
                        await back.reconfigure(old)
                    except Exception:  # nothing better to do than say so
                        log.exception("%s failed to take the running config back", back_name)
                raise ConfigError(
                    f"{name} could not apply it: {type(exc).__name__}: {exc}"
                ) from exc
            done.append((name, inst))


async def _check(name: str, inst: Any, new: Config) -> None:
    """The actor's own check of its part; anything but a ConfigError is its bug, and
    still a refusal (nothing has been applied yet)."""
    check = getattr(inst, "check_config", None)
    if check is None:
        return
    try:
        outcome = check(new)
        if inspect.isawaitable(outcome):
            await outcome
    except ConfigError:
        raise
    except Exception as exc:
        log.exception("%s failed checking the new config", name)
        raise ConfigError(f"{name} could not check it: {type(exc).__name__}: {exc}") from exc
