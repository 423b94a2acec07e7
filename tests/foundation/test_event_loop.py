"""The event-loop choice: uvloop for the daemon, the HTTP thread on the same kind."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from virtuoso_daemon.core.config import ConfigError, load_config
from virtuoso_daemon.core.event_loop import anyio_backend_options, loop_name, new_loop_like


def test_uvloop_is_the_default_and_asyncio_can_be_chosen() -> None:
    assert load_config(None, environ={}).daemon.event_loop == "uvloop"
    assert anyio_backend_options("uvloop") == {"use_uvloop": True}
    assert anyio_backend_options("asyncio") == {}


def test_an_unknown_event_loop_names_the_key_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"daemon\.event_loop.*uvloop.*asyncio"):
        load_config(None, environ={}, overrides={"daemon": {"event_loop": "trio"}})


@pytest.mark.parametrize("make", [uvloop.new_event_loop, asyncio.new_event_loop])
def test_a_new_loop_is_of_the_same_kind_as_the_main_loop(make: object) -> None:
    main = make()  # type: ignore[operator]
    other = new_loop_like(main)
    try:
        assert loop_name(other) == loop_name(main)
        assert type(other) is type(main)
    finally:
        main.close()
        other.close()
