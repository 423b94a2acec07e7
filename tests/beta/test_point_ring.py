"""PointRing: beta history of one series as rows of one array (store/point_ring.py)."""

from __future__ import annotations

import pytest

from virtuoso_daemon.beta.history import HistoryPoint
from virtuoso_daemon.beta.point_ring import INITIAL_ROWS, PointRing


def point(ts: int, beta: float | None = 1.0, n_obs: int = 30) -> HistoryPoint:
    return HistoryPoint(ts, beta, 0.1, 0.5, 0.25, 0.8, n_obs)


def test_points_come_back_as_given_with_none_for_missing_and_ints() -> None:
    ring = PointRing(5, [point(1), point(2, beta=None, n_obs=12)])
    assert ring.tail(5) == [[1, 1.0, 0.1, 0.5, 0.25, 0.8, 30], [2, None, 0.1, 0.5, 0.25, 0.8, 12]]
    assert all(type(r[0]) is int and type(r[6]) is int for r in ring.tail(5))
    assert ring.points() == [point(1), point(2, beta=None, n_obs=12)]


def test_the_oldest_point_goes_once_maxlen_are_held() -> None:
    ring = PointRing(3)
    for ts in range(1, 6):
        ring.append(point(ts))
    assert len(ring) == 3 and ring.full
    assert (ring.first_ts(), ring.last_ts()) == (3, 5)
    assert [r[0] for r in ring.tail(10)] == [3, 4, 5]
    assert [r[0] for r in ring.tail(2)] == [4, 5] and ring.tail(0) == []


def test_storage_grows_with_the_points_not_with_maxlen() -> None:
    ring = PointRing(500)
    assert ring._rows.shape[0] == INITIAL_ROWS
    for ts in range(20):
        ring.append(point(ts))
    assert ring._rows.shape[0] == 32 and [r[0] for r in ring.tail(20)] == list(range(20))


def test_replace_last_rewrites_the_newest_point_only() -> None:
    ring = PointRing(4, [point(1), point(2)])
    ring.replace_last(point(2, beta=2.5))
    assert [r[1] for r in ring.tail(4)] == [1.0, 2.5]
    with pytest.raises(IndexError):
        PointRing(4).replace_last(point(1))


def test_resized_keeps_the_newest_points() -> None:
    ring = PointRing(10, [point(ts) for ts in range(10)])
    small = ring.resized(3)
    assert small.maxlen == 3 and [r[0] for r in small.tail(10)] == [7, 8, 9]
    assert ring.resized(20).points() == ring.points()
