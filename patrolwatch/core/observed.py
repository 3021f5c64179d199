"""Observed time: the moments the system can tell presence from silence (DOMAIN.md).

A moment t is *observed* when some accepted message from any unit has its event time in
(t - S, t], S = ``PATROL_STALE_AFTER_S``. A message at event time e therefore observes the
half-open span [e, e + S), and observed time is the union of those spans: a sorted list of
disjoint half-open intervals. Before the feed began, and during an outage of the devices, the
broker or the ingest, time is not observed: silence there is neither presence nor absence.

Everything is by event time, so the answer depends only on the set of event times, never on
their arrival order: a device that flushes its buffer after an outage fills the outage in
backwards, like every other rule. Two spans that touch ([a, b) and [b, c)) are one interval.

:class:`ObservedTime` keeps the intervals incrementally, with memory bounded like the visit
engine's: ``prune(before)`` drops intervals that ended before ``before`` and from then on
ignores event times older than it. ``observed_intervals`` is the plain reference.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence

import numpy as np

Interval = tuple[float, float]  # [start, end), epoch seconds
ALWAYS_OBSERVED = -math.inf  # an ``observed_since`` that predates everything


def observed_intervals(times: Iterable[float], stale_after_s: float) -> list[Interval]:
    """Return the union of [e, e + S) over the event times, as sorted disjoint intervals."""
    out: list[Interval] = []
    for e in sorted(times):
        if out and e <= out[-1][1]:
            if e + stale_after_s > out[-1][1]:
                out[-1] = (out[-1][0], e + stale_after_s)
        else:
            out.append((e, e + stale_after_s))
    return out


def observed_seconds(intervals: Sequence[Interval], start: float, end: float) -> float:
    """Return how many seconds of [start, end) the sorted disjoint intervals cover."""
    if end <= start:
        return 0.0
    total = 0.0
    for a, b in intervals[max(0, bisect_right(intervals, (start, math.inf)) - 1):]:
        if a >= end:
            break
        lo, hi = max(a, start), min(b, end)
        if hi > lo:
            total += hi - lo
    return total


def stretch_at(intervals: Sequence[Interval], t: float) -> float | None:
    """Return the start of the observed interval holding ``t``, or None if ``t`` is not observed."""
    i = bisect_right(intervals, (t, math.inf)) - 1
    if i >= 0 and intervals[i][0] <= t < intervals[i][1]:
        return intervals[i][0]
    return None


class ObservedTime:
    """Observed-time intervals kept up to date from message event times, in any order.

    The live feed is the fast path: a batch whose times all fall inside or just after the last
    interval, with no hole of S between them, extends it in a few numpy operations. Anything
    else (late data, a restart after an outage) is merged run by run with bisection.
    ``dirty_since`` records the start of the earliest interval changed since it was last taken,
    so a caller can persist only what changed.
    """

    def __init__(self, stale_after_s: float, horizon_s: float = 26 * 3600.0) -> None:
        if stale_after_s <= 0:
            raise ValueError(f"stale_after_s must be positive, not {stale_after_s!r}")
        self.stale_after_s = stale_after_s
        self.horizon_s = horizon_s
        self._starts: list[float] = []
        self._ends: list[float] = []
        self._floor = -math.inf
        self._newest = -math.inf
        self._dirty: float | None = None

    @property
    def floor(self) -> float:
        """Return the event time before which input is ignored (the last prune)."""
        return self._floor

    def intervals(self, since: float = -math.inf, until: float = math.inf) -> list[Interval]:
        """Return the intervals overlapping [since, until), sorted."""
        i = max(0, bisect_right(self._starts, since) - 1)
        out: list[Interval] = []
        for a, b in zip(self._starts[i:], self._ends[i:], strict=True):
            if a >= until:
                break
            if b > since:
                out.append((a, b))
        return out

    def observed_since(self, t: float) -> float | None:
        """Return the start of the current stretch of observed time at ``t``, or None."""
        i = bisect_right(self._starts, t) - 1
        if i >= 0 and t < self._ends[i]:
            return self._starts[i]
        return None

    def add(self, times: Iterable[float] | np.ndarray) -> int:
        """Merge the spans of these event times; return how many were older than the floor."""
        arr = np.asarray(times if isinstance(times, np.ndarray) else list(times), dtype=float)
        if arr.size == 0:
            return 0
        first, last = float(arr.min()), float(arr.max())
        ignored = 0
        if not (math.isfinite(first) and math.isfinite(last) and first >= self._floor):
            finite = arr[np.isfinite(arr)]
            arr = finite[finite >= self._floor]
            ignored = int(finite.size - arr.size)
            if arr.size == 0:
                return ignored
            first, last = float(arr.min()), float(arr.max())
        s = self.stale_after_s
        if last - first <= s and self._starts and self._starts[-1] <= first <= self._ends[-1]:
            # The live feed: every time lies in or right after the last interval, and no two
            # can be more than S apart, so no sort is needed.
            if last + s > self._ends[-1]:
                self._ends[-1] = last + s
                self._mark(self._starts[-1])
        else:
            kept = np.sort(arr)
            holes = np.flatnonzero(np.diff(kept) > s)
            bounds = [0, *(holes + 1).tolist(), int(kept.size)]
            for lo, hi in itertools.pairwise(bounds):
                self._merge(float(kept[lo]), float(kept[hi - 1]) + s)
        self._newest = max(self._newest, last)
        self.prune(self._newest - self.horizon_s)
        return ignored

    def seed(self, intervals: Iterable[Interval]) -> None:
        """Merge intervals known from elsewhere (the store, on a rebuild)."""
        for a, b in intervals:
            if b > a and b > self._floor:
                self._merge(a, b)

    def take_dirty(self) -> float | None:
        """Return the start of the earliest interval changed since the last call, and reset."""
        dirty, self._dirty = self._dirty, None
        return dirty

    def prune(self, before: float) -> None:
        """Forget intervals that ended before ``before``; from now on ignore older event times."""
        if before <= self._floor:
            return
        self._floor = before
        k = bisect_left(self._ends, before)
        if k:
            del self._starts[:k]
            del self._ends[:k]

    def _merge(self, a: float, b: float) -> None:
        """Merge [a, b) into the intervals, joining every interval it touches."""
        starts, ends = self._starts, self._ends
        i = bisect_left(ends, a)  # the first interval ending at or after a: it may touch
        j = bisect_right(starts, b)  # intervals from i up to j touch [a, b)
        if i < j:
            a = min(a, starts[i])
            b = max(b, ends[j - 1])
            if (a, b) == (starts[i], ends[i]) and j == i + 1:
                return  # already covered
        starts[i:j] = [a]
        ends[i:j] = [b]
        self._mark(a)

    def _mark(self, start: float) -> None:
        if self._dirty is None or start < self._dirty:
            self._dirty = start
