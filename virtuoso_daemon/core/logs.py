"""Logging: one line per event, JSON or text, tagged with the actor that logged it.

The supervisor sets :data:`current_actor` in each actor's task; contextvars flow into
child tasks, so every log line from inside an actor carries its name without the
actor passing it around. Output goes to stderr, which journald captures as-is.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Callable

import msgspec

current_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_actor", default=None
)

_json = msgspec.json.Encoder()


class ActorFilter(logging.Filter):
    """Adds ``record.actor`` from the current task's context."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "actor"):
            record.actor = current_actor.get()
        return True


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "actor", "msg"[, "exc"]}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "actor": getattr(record, "actor", None),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return _json.encode(doc).decode()


class TextFormatter(logging.Formatter):
    """``LEVEL [actor] logger: message`` (journald adds its own timestamp)."""

    def format(self, record: logging.LogRecord) -> str:
        actor = getattr(record, "actor", None) or "-"
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname:<7} [{actor}] {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class CallbackHandler(logging.Handler):
    """Forwards records to a callback (the control socket's ``logs`` topic)."""

    def __init__(self, callback: Callable[[logging.LogRecord], None], level: int) -> None:
        super().__init__(level)
        self.callback = callback

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.callback(record)
        except Exception:  # a broken subscriber must never break logging
            self.handleError(record)


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_virtuoso", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._virtuoso = True  # type: ignore[attr-defined]
    handler.addFilter(ActorFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    set_level(level)


def set_level(level: str) -> None:
    """The process's log level (start-up and every config reload)."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    # ccxt and aiohttp are chatty at debug; keep their noise out unless asked
    for name in ("ccxt", "aiohttp.access", "asyncio"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
