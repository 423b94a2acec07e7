"""One formatter per destination type: a group of alerts -> the JSON body to POST.

Why per type: a generic webhook wants every field (machines read it); Discord wants
``content`` and ``embeds`` (at most 10, 2 000 characters of content), Slack ``text``
and ``blocks``, Telegram's Bot API ``sendMessage`` a ``chat_id`` and at most 4 096
characters of HTML-escaped text. Every body carries the message's idempotency key
(the webhook as a field, the chat services in the footer) so a receiver can tell a
redelivery after a crash from a new message. Pure functions, no I/O.
"""

from __future__ import annotations

import html
import time
from typing import Any

import msgspec

from virtuoso_daemon.alerts.store import OutboxMessage
from virtuoso_daemon.core.config import AlertDestination
from virtuoso_daemon.core.messages import Alert

_COLOURS = {"info": 0x3498DB, "warning": 0xF1C40F, "critical": 0xE74C3C}
_ICONS = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}  # noqa: RUF001
DISCORD_EMBEDS = 10
DISCORD_CONTENT = 2000
SLACK_BLOCKS = 48
TELEGRAM_TEXT = 4096


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _numbers(alert: Alert) -> str:
    return ", ".join(f"{k}={v}" for k, v in alert.data.items() if v is not None)


def title(alert: Alert) -> str:
    """``[RESOLVED] critical price_move binance BTC/USDT``."""
    status = "RESOLVED" if alert.status == "resolved" else alert.event.upper()
    where = " ".join(x for x in (alert.exchange, alert.symbol) if x)
    return f"[{status}] {alert.severity} {alert.kind} {where}".rstrip()


def summary(msg: OutboxMessage) -> str:
    resolved = sum(a.status == "resolved" for a in msg.alerts)
    firing = len(msg.alerts) - resolved
    parts = [f"{firing} firing"] if firing else []
    if resolved:
        parts.append(f"{resolved} resolved")
    return f"Virtuoso alerts ({msg.group_key or 'all'}): {', '.join(parts)}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def webhook(msg: OutboxMessage) -> dict[str, Any]:
    return {
        "idempotency_key": msg.msg_id,
        "group_key": msg.group_key,
        "created": msg.created,
        "count": len(msg.alerts),
        "alerts": msgspec.to_builtins(msg.alerts),
    }


def discord(msg: OutboxMessage) -> dict[str, Any]:
    shown = msg.alerts[:DISCORD_EMBEDS]
    embeds = [
        {
            "title": _cut(title(a), 256),
            "description": _cut(a.message, 4096),
            "color": 0x2ECC71 if a.status == "resolved" else _COLOURS.get(a.severity, 0),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(a.ts)),
            "fields": [
                {"name": _cut(str(k), 256), "value": _cut(str(v), 1024), "inline": True}
                for k, v in list(a.data.items())[:25]
                if v is not None
            ],
        }
        for a in shown
    ]
    more = len(msg.alerts) - len(shown)
    content = summary(msg) + (f" (+{more} more)" if more else "") + f" · key {msg.msg_id[:12]}"
    return {
        "content": _cut(content, DISCORD_CONTENT),
        "embeds": embeds,
        "allowed_mentions": {"parse": []},
    }


def slack(msg: OutboxMessage) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(summary(msg), 150)}}
    ]
    for a in msg.alerts[: SLACK_BLOCKS - 2]:
        text = f"*{title(a)}*\n{a.message}"
        if a.data:
            text += f"\n`{_numbers(a)}`"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}})
    more = len(msg.alerts) - (len(blocks) - 1)
    footer = f"key {msg.msg_id[:12]}" + (f" · +{more} more" if more > 0 else "")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return {"text": summary(msg), "blocks": blocks}


def telegram_text(msg: OutboxMessage) -> str:
    lines = [f"<b>{html.escape(summary(msg))}</b>"]
    for a in msg.alerts:
        icon = _ICONS.get(a.severity, "")
        line = f"{icon} <b>{html.escape(title(a))}</b>\n{html.escape(a.message)}"
        if a.data:
            line += f"\n<code>{html.escape(_numbers(a))}</code>"
        lines.append(line)
    footer = f"\n<i>{_when(msg.created)} · key {msg.msg_id[:12]}</i>"
    text = "\n".join(lines)
    if len(text) + len(footer) > TELEGRAM_TEXT:
        # cut at a line boundary: a cut inside a tag is rejected by the Bot API
        kept: list[str] = []
        size = len(footer) + 32
        for line in lines:
            if size + len(line) + 1 > TELEGRAM_TEXT:
                break
            kept.append(line)
            size += len(line) + 1
        text = "\n".join(kept) + f"\n… +{len(lines) - len(kept)} more"
    return text + footer


def request(dest: AlertDestination, msg: OutboxMessage) -> tuple[str, dict[str, Any]]:
    """The URL (which may hold a secret: never log it) and the JSON body for ``dest``."""
    if dest.type == "telegram":
        url = f"{dest.api_url.rstrip('/')}/bot{dest.bot_token}/sendMessage"
        body = {
            "chat_id": dest.chat_id,
            "text": telegram_text(msg),
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }
        return url, body
    if dest.type == "discord":
        return dest.webhook_url, discord(msg)
    if dest.type == "slack":
        return dest.webhook_url, slack(msg)
    return dest.webhook_url, webhook(msg)
