"""The hold-down: when a change of a check's raw status counts."""

from __future__ import annotations

from virtuoso_daemon.health.hold import HoldDown, grade, worst


def test_a_blip_shorter_than_confirm_never_counts() -> None:
    hold = HoldDown(confirm=2.0, recover=10.0)
    assert hold.update("x", "critical", 0.0) is None
    assert hold.update("x", "ok", 1.0) is None
    assert hold.update("x", "ok", 5.0) is None
    assert hold.held["x"].status == "ok"


def test_a_worse_status_counts_once_it_held_for_confirm() -> None:
    hold = HoldDown(confirm=2.0, recover=10.0)
    assert hold.update("x", "warning", 0.0) is None
    assert hold.due() == 2.0
    change = hold.update("x", "critical", 2.0)  # escalated meanwhile: the clock kept running
    assert change is not None and (change.old, change.new) == ("ok", "critical")
    assert hold.update("x", "critical", 3.0) is None  # once


def test_recovery_needs_recover_seconds_of_better_status() -> None:
    hold = HoldDown(confirm=0.0, recover=10.0)
    assert hold.update("x", "critical", 0.0) is not None
    assert hold.update("x", "ok", 1.0) is None
    assert hold.update("x", "ok", 10.9) is None
    change = hold.update("x", "ok", 11.0)
    assert change is not None and (change.old, change.new) == ("critical", "ok")


def test_a_flapping_check_makes_one_transition_up_and_one_down() -> None:
    hold = HoldDown(confirm=1.0, recover=10.0)
    changes = []
    t = 0.0
    for i in range(40):  # critical for 2 s, ok for 2 s, for 80 s
        raw = "critical" if (i // 2) % 2 == 0 else "ok"
        for _ in range(4):
            change = hold.update("x", raw, t)
            if change is not None:
                changes.append((change.old, change.new))
            t += 0.5
    for _ in range(30):  # then steadily ok
        change = hold.update("x", "ok", t)
        if change is not None:
            changes.append((change.old, change.new))
        t += 0.5
    assert changes == [("ok", "critical"), ("critical", "ok")]


def test_grade_against_two_thresholds_either_direction() -> None:
    assert grade(5, 10, 20) == ("ok", 10)
    assert grade(10, 10, 20) == ("warning", 10)
    assert grade(25, 10, 20) == ("critical", 20)
    assert grade(50, 10, 3, lower_is_worse=True) == ("ok", 10)
    assert grade(8, 10, 3, lower_is_worse=True) == ("warning", 10)
    assert grade(2, 10, 3, lower_is_worse=True) == ("critical", 3)
    assert worst("ok", "critical", "warning") == "critical"
    assert worst() == "ok"
