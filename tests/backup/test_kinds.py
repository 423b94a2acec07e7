"""What ``auto`` chooses, by the documented rule."""

from __future__ import annotations

from pathlib import Path

from tests.backup.helpers import make_state
from virtuoso_daemon.backup.kinds import choose_auto

DAY = 86400.0


def test_auto_is_full_without_a_recent_full_backup_and_with_room(tmp_path: Path) -> None:
    layout = make_state(tmp_path)
    kind, why = choose_auto(layout, last_full=None, now=100 * DAY, auto_full_days=7, min_free_mb=0)
    assert kind == "full", why
    kind, why = choose_auto(
        layout, last_full=90 * DAY, now=100 * DAY, auto_full_days=7, min_free_mb=0
    )
    assert kind == "full", why


def test_auto_is_critical_after_a_recent_full_backup(tmp_path: Path) -> None:
    layout = make_state(tmp_path)
    kind, why = choose_auto(
        layout, last_full=98 * DAY, now=100 * DAY, auto_full_days=7, min_free_mb=0
    )
    assert kind == "critical" and "2.0 days old" in why


def test_auto_is_critical_when_a_full_backup_would_eat_the_free_space(tmp_path: Path) -> None:
    layout = make_state(tmp_path)
    huge = 1 << 40  # more megabytes must stay free than any test disk has
    kind, why = choose_auto(
        layout, last_full=None, now=100 * DAY, auto_full_days=7, min_free_mb=huge
    )
    assert kind == "critical" and "not enough free space" in why
