"""Which conditions are active, so that each is published when it starts, changes
severity or ends -- and one-off events, which carry a key of their own."""

from __future__ import annotations

from virtuoso_daemon.core.messages import Condition, Severity

Values = dict[str, float | str | None]


class ConditionBook:
    """Active state conditions by key (the detectors' memory of what they said)."""

    def __init__(self) -> None:
        self.active: dict[str, Severity] = {}

    def update(
        self,
        key: str,
        kind: str,
        severity: Severity | None,
        *,
        exchange: str | None,
        symbol: str | None,
        message: str,
        values: Values,
        ts: float,
    ) -> Condition | None:
        """The Condition to publish for this reading (None: nothing changed).

        ``severity=None`` means the condition does not hold (now).
        """
        prev = self.active.get(key)
        if severity is None:
            if prev is None:
                return None
            del self.active[key]
            return Condition(
                key=key,
                kind=kind,
                severity=prev,
                active=False,
                exchange=exchange,
                symbol=symbol,
                message=message,
                values=values,
                ts=ts,
            )
        if prev == severity:
            return None
        self.active[key] = severity
        return Condition(
            key=key,
            kind=kind,
            severity=severity,
            exchange=exchange,
            symbol=symbol,
            message=message,
            values=values,
            ts=ts,
        )

    def forget(self, prefix: str) -> None:
        for key in [k for k in self.active if k.startswith(prefix)]:
            del self.active[key]


def event(
    key: str,
    kind: str,
    severity: Severity,
    *,
    exchange: str | None,
    symbol: str | None,
    message: str,
    values: Values,
    ts: float,
) -> Condition:
    """A one-off happening: published once, never resolved (``event=True``)."""
    return Condition(
        key=key,
        kind=kind,
        severity=severity,
        exchange=exchange,
        symbol=symbol,
        message=message,
        values=values,
        ts=ts,
        event=True,
    )
