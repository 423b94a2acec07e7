"""Response helpers: JSON via msgspec, and pre-encoded bodies from views."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

_encode = msgspec.json.Encoder().encode


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=_encode(data), content_type="application/json")


def bytes_response(body: bytes, status: int = 200) -> web.Response:
    """Serve bytes that are already JSON (a view's encoded snapshot)."""
    return web.Response(status=status, body=body, content_type="application/json")
