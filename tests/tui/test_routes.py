"""How data enters the TUI: every topic has a handler in the app's route table, and
command answers are decoded into the daemon's message structs (what does not fit is
left out, the rest kept)."""

from __future__ import annotations

import msgspec

from tests.tui.fakes import FakeClient, correlation, ticker
from tui import answers
from tui.app import create_app
from tui.events import LiveData
from tui.live import DEFAULT_TOPICS, SNAPSHOTS
from virtuoso_daemon.core.messages import Alert, CorrelationSnapshot, Ticker
from virtuoso_daemon.protocol import BYE_TOPIC, DROPPED_TOPIC


def test_every_topic_the_live_loop_posts_has_a_handler() -> None:
    app = create_app(FakeClient())
    posted = {*DEFAULT_TOPICS, "orderbook", "trades", DROPPED_TOPIC, BYE_TOPIC, "unavailable"}
    posted |= {s.topic for s in SNAPSHOTS}
    posted.discard("tickers")  # the conflator's, drained once per frame
    assert posted - app.routes.keys() == set()


def test_answers_become_structs_and_what_does_not_fit_is_left_out() -> None:
    good = msgspec.to_builtins(ticker("binance", "BTC/USDT", 0, 0))
    decoded = answers.tickers({"tickers": [good, {"exchange": "binance"}, "junk"]})
    assert decoded == [ticker("binance", "BTC/USDT", 0, 0)]
    assert all(type(t) is Ticker for t in decoded)
    corr = answers.correlation(correlation())
    assert isinstance(corr, CorrelationSnapshot)
    # the answer's symbols and matrix are already in display order
    assert corr.order == list(range(len(corr.symbols)))


def test_a_payload_of_another_type_is_ignored_by_the_topics_handler() -> None:
    app = create_app(FakeClient())
    app.on_live_data(LiveData("alerts", {"id": "a1", "kind": "price_move"}))  # not typed
    app.on_live_data(LiveData("alerts", ticker("binance", "BTC/USDT", 0, 0)))  # wrong type
    assert app.alerts.alerts == {}
    alert = Alert(
        id="a1", kind="price_move", severity="warning", exchange=None, symbol=None,
        message="BTC moved", ts=1.0,
    )  # fmt: skip
    app.on_live_data(LiveData("alerts", alert))
    assert app.alerts.alerts == {"a1": alert}
