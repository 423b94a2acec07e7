"""Which candles a backfill got, against the ones it asked for: the gaps.

An exchange can answer a kline request with less than was there to give: a first
page that starts after ``since`` (history starts later, or was lost), a page cut
short in the middle of history, a jump between two rows. Pagers that stop at the
first short page take any of these for "the present is reached" and leave a hole
nobody hears about. :func:`find_gaps` compares the open times received with the
grid ``[start, present)``; the backfiller retries each gap and reports what stays
missing in the feed's status (``FeedStatus.gaps``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Literal

from virtuoso_daemon.core.messages import CandleGap

Where = Literal["head", "inside", "tail"]


def find_gaps(times: Iterable[int], start: int, present: int, tf_ms: int) -> list[CandleGap]:
    """Missing open times on the grid ``start, start+tf, ... < present``, as ranges."""
    got = sorted({t for t in times if start <= t < present})
    if start >= present:
        return []
    if not got:
        return [_gap(start, present, tf_ms, "head")]
    gaps: list[CandleGap] = []
    if got[0] > start:
        gaps.append(_gap(start, got[0], tf_ms, "head"))
    for prev, cur in itertools.pairwise(got):
        if cur - prev > tf_ms:
            gaps.append(_gap(prev + tf_ms, cur, tf_ms, "inside"))
    if got[-1] + tf_ms < present:
        gaps.append(_gap(got[-1] + tf_ms, present, tf_ms, "tail"))
    return gaps


def _gap(start: int, end: int, tf_ms: int, where: Where) -> CandleGap:
    return CandleGap(start=start, end=end, missing=(end - start) // tf_ms, where=where)
