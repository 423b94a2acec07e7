"""Delivery to receivers the test runs: retries, Retry-After, refusals, secrets."""

from __future__ import annotations

import logging
import os

import pytest

from tests.alerts.helpers import (
    Receiver,
    alert_specs,
    alerts_config,
    condition,
    manager,
    publish,
    receivers,
    running_daemon,
    wait_until,
    webhook,
)
from tests.harness import short_tmpdir, test_config
from virtuoso_daemon.core.config import ConfigError

FAST = {"backoff_initial": 0.05, "backoff_max": 0.2}


async def test_a_500_is_retried_with_backoff_until_delivered_under_one_key() -> None:
    hook = Receiver(script=[(500, {}), (503, {})])
    async with receivers(hook):
        async with running_daemon(
            alerts_config([webhook("hook", hook, **FAST)]), alert_specs()
        ) as d:
            await publish(d, condition())
            await wait_until(lambda: len(hook.received) == 1)
            stats = manager(d).couriers["hook"].stats()
    assert hook.attempts == 3
    assert len(set(hook.keys)) == 1  # every attempt carries the same idempotency key
    assert stats["delivered"] == 1 and stats["retries"] == 2


async def test_a_429_is_retried_after_its_retry_after() -> None:
    hook = Receiver(script=[(429, {"Retry-After": "1"})])
    async with receivers(hook):
        async with running_daemon(
            alerts_config([webhook("hook", hook, **FAST)]), alert_specs()
        ) as d:
            await publish(d, condition())
            await wait_until(lambda: len(hook.received) == 1, timeout=5)
    first, second = hook.attempt_times
    assert second - first >= 0.95  # not the 0.05 s backoff


async def test_telegrams_retry_after_in_the_body_is_honoured() -> None:
    from virtuoso_daemon.alerts.delivery import retry_after

    body = b'{"ok":false,"error_code":429,"parameters":{"retry_after":7}}'
    assert retry_after({}, body, 0.0) == 7.0
    assert retry_after({"Retry-After": "3"}, body, 0.0) == 3.0
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, b"", 1445412480.0) == 10


async def test_a_4xx_other_than_429_is_marked_failed_and_not_retried() -> None:
    hook = Receiver(default=404)
    async with receivers(hook):
        async with running_daemon(
            alerts_config([webhook("hook", hook, **FAST)]), alert_specs()
        ) as d:
            await publish(d, condition())
            m = manager(d)
            await wait_until(lambda: m.couriers["hook"].failed == 1)
            alert_id = next(iter(m.lifecycle.open.values())).id
            deliveries = m.store.deliveries(alert_id)  # type: ignore[union-attr]
            await publish(d, condition("ETH/USDT"))  # the courier is still working
            await wait_until(lambda: hook.attempts == 2)
    assert deliveries[0]["state"] == "failed" and deliveries[0]["last_status"] == 404
    assert deliveries[0]["attempts"] == 1


async def test_after_max_attempts_a_message_is_failed() -> None:
    hook = Receiver(default=500)
    async with receivers(hook):
        cfg = alerts_config([webhook("hook", hook, max_attempts=3, **FAST)])
        async with running_daemon(cfg, alert_specs()) as d:
            await publish(d, condition())
            await wait_until(lambda: manager(d).couriers["hook"].failed == 1)
    assert hook.attempts == 3


async def test_the_rate_limit_spaces_messages_to_one_destination() -> None:
    hook = Receiver()
    async with receivers(hook):
        cfg = alerts_config([webhook("hook", hook, rate_limit=240.0)])  # one per 0.25 s
        async with running_daemon(cfg, alert_specs()) as d:
            await publish(d, *(condition(f"S{i}/USDT") for i in range(3)))
            await wait_until(lambda: len(hook.received) == 3)
    gaps = [b - a for a, b in zip(hook.attempt_times, hook.attempt_times[1:], strict=False)]
    assert min(gaps) >= 0.24


async def test_secrets_come_from_files_or_env_and_never_reach_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = Receiver(default=500)
    tmp = short_tmpdir()
    async with receivers(hook):
        secret_url = f"http://127.0.0.1:{hook.port}/hook/s3cr3t-path"
        (tmp / "url").write_text(secret_url + "\n")
        os.environ["VT_ALERT_TOKEN"] = "999:tok3n"
        try:
            cfg = test_config(
                tmp,
                alerts={
                    "group_wait": 0,
                    "tick": 0.02,
                    "destinations": [
                        {"name": "file", "webhook_url_file": str(tmp / "url"), **FAST},
                        {
                            "name": "tg",
                            "type": "telegram",
                            "bot_token_env": "VT_ALERT_TOKEN",
                            "chat_id": "1",
                            "api_url": f"http://127.0.0.1:{hook.port}",
                            **FAST,
                        },
                    ],
                },
            )
        finally:
            del os.environ["VT_ALERT_TOKEN"]
        assert cfg.alerts.destinations[0].webhook_url == secret_url
        assert cfg.alerts.destinations[1].bot_token == "999:tok3n"
        with caplog.at_level(logging.DEBUG):
            async with running_daemon(cfg, alert_specs()) as d:
                await publish(d, condition())
                await wait_until(lambda: hook.attempts >= 4)
                status = str(manager(d).stats())
    text = caplog.text + status
    assert "s3cr3t" not in text and "tok3n" not in text
    assert "not delivered" in caplog.text


@pytest.mark.parametrize(
    ("dest", "key"),
    [
        ({"name": "a", "webhook_url": "ftp://example.com/x"}, "alerts.destinations[0].webhook_url"),
        ({"name": "a", "webhook_url": "example.com/hook"}, "alerts.destinations[0].webhook_url"),
        ({"name": "a"}, "alerts.destinations[0].webhook_url"),
        (
            {"name": "a", "type": "telegram", "bot_token": "1:x", "chat_id": "1", "api_url": "x"},
            "alerts.destinations[0].api_url",
        ),
        ({"name": "a", "type": "telegram", "chat_id": "1"}, "alerts.destinations[0].bot_token"),
        ({"name": "a", "webhook_url_env": "VT_NOT_SET_ANYWHERE"}, "webhook_url_env"),
        ({"name": "a", "webhook_url": "http://x", "rate_limit": 0}, "rate_limit"),
    ],
)
def test_a_bad_destination_is_a_config_error_naming_the_key(dest: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        test_config(alerts={"destinations": [dest]})
    assert key in str(err.value)
    assert "example.com" not in str(err.value)  # the URL may hold a secret


async def test_a_receiver_that_never_answers_times_out_and_the_message_is_retried() -> None:
    hook = Receiver(hang=True)
    async with receivers(hook):
        cfg = alerts_config([webhook("hook", hook, timeout=0.2, max_attempts=2, **FAST)])
        async with running_daemon(cfg, alert_specs()) as d:
            await publish(d, condition())
            courier = manager(d).couriers["hook"]
            await wait_until(lambda: courier.failed == 1)
    assert hook.attempts == 2
    assert courier.last_error == "TimeoutError"
