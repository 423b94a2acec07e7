"""Pointing ccxt at the simulator: URL overrides and a ready-made exchange factory.

Binance dialect: :func:`ccxt_overrides` / :func:`make_ccxt_exchange`; OKX dialect:
:func:`okx_overrides` / :func:`make_okx_exchange` (``ccxt.okx``: ``urls.api.rest`` and
``urls.api.ws``).

Only ``urls['api']`` entries (REST and ``ws``) and options are overridden; no ccxt
method is patched. ccxt decides spot-or-not from the websocket URL (a spot URL must
contain ``/stream``) and rewrites a linear base ending in ``/ws`` to
``<prefix>/public/ws`` or ``<prefix>/market/ws``, which the simulator serves under
``/fstream``.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

Market = Literal["spot", "linear"]


def _deep_merge(into: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
    return into


def ccxt_overrides(base_url: str, market: Market) -> dict[str, Any]:
    """The config fragment (``urls`` and ``options``) to deep-merge into a ccxt binance
    (``market="spot"``) or binanceusdm (``market="linear"``) constructor config.

    REST and websocket URLs for both markets are included, so one ``ccxt.binance``
    with ``options.fetchMarkets.types = ['spot', 'linear']`` works too.
    """
    if market not in ("spot", "linear"):
        raise ValueError(f"market must be 'spot' or 'linear', not {market!r}")
    base = base_url.rstrip("/")
    ws = "ws" + base[4:] if base.startswith("http") else base
    api: dict[str, Any] = {
        "public": f"{base}/api/v3",
        "private": f"{base}/api/v3",
        "v1": f"{base}/api/v1",
        "fapiPublic": f"{base}/fapi/v1",
        "fapiPublicV2": f"{base}/fapi/v2",
        "fapiPublicV3": f"{base}/fapi/v3",
        "fapiPrivate": f"{base}/fapi/v1",
        "fapiPrivateV2": f"{base}/fapi/v2",
        "fapiPrivateV3": f"{base}/fapi/v3",
        "fapiData": f"{base}/futures/data",
        "ws": {
            "spot": f"{ws}/ws/stream",
            "margin": f"{ws}/ws/stream",
            "linear": f"{ws}/fstream/ws",
        },
    }
    types = ["spot"] if market == "spot" else ["linear"]
    return {
        "urls": {"api": api},
        "options": {"fetchMarkets": {"types": types}, "fetchCurrencies": False},
    }


def make_ccxt_exchange(
    base_url: str, market: Market, *, pro: bool = True, **extra_config: Any
) -> Any:
    """A ccxt exchange configured against the simulator.

    ``market="spot"``: ``ccxt.pro.binance`` (``ccxt.async_support.binance`` when
    ``pro=False``); ``market="linear"``: ``binanceusdm`` from the same module. Extra
    config is deep-merged over the overrides. The caller must ``await ex.close()``.
    """
    config = _deep_merge(ccxt_overrides(base_url, market), extra_config)
    if pro:
        import ccxt.pro as module
    else:
        import ccxt.async_support as module
    cls = module.binance if market == "spot" else module.binanceusdm
    return cls(config)


def okx_overrides(base_url: str, market: Market) -> dict[str, Any]:
    """The config fragment for a ccxt ``okx`` on the simulator's OKX dialect: spot
    (``market="spot"``) or USDT swaps (``market="linear"``)."""
    if market not in ("spot", "linear"):
        raise ValueError(f"market must be 'spot' or 'linear', not {market!r}")
    base = base_url.rstrip("/")
    ws = "ws" + base[4:] if base.startswith("http") else base
    return {
        "urls": {"api": {"rest": base, "ws": f"{ws}/ws/v5"}},
        "options": {
            "fetchMarkets": {"types": ["spot" if market == "spot" else "swap"]},
            "defaultType": "spot" if market == "spot" else "swap",
        },
    }


def make_okx_exchange(
    base_url: str, market: Market, *, pro: bool = True, **extra_config: Any
) -> Any:
    """A ccxt ``okx`` configured against the simulator's OKX dialect (close it)."""
    config = _deep_merge(okx_overrides(base_url, market), extra_config)
    if pro:
        import ccxt.pro as module
    else:
        import ccxt.async_support as module
    return module.okx(config)
