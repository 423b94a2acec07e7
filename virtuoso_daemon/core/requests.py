"""Typed requests to an owning actor: one struct per question, a tagged union per owner.

An actor that owns state answers requests on its topic (``Topics.FEED_COMMANDS``,
``Topics.STORE_QUERIES`` ...). Each request is a :class:`Args` struct tagged with its
command name (``PauseFeed`` is ``"feeds.pause"``); the owner declares the union of the
requests it serves next to its actor and dispatches on the struct with ``match``, as
msgspec's ``asyncio-kv`` example does. The control socket decodes a command's ``args``
straight into the same struct and forwards it as it is, so nothing is converted to a
dict and back on the way.
"""

from __future__ import annotations

import msgspec


class Args(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base of every argument struct (queries and requests): unknown fields are an
    error, so a typo never passes silently."""


class NoArgs(Args, frozen=True):
    """For questions without arguments."""


def command_name(body: object) -> str:
    """The command a request struct stands for (its tag), or its class name."""
    config = getattr(type(body), "__struct_config__", None)
    tag = getattr(config, "tag", None)
    return str(tag) if tag is not None else type(body).__name__
