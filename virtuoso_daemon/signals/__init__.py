"""The signals actor: feeds market data and analytics snapshots to the detectors of
:mod:`virtuoso_daemon.analytics.detectors` and publishes what they find as
:class:`~virtuoso_daemon.core.messages.Condition` messages (the alert manager turns
them into alerts), plus views of recent whales, walls and manipulation scores."""
