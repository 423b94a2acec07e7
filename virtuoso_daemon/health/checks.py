"""The checks: a measurement and its thresholds in, a raw :class:`HealthCheck` out.

Pure functions (no I/O, no clock of their own), so each rule is tested directly and
the actor only gathers inputs. Names are stable; they are the Condition keys
(``health:<name>``) and the ``check`` label on ``/metrics``:

``api``, ``cache``, ``exchange:<name>``, ``data:<exchange>:<kind>``, ``memory``,
``cpu``, ``disk``, ``backups``, ``error_rate``, ``actors``, ``event_loop``, ``bus``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from virtuoso_daemon.backup.schedule import fires_between
from virtuoso_daemon.core.config import ExchangeConfig, HealthConfig
from virtuoso_daemon.core.messages import FeedStatus, HealthCheck, HealthStatus
from virtuoso_daemon.feeds.context import DERIVATIVE_KINDS
from virtuoso_daemon.health.hold import grade, worst
from virtuoso_daemon.health.sources import ApiProbe, DiskReading, MemoryReading

#: a feed's status older than this many heartbeats: its status loop itself is stuck
STATUS_STALE_HEARTBEATS = 5

#: the completed backups that count for a scheduled kind: a full backup holds what a
#: critical, config or data one does, and ``auto`` runs as full or critical; a remote
#: one counts only as itself (its point is the copy elsewhere)
COVERED_BY: dict[str, frozenset[str]] = {
    "auto": frozenset({"full", "critical"}),
    "critical": frozenset({"critical", "full"}),
    "full": frozenset({"full"}),
    "config": frozenset({"config", "critical", "full"}),
    "data": frozenset({"data", "full"}),
    "remote": frozenset({"remote"}),
}


def _check(
    name: str,
    category: str,
    status: HealthStatus,
    value: float | str | None,
    threshold: float | str | None,
    message: str,
    unit: str = "",
) -> HealthCheck:
    if isinstance(value, float):
        value = round(value, 3)
    return HealthCheck(
        name=name,
        status=status,
        value=value,
        threshold=threshold,
        message=message,
        category=category,
        unit=unit,
    )


def api_check(probe: ApiProbe | None, cfg: HealthConfig) -> HealthCheck:
    if probe is None:
        return _check("api", "api", "ok", None, None, "no HTTP API in this daemon")
    if probe.latency_ms is None or probe.error is not None:
        return _check(
            "api",
            "api",
            "critical",
            probe.latency_ms,
            cfg.api_timeout * 1000,
            f"GET /health/quick failed: {probe.error}",
            "ms",
        )
    status, threshold = grade(
        probe.latency_ms, cfg.api_latency_warning_ms, cfg.api_latency_critical_ms
    )
    return _check(
        "api",
        "api",
        status,
        probe.latency_ms,
        threshold,
        f"GET /health/quick answered in {probe.latency_ms:.1f} ms",
        "ms",
    )


def cache_check(state: Mapping[str, Any] | None, cfg: HealthConfig, now: float) -> HealthCheck:
    """memcached reachable, hit rate, errors; down means the in-memory fallback serves."""
    if state is None:
        return _check("cache", "cache", "ok", None, None, "no ticker cache in this daemon")
    st = str(state.get("state", "unknown"))
    hits, misses = int(state.get("hits", 0) or 0), int(state.get("misses", 0) or 0)
    errors = int(state.get("errors", 0) or 0)
    rate = f", hit rate {100 * hits / (hits + misses):.0f}%" if hits + misses else ""
    counts = f"{errors} errors{rate}"
    if st == "disabled":
        return _check("cache", "cache", "ok", st, None, "memcached disabled: memory only")
    if st == "up":
        return _check("cache", "cache", "ok", st, None, f"memcached up ({counts})")
    since = float(state.get("since") or now)
    down_for = max(0.0, now - since)
    err = state.get("last_error") or "no error yet"
    status: HealthStatus = "critical" if down_for >= cfg.cache_down_critical else "warning"
    return _check(
        "cache",
        "cache",
        status,
        down_for,
        cfg.cache_down_critical,
        f"memcached {st} for {down_for:.0f}s, serving from memory (fallback); {err}; {counts}",
        "s",
    )


def exchange_check(
    status: FeedStatus | None, ex: ExchangeConfig, now: float, started: float
) -> HealthCheck:
    """Connectivity of one feed, from its own FeedStatus (state, errors, REST fallback)."""
    name = f"exchange:{ex.name}"
    if status is None:
        waited = now - started
        st: HealthStatus = "warning" if waited > ex.silent_timeout else "ok"
        return _check(
            name, "exchange", st, "starting", None, f"no status from the feed yet ({waited:.0f}s)"
        )
    errors = sum(status.errors.values())
    # kinds that could stream but run on REST (funding and open interest are REST only)
    fallback = sorted(
        k for k, m in status.modes.items() if m == "rest" and k not in DERIVATIVE_KINDS
    )
    fallback = fallback if ex.streaming else []
    parts: list[str] = [status.state]
    if errors:
        parts.append(f"{errors} errors")
    if fallback:
        parts.append(f"REST fallback for {', '.join(fallback)}")
    if status.detail:
        parts.append(status.detail)
    message = "; ".join(parts)
    age = now - status.ts
    stale_after = STATUS_STALE_HEARTBEATS * 2.0
    if status.state != "down" and age > stale_after and status.detail != "feed stopped":
        return _check(
            name, "exchange", "critical", status.state, "connected",
            f"no status from the feed for {age:.0f}s (its loop is stuck?); last: {message}",
        )  # fmt: skip
    verdict: dict[str, HealthStatus] = {
        "connected": "warning" if fallback else "ok",
        "paused": "ok",
        "degraded": "warning",
        "starting": "warning" if now - started > ex.silent_timeout else "ok",
        "down": "critical",
    }
    return _check(name, "exchange", verdict[status.state], status.state, "connected", message)


def data_checks(
    status: FeedStatus | None,
    ex: ExchangeConfig,
    cfg: HealthConfig,
    now: float,
    first_seen: Mapping[str, float],
) -> list[HealthCheck]:
    """Freshness of each data kind of one feed: age of its newest message against
    ``data_age_warning``/``data_age_critical`` times the feed's ``silent_timeout``.

    ``first_seen[kind]`` is when the monitor first saw the kind running: a kind that
    never delivered anything ages from there. A kind seen running that the feed still
    wants keeps its check while it does not run (a reconnect, markets not loading):
    its data keeps aging, so it goes warning, then critical, instead of vanishing."""
    if status is None:
        return []
    kinds = watched_kinds(status, ex, cfg, first_seen)
    warn = cfg.data_age_warning * ex.silent_timeout
    crit = cfg.data_age_critical * ex.silent_timeout
    out = []
    for kind in kinds:
        name = f"data:{ex.name}:{kind}"
        if status.state == "paused":
            out.append(_check(name, "data", "ok", None, warn, f"{kind}: paused by operator", "s"))
            continue
        last = status.last_by_kind.get(kind)
        since = last if last is not None else first_seen.get(kind, now)
        age = max(0.0, now - since)
        st, threshold = grade(age, warn, crit)
        what = f"newest {kind} message {age:.1f}s old" if last else f"no {kind} yet ({age:.0f}s)"
        mode = status.modes.get(kind) or f"not running: feed {status.state}"
        out.append(_check(name, "data", st, age, threshold, f"{what} ({mode})", "s"))
    return out


def watched_kinds(
    status: FeedStatus, ex: ExchangeConfig, cfg: HealthConfig, first_seen: Mapping[str, float]
) -> list[str]:
    """The data kinds of one feed whose freshness counts: those running now, and those
    seen running before that the feed's config still asks for (a feed between two
    connections runs none)."""
    return [
        k
        for k in cfg.freshness_kinds
        if k in status.modes or (k in first_seen and configured_kind(ex, k))
    ]


def configured_kind(ex: ExchangeConfig, kind: str) -> bool:
    """Whether the feed's config asks for ``kind`` (candles need a timeframe)."""
    return kind in ex.kinds and (kind != "ohlcv" or bool(ex.timeframes))


def memory_check(m: MemoryReading, cfg: HealthConfig) -> HealthCheck:
    rss, rss_t = grade(m.rss_mb, cfg.rss_warning_mb, cfg.rss_critical_mb)
    sys_, _ = grade(m.system_pct, cfg.system_memory_warning_pct, cfg.system_memory_critical_pct)
    return _check(
        "memory",
        "memory",
        worst(rss, sys_),
        m.rss_mb,
        rss_t,
        f"process RSS {m.rss_mb:.0f} MB; system {m.system_pct:.0f}% used "
        f"({m.system_available_mb:.0f} MB available)",
        "MB",
    )


def cpu_check(pct: float, cfg: HealthConfig) -> HealthCheck:
    status, threshold = grade(pct, cfg.cpu_warning_pct, cfg.cpu_critical_pct)
    return _check("cpu", "cpu", status, pct, threshold, f"process CPU {pct:.0f}% of one core", "%")


def disk_check(readings: Sequence[DiskReading], cfg: HealthConfig) -> HealthCheck:
    if not readings:
        return _check("disk", "disk", "ok", None, None, "no directories to check", "%")
    statuses: list[HealthStatus] = []
    parts = []
    for r in readings:
        if not r.writable or r.free_pct is None:
            statuses.append("critical")
            parts.append(f"{r.path}: not writable ({r.error})")
            continue
        st, _ = grade(
            r.free_pct, cfg.disk_free_warning_pct, cfg.disk_free_critical_pct, lower_is_worse=True
        )
        statuses.append(st)
        parts.append(f"{r.path}: {r.free_pct:.1f}% free ({r.free_mb:.0f} MB)")
    free = [r.free_pct for r in readings if r.free_pct is not None]
    lowest = min(free) if free else None
    status = worst(*statuses)
    threshold = cfg.disk_free_critical_pct if status == "critical" else cfg.disk_free_warning_pct
    return _check("disk", "disk", status, lowest, threshold, "; ".join(parts), "% free")


def _ago(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def backups_check(
    view: Mapping[str, Any] | None, cfg: HealthConfig, now: float, started: float
) -> HealthCheck:
    """Missed scheduled backups, from the backup actor's ``backups`` view (its
    catalogue and schedule): per scheduled kind, the cron times more than
    ``backup_grace`` ago since the newest completed backup covering the kind
    (:data:`COVERED_BY`), or since ``started`` when there is none. The value is the
    most runs missed by one kind. A failed run raises its own alert (the backup
    actor's); this notices the runs that never happened (scheduler stuck, daemon down
    at that hour, every run failing)."""
    if view is None:
        return _check("backups", "backup", "ok", None, None, "no backup actor in this daemon")
    schedule: Mapping[str, Any] = view.get("schedule") or {}
    if not schedule:
        return _check("backups", "backup", "ok", 0, None, "no backups scheduled", "missed")
    rows = view.get("backups") or []
    most = 0
    parts = []
    for kind, entry in sorted(schedule.items()):
        cover = COVERED_BY.get(kind, frozenset({kind}))
        done = [b.created for b in rows if b.status == "completed" and b.kind in cover]
        newest = max(done, default=None)
        since = newest if newest is not None else started
        missed = fires_between(
            str(entry["cron"]), since, now - cfg.backup_grace, cfg.backup_missed_critical
        )
        most = max(most, len(missed))
        text = (
            f"no {kind} backup yet"
            if newest is None
            else f"{kind}: newest {_ago(now - newest)} ago"
        )
        if missed:
            first = time.strftime("%Y-%m-%d %H:%M", time.localtime(missed[0]))
            more = "+" if len(missed) >= cfg.backup_missed_critical else ""
            text += f", missed {len(missed)}{more} scheduled run(s) since {first}"
        parts.append(text)
    status, threshold = grade(most, cfg.backup_missed_warning, cfg.backup_missed_critical)
    return _check("backups", "backup", status, most, threshold, "; ".join(parts), "missed")


def error_rate_check(logged: float, failed: float, cfg: HealthConfig) -> HealthCheck:
    """Errors logged plus failed requests (HTTP 5xx, socket internal) in the last minute."""
    total = logged + failed
    status, threshold = grade(total, cfg.error_rate_warning, cfg.error_rate_critical)
    return _check(
        "error_rate",
        "errors",
        status,
        total,
        threshold,
        f"{logged:.0f} errors logged, {failed:.0f} failed requests in the last minute",
        "/min",
    )


def actors_check(actors: Sequence[Mapping[str, Any]], recent_restarts: int) -> HealthCheck:
    """Failed actors are critical; restarting ones, or restarts lately, a warning."""
    failed = [str(a["name"]) for a in actors if a.get("state") == "failed"]
    restarting = [str(a["name"]) for a in actors if a.get("state") == "restarting"]
    total = sum(int(a.get("restarts") or 0) for a in actors)
    if failed:
        errs = "; ".join(
            f"{a['name']}: {a.get('last_error') or '?'}" for a in actors if a["name"] in failed
        )
        return _check(
            "actors", "actors", "critical", len(failed), 0,
            f"failed (past the restart limit): {errs}",
        )  # fmt: skip
    if restarting or recent_restarts:
        which = ", ".join(restarting) or f"{recent_restarts} restarts in the last minute"
        return _check(
            "actors", "actors", "warning", total, 0, f"restarting: {which} ({total} restarts)"
        )
    return _check(
        "actors", "actors", "ok", total, 0, f"{len(actors)} actors running, {total} restarts"
    )


def loop_check(worst_lag_s: float, last_lag_s: float, cfg: HealthConfig) -> HealthCheck:
    ms = worst_lag_s * 1000
    status, threshold = grade(ms, cfg.loop_lag_warning_ms, cfg.loop_lag_critical_ms)
    return _check(
        "event_loop",
        "actors",
        status,
        ms,
        threshold,
        f"worst timer lateness {ms:.0f} ms in the last 30 s (now {last_lag_s * 1000:.0f} ms)",
        "ms",
    )


def bus_check(drops_per_min: float, worst_subscriber: str | None, cfg: HealthConfig) -> HealthCheck:
    """Messages the actors' own subscriptions lost (socket clients' drops do not count:
    a slow client losing data is by design and its own business)."""
    status, threshold = grade(drops_per_min, cfg.bus_drops_warning, cfg.bus_drops_critical)
    who = f" (most: {worst_subscriber})" if worst_subscriber else ""
    return _check(
        "bus",
        "actors",
        status,
        drops_per_min,
        threshold,
        f"{drops_per_min:.0f} messages dropped by actors' queues in the last minute{who}",
        "/min",
    )
