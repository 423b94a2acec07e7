"""Which actors make up a daemon, in what dependency order.

This is the one place that knows the whole tree; later actors (feeds, store, cache,
beta, signals, health, backup, control socket) register here.
"""

from __future__ import annotations

from .actors.http_api import HttpApiActor
from .runtime import Runtime
from .supervisor import ActorSpec


def build_specs(runtime: Runtime) -> list[ActorSpec]:
    specs: list[ActorSpec] = []
    specs.append(ActorSpec("http_api", HttpApiActor))
    return specs
