"""The vocabulary every config section is written in: the base struct (unknown keys are
an error), the ranged number types (``msgspec.Meta``: validation is the one place that
says no) and the names shared by loading, validation and redaction."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

LogFormat = Literal["json", "text"]
LogLevel = Literal["debug", "info", "warning", "error"]
MarketType = Literal["spot", "linear"]
EventLoopName = Literal["uvloop", "asyncio"]

SECRET_FIELDS = frozenset(
    {
        "token",
        "read_token",
        "api_key",
        "secret",
        "password",
        "webhook_url",
        "backup_key",
        "bot_token",
    }
)
REDACTED = "***"
ENV_PREFIX = "VIRTUOSO_"


# Ranges live in the types (msgspec ``Meta``), so validation is the one place that says
# no; ``extra={"unit": ...}`` only words the error ("expected seconds > 0, got 0").
_SECONDS = {"unit": "seconds"}
Seconds = Annotated[float, msgspec.Meta(gt=0, extra=_SECONDS)]  # a period or timeout
SecondsOrOff = Annotated[float, msgspec.Meta(ge=0, extra=_SECONDS)]  # 0 = off
Count = Annotated[int, msgspec.Meta(ge=1)]  # sizes, counts, limits
CountOrNone = Annotated[int, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]  # 0 = any free port
PeerPort = Annotated[int, msgspec.Meta(ge=1, le=65535)]  # a port we connect to
Positive = Annotated[float, msgspec.Meta(gt=0)]
UNIX_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL


class Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for config sections: unknown keys are an error, not silently ignored."""


def per_timeframe(setting: int | dict[str, int], timeframe: str, default: int) -> int:
    """A setting given as one number or as a table by timeframe (``"*"``: the others)."""
    if isinstance(setting, int):
        return setting
    return setting.get(timeframe, setting.get("*", default))
