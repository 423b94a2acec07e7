"""Helpers for the simulator tests: a running sim with a ccxt client, always closed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio

from virtuoso_daemon.sim import SimConfig, Simulator, make_ccxt_exchange


@contextlib.asynccontextmanager
async def exchange(
    base_url: str, market: str, *, pro: bool = True, **config: Any
) -> AsyncIterator[Any]:
    """A ccxt exchange against the sim, closed on exit (unclosed sessions fail tests)."""
    ex = make_ccxt_exchange(base_url, market, pro=pro, **config)  # type: ignore[arg-type]
    try:
        yield ex
    finally:
        await ex.close()


@contextlib.asynccontextmanager
async def sim_and_exchange(
    config: SimConfig, market: str, *, pro: bool = True, **ccxt_config: Any
) -> AsyncIterator[tuple[Simulator, Any]]:
    sim = Simulator(config)
    ccxt_config.setdefault("enableRateLimit", False)  # ccxt's own throttle only slows tests
    async with sim.running() as url, exchange(url, market, pro=pro, **ccxt_config) as ex:
        with anyio.fail_after(20):
            await ex.load_markets()
        yield sim, ex


async def get_json(url: str) -> tuple[int, dict[str, str], Any]:
    with anyio.fail_after(10):
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            body = await resp.read()
            return resp.status, dict(resp.headers), body
