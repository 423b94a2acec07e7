"""The system area's writes over HTTP: the same answer and error code as the socket."""

from __future__ import annotations

import aiohttp
import msgspec
import pytest

from tests.control.helpers import control_specs
from tests.harness import running_daemon, short_tmpdir, test_config
from virtuoso_daemon.protocol import CommandError, ControlClient


async def test_post_reload_rereads_the_file_and_a_bad_file_is_422_like_the_socket() -> None:
    cfg = test_config()
    path = short_tmpdir() / "virtuoso.toml"
    async with (
        running_daemon(cfg, control_specs()) as d,
        ControlClient.connect(d.runtime.socket_path) as client,
        aiohttp.ClientSession() as http,
    ):
        d.runtime.config_path = path
        d.runtime.overrides = {
            k: v for k, v in msgspec.to_builtins(cfg).items() if k not in ("bus", "exchanges")
        }
        path.write_text("[bus]\nlossy_queue = 4096\n")
        async with http.post(d.base_url + "/api/system/reload") as resp:
            assert resp.status == 200
            assert await resp.json() == {
                "changed": ["bus"],
                "restart_required": ["bus.lossy_queue"],
            }
        path.write_text("[bus]\nlossy_queue = 'many'\n")
        async with http.post(d.base_url + "/api/system/reload") as resp:
            assert resp.status == 422
            error = (await resp.json())["error"]
        with pytest.raises(CommandError) as info:
            await client.call("config.reload")
    assert error["code"] == info.value.code == "config_error"
    assert error["message"] == info.value.message and "bus.lossy_queue" in error["message"]
    assert d.runtime.config.bus.lossy_queue == 4096
