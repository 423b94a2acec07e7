"""History pages go on a lossless topic: a slow consumer makes the backfill wait, and
no page is dropped (they were, on the lossy candles topic, once the store fell behind)."""

from __future__ import annotations

import anyio
import anyio.lowlevel

from virtuoso_daemon.core.bus import Bus, Topics
from virtuoso_daemon.core.config import ExchangeConfig, load_config
from virtuoso_daemon.core.messages import CandleBatch
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.feeds.context import FeedContext

ROWS = [(60_000 * i, 1.0, 2.0, 0.5, 1.5, 10.0) for i in range(3)]


def test_the_history_topic_is_lossless() -> None:
    assert not Bus.is_lossy(Topics.CANDLE_HISTORY)
    assert Bus.is_lossy(Topics.CANDLES)


async def test_a_full_history_queue_holds_the_backfill_back_instead_of_dropping() -> None:
    rt = Runtime(config=load_config(None, environ={}))
    ctx = FeedContext(rt, ExchangeConfig(name="ex", symbols=["BTC/USDT"]))
    ctx.set_symbols(["BTC/USDT"])
    published = 0

    async def backfill() -> None:
        nonlocal published
        for _ in range(5):
            await ctx.on_candle_batch("BTC/USDT", "1m", ROWS)
            published += 1

    with rt.bus.subscribe(Topics.CANDLE_HISTORY, name="store", maxsize=2) as sub:
        got: list[CandleBatch] = []
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(backfill)
                while published < 2:
                    await anyio.lowlevel.checkpoint()
                for _ in range(20):  # every chance to go on (a lossy publish would have)
                    await anyio.lowlevel.checkpoint()
                assert published == 2  # the third page waits for room
                while len(got) < 5:
                    got.append(await sub.receive())
    assert published == 5 and len(got) == 5 and sub.dropped == 0
    assert all(b.rows == ROWS and b.exchange == "ex" for b in got)
