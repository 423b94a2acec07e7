"""The Virtuoso TUI application and its one factory, :func:`create_app`.

The app is handed a :class:`~tui.client.DaemonClient`; the CLI passes the real socket
client, the tests a real one against a test daemon or a deterministic fake. Data flow:

* :class:`~tui.live.LiveLink` runs in a worker, reads subscriptions and snapshots;
  tickers go into a per-symbol :class:`~tui.model.Conflator`, everything else is
  posted as a Textual message carrying typed data (the protocol's message structs,
  or what :mod:`tui.answers` decoded a snapshot answer into);
* one table, topic -> handler (:meth:`VirtuosoApp._routes`), folds those messages
  into the models (struct updates, no widgets);
* a timer at ``refresh_hz`` drains the conflator and asks the visible screen to
  render what changed, so the cost of drawing is bounded however fast the daemon
  publishes.

Actions that change the daemon (pause, resume, add/remove symbols, reload, shutdown)
go through :meth:`VirtuosoApp.perform`, after a confirmation for destructive ones, and
the daemon's answer is shown as a notification and on the Feeds & system screen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from virtuoso_daemon.core.messages import (
    ActorEvent,
    Alert,
    FeedStatus,
    Funding,
    HealthReport,
    LogRecord,
    Message,
    OrderBookTop,
    Ticker,
    Trade,
)
from virtuoso_daemon.protocol import BYE_TOPIC, DROPPED_TOPIC, Bye, Dropped

from .answers import BetaAnswer, Status
from .client import ClientError, DaemonClient, Disconnected
from .events import LinkChanged, LiveData, Unavailable
from .live import DEFAULT_TOPICS, Backoff, LiveLink, answer_message
from .model import (
    AlertsModel,
    AnalyticsModel,
    Conflator,
    FeedsModel,
    HealthModel,
    MarketModel,
    SystemModel,
    quote_key,
)
from .screens import SCREENS, LivePane
from .screens.dialogs import ConfirmDialog, SymbolsDialog
from .screens.help import HelpScreen
from .screens.market import MarketPane
from .screens.system import SystemPane, describe_answer, summarise
from .themes import THEMES, resolve_theme
from .widgets.link_bar import LinkBar

# error codes meaning "this daemon does not have that command (yet)"
UNKNOWN_COMMAND_CODES = frozenset({"unknown_command", "not_found", "unknown", "unsupported"})


T = TypeVar("T")


def _typed(kind: type[T], handler: Callable[[T], object]) -> Callable[[Any], None]:
    """``handler`` for payloads of ``kind`` only:
    anything else (a newer daemon's message the protocol could not type, an answer
    that did not decode) is ignored, as the dict code ignored what it could not read."""

    def handle(data: Any) -> None:
        if isinstance(data, kind):
            handler(data)

    return handle


class VirtuosoApp(App[None]):
    """The operator console. Build it with :func:`create_app`."""

    CSS_PATH = "styles/app.tcss"
    TITLE = "Virtuoso"
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"),
        (120, "-wide"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("ctrl+t", "toggle_theme", "Light/dark"),
        Binding("ctrl+r", "reconnect", "Reconnect"),
        Binding("ctrl+q", "quit", "Quit"),
        *(
            Binding(s.key, f"show_screen('{s.id}')", f"Go to {s.title}", show=False)
            for s in SCREENS
        ),
    ]

    def __init__(
        self,
        client: DaemonClient,
        *,
        theme: str = "dark",
        refresh_hz: float = 5.0,
        throttle_ms: int | None = 200,
        topics: Sequence[str] = DEFAULT_TOPICS,
        status_interval: float = 2.0,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.clock = clock
        self.refresh_hz = refresh_hz
        self.market = MarketModel()
        self.feeds = FeedsModel()
        self.system = SystemModel()
        self.analytics = AnalyticsModel()
        self.health = HealthModel()
        self.alerts = AlertsModel()
        self.conflator = Conflator()
        self.unavailable: dict[str, str] = {}
        self.routes = self._routes()
        self.link = LiveLink(
            client,
            self.post_message,
            self.conflator,
            topics=topics,
            throttle_ms=throttle_ms,
            status_interval=status_interval,
            backoff=backoff,
        )
        self.link_state = "connecting"
        self.link_detail = ""
        self.retry_at: float | None = None
        self.attempt = 0
        self.last_answer: tuple[str, bool, Any] | None = None
        self.dropped_events = 0  # events the daemon dropped for this client (too slow)
        self.connections = 0  # successful connects so far (the first is not a "re")
        self.renders = 0
        self.panes: dict[str, LivePane] = {}
        self.linkbar = LinkBar(id="linkbar")
        self.tabs = TabbedContent(id="main")
        for t in THEMES:
            self.register_theme(t)
        self.theme = resolve_theme(theme)

    @property
    def connected(self) -> bool:
        return self.link_state == "connected"

    # --- layout --------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # kept as attributes: App.query_one looks at the top screen, which may be a dialog
        yield self.linkbar
        with self.tabs:
            for spec in SCREENS:
                with TabPane(f"{spec.key} {spec.title}", id=f"tab-{spec.id}"):
                    pane = spec.pane(id=spec.id)
                    self.panes[spec.id] = pane
                    yield pane
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self.link.run(), name="live", group="live", exclusive=True)
        self.set_interval(1 / self.refresh_hz, self.render_tick, name="render")
        self.render_tick()

    @property
    def active_pane(self) -> LivePane | None:
        active = self.tabs.active
        return self.panes.get(active.removeprefix("tab-"))

    def render_tick(self) -> None:
        """Bring the visible screen and the link bar up to date (runs at ``refresh_hz``)."""
        if not self.is_running:  # shutting down: the widgets are being removed
            return
        self.renders += 1
        self.drain_tickers()
        pane = self.active_pane
        if pane is not None:
            pane.refresh_live()
        self._show_link()

    def _show_link(self) -> None:
        now = self.clock()
        newest = self.market.newest_recv_ts
        self.linkbar.show_link(
            state=self.link_state,
            address=self.client.address,
            version=self.system.daemon_version,
            uptime=self.system.uptime(now),
            symbols=len(self.market.quotes),
            data_age=(now - newest) if newest else None,
            detail=self.link_detail,
            retry_in=max(0.0, self.retry_at - now) if self.retry_at is not None else None,
            attempt=self.attempt,
            health=(self.health.status, self.health.summary) if self.health.status else None,
            alerts=self.alerts.badge(),
        )

    @on(TabbedContent.TabActivated, "#main")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane = self.panes.get((event.pane.id or "").removeprefix("tab-"))
        if pane is not None:
            pane.on_shown()

    # --- data from the live loop ---------------------------------------------------

    def drain_tickers(self) -> int:
        """Apply the newest queued ticker of every symbol to the market model."""
        items = self.conflator.drain()
        apply = self.market.apply_ticker
        for item in items:
            apply(item)
        return len(items)

    def _routes(self) -> dict[str, Callable[[Any], None]]:
        """Topic -> handler: every subscription topic, every snapshot the live loop
        loads, and the protocol's and the live loop's own topics. Each handler takes
        the payload's type (see :func:`_typed`); adding a topic is one line here."""
        market, system = self.market, self.system
        analytics, alerts, health = self.analytics, self.alerts, self.health
        on_analytics = _typed(Message, analytics.apply)
        return {
            # subscriptions (tickers go through the conflator, see drain_tickers)
            "feed_status": _typed(FeedStatus, self._on_feed_status),
            "funding": _typed(Funding, market.apply_funding),
            "orderbook": _typed(OrderBookTop, market.apply_book),
            "trades": _typed(Trade, market.apply_trade),
            "beta": on_analytics,
            "correlation": on_analytics,
            "sentiment": on_analytics,
            "lifecycle": _typed(ActorEvent, system.apply_lifecycle),
            "logs": _typed(LogRecord, system.add_log),
            "alerts": _typed(Alert, alerts.apply),
            "health": _typed(HealthReport, health.apply),
            # the protocol's own
            DROPPED_TOPIC: _typed(Dropped, self._on_dropped),
            BYE_TOPIC: _typed(Bye, self._on_bye),
            # snapshots on (re)connect, decoded by tui.answers
            "snapshot.status": _typed(Status, lambda st: system.replace(st, self.clock())),
            "snapshot.feeds": _typed(list, self._on_feeds),
            "snapshot.tickers": _typed(list, self._on_tickers),
            "snapshot.beta": _typed(BetaAnswer, analytics.apply_answer),
            "snapshot.correlation": on_analytics,
            "snapshot.alerts": _typed(list, alerts.replace),
            "snapshot.health": _typed(HealthReport, health.apply),
            "unavailable": _typed(Unavailable, self._on_unavailable),
        }

    def on_live_data(self, message: LiveData) -> None:
        handler = self.routes.get(message.topic)
        if handler is not None:
            handler(message.data)

    def _on_tickers(self, tickers: list[Ticker]) -> None:
        for t in tickers:
            self.market.apply_ticker(t)
        self.market.remove_missing({quote_key(t.exchange, t.symbol) for t in tickers})
        self.market.apply_paused(self.feeds.feeds)

    def _on_feeds(self, feeds: list[FeedStatus]) -> None:
        self.feeds.replace(feeds)
        self._market_pane().set_timeframes({f.exchange: list(f.timeframes) for f in feeds})
        self.market.apply_paused(self.feeds.feeds)

    def _on_feed_status(self, feed: FeedStatus) -> None:
        self.feeds.apply(feed)
        self.market.apply_paused(self.feeds.feeds)

    def _on_dropped(self, dropped: Dropped) -> None:
        self.dropped_events += dropped.count

    def _on_bye(self, bye: Bye) -> None:
        self.link_detail = f"daemon said bye ({bye.reason})"

    def _on_unavailable(self, what: Unavailable) -> None:
        self.unavailable[what.command] = what.message

    def on_link_changed(self, message: LinkChanged) -> None:
        was = self.link_state
        self.link_state = message.state
        self.link_detail = message.detail
        self.attempt = message.attempt
        self.retry_at = self.clock() + message.retry_in if message.retry_in is not None else None
        if message.state == "connected":
            self.system.hello = message.hello
            self.unavailable.clear()
            if self.connections:
                self.notify("reconnected to the daemon", title="virtuoso")
            self.connections += 1
        elif message.state == "disconnected" and was == "connected":
            self.notify(
                f"lost the daemon ({message.detail}); reconnecting",
                title="virtuoso",
                severity="warning",
            )
        self.tabs.set_class(not self.connected, "-offline")
        self._show_link()

    def _market_pane(self) -> MarketPane:
        pane = self.panes["market"]
        assert isinstance(pane, MarketPane)
        return pane

    # --- requests and actions ------------------------------------------------------

    async def ask(
        self, cmd: str, args: Mapping[str, Any] | None = None, *, optional: bool = False
    ) -> Any:
        """One request; ``None`` when the daemon is away or refused (errors are shown)."""
        if not self.connected:
            return None
        try:
            return await self.client.request(cmd, dict(args or {}))
        except Disconnected:
            return None
        except ClientError as exc:
            if exc.code in UNKNOWN_COMMAND_CODES:
                self.unavailable[cmd] = f"the daemon does not serve {cmd!r}"
            if not optional:
                self.notify(f"{cmd}: {exc.message}", title=exc.code, severity="error")
            return None

    async def perform(self, cmd: str, args: Mapping[str, Any] | None = None) -> bool:
        """Run a state-changing command and show the daemon's answer; True when it agreed."""
        if not self.connected:
            self.notify("the daemon is unreachable; nothing was done", severity="error")
            return False
        try:
            result = await self.client.request(cmd, dict(args or {}))
        except ClientError as exc:
            self._answer(cmd, False, {"code": exc.code, "message": exc.message})
            return False
        self._answer(cmd, True, result)
        if cmd.startswith(("feeds.", "symbols.")):
            await self.refresh_feeds()
        return True

    def _answer(self, cmd: str, ok: bool, body: Any) -> None:
        self.last_answer = (cmd, ok, body)
        self.notify(
            describe_answer(cmd, ok, body) if isinstance(body, Mapping) else summarise(body, 200),
            title=f"{cmd}: {'ok' if ok else 'failed'}",
            severity="information" if ok else "error",
        )
        pane = self.panes.get("system")
        if isinstance(pane, SystemPane):
            pane.show_answer(self.last_answer)

    async def refresh_feeds(self) -> None:
        for cmd, topic in (("feeds.list", "snapshot.feeds"), ("tickers", "snapshot.tickers")):
            result = await self.ask(cmd, optional=True)
            if result is not None:
                self.post_message(answer_message(topic, result))

    @work(group="watch", exclusive=True)
    async def watch_symbol(self, exchange: str, symbol: str) -> None:
        """Follow this symbol's order book and trades for the detail panel."""
        try:
            await self.link.watch(exchange, symbol)
        except ClientError:
            pass  # the daemon is away (the live loop says so) or lacks the topic

    @work(group="analytics")
    async def load_correlation(self, timeframe: str, window: str) -> None:
        args = {"timeframe": timeframe, "window": window}
        for cmd in ("beta", "correlation"):
            result = await self.ask(cmd, args, optional=True)
            if result is not None:
                self.on_live_data(answer_message(f"snapshot.{cmd}", result))

    async def _confirm(self, question: str, detail: str, action: str) -> bool:
        answer: bool | None = await self.push_screen_wait(
            ConfirmDialog(question, detail, action=action)
        )
        return bool(answer)

    @work(group="actions")
    async def pause_feed(self, exchange: str, symbol: str | None) -> None:
        what = f"{symbol} on {exchange}" if symbol else f"the whole {exchange} feed"
        if await self._confirm(
            f"Pause {what}?",
            "No market data arrives for it until it is resumed.",
            "Pause",
        ):
            await self.perform("feeds.pause", _feed_args(exchange, symbol))

    @work(group="actions")
    async def resume_feed(self, exchange: str, symbol: str | None) -> None:
        await self.perform("feeds.resume", _feed_args(exchange, symbol))

    @work(group="actions")
    async def add_symbols(self, exchange: str) -> None:
        symbols = await self.push_screen_wait(SymbolsDialog(exchange))
        if not symbols:
            return
        if await self._confirm(
            f"Add {len(symbols)} symbol{'s' * (len(symbols) > 1)} to {exchange}?",
            ", ".join(symbols),
            "Add",
        ):
            await self.perform("symbols.add", {"exchange": exchange, "symbols": symbols})

    @work(group="actions")
    async def remove_symbols(self, exchange: str, symbols: list[str]) -> None:
        if await self._confirm(
            f"Remove {', '.join(symbols)} from {exchange}?",
            "The feed stops watching it; its live data disappears from every screen.",
            "Remove",
        ):
            await self.perform("symbols.remove", {"exchange": exchange, "symbols": symbols})

    @work(group="actions")
    async def ack_alert(self, alert_id: str) -> None:
        result = await self.perform("alerts.ack", {"id": alert_id, "by": "tui"})
        if result:
            await self.refresh_alerts()

    @work(group="actions")
    async def silence_alert(self, kind: str, symbol: str | None, duration: str) -> None:
        what = f"{kind} alerts" + (f" of {symbol}" if symbol else "")
        if await self._confirm(
            f"Silence {what} for {duration}?",
            "They are still recorded, but not delivered until the silence ends.",
            "Silence",
        ):
            args = {"kind": kind, "duration": duration, "by": "tui"}
            if symbol:
                args["symbol"] = symbol
            await self.perform("alerts.silence", args)

    async def refresh_alerts(self) -> None:
        alerts = await self.ask("alerts.list", {"limit": 200}, optional=True)
        if alerts is not None:
            self.post_message(answer_message("snapshot.alerts", alerts))

    @work(group="actions")
    async def reload_config(self) -> None:
        if await self._confirm(
            "Reload the daemon's config file?",
            "Changed sections are handed to the actors that own them.",
            "Reload",
        ):
            await self.perform("config.reload")

    @work(group="actions")
    async def shutdown_daemon(self) -> None:
        if await self._confirm(
            "Shut the daemon down?",
            "Every feed and the API stop. systemd may start it again.",
            "Shut down",
        ):
            await self.perform("shutdown")

    # --- key actions ---------------------------------------------------------------

    def action_show_screen(self, screen_id: str) -> None:
        self.tabs.active = f"tab-{screen_id}"

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.BINDINGS))

    def action_toggle_theme(self) -> None:
        self.theme = "virtuoso-light" if self.current_theme.dark else "virtuoso-dark"

    def action_reconnect(self) -> None:
        self.link.retry_now()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for spec in SCREENS:
            yield SystemCommand(
                f"Go to {spec.title}",
                f"{spec.description} (key {spec.key})",
                lambda s=spec.id: self.action_show_screen(s),
            )
        yield SystemCommand("Help: keys", "List every key of every screen", self.action_help)
        yield SystemCommand(
            "Toggle light/dark theme",
            "Switch between the two Virtuoso themes",
            self.action_toggle_theme,
        )
        yield SystemCommand(
            "Reconnect now", "Retry the daemon without waiting", self.action_reconnect
        )
        yield SystemCommand(
            "Daemon: reload config", "Re-read the config file (asks first)", self.reload_config
        )
        yield SystemCommand(
            "Daemon: shut down", "Stop the daemon process (asks first)", self.shutdown_daemon
        )
        for pane in self.panes.values():
            yield from pane.commands()
        yield from super().get_system_commands(screen)


def _feed_args(exchange: str, symbol: str | None) -> dict[str, Any]:
    return {"exchange": exchange, **({"symbol": symbol} if symbol else {})}


def create_app(
    client: DaemonClient,
    *,
    theme: str = "dark",
    refresh_hz: float = 5.0,
    throttle_ms: int | None = 200,
    topics: Sequence[str] = DEFAULT_TOPICS,
    status_interval: float = 2.0,
    clock: Callable[[], float] = time.time,
    backoff: Backoff | None = None,
) -> VirtuosoApp:
    """The one way to build the app, for the CLI and for the tests alike."""
    return VirtuosoApp(
        client,
        theme=theme,
        refresh_hz=refresh_hz,
        throttle_ms=throttle_ms,
        topics=topics,
        status_interval=status_interval,
        clock=clock,
        backoff=backoff,
    )
