"""Observed time: the intervals, the incremental keeper against the reference, and what they
do to hotspot states (no_data before the feed began and through an outage, never absence)."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patrolwatch.core.coverage import evaluate_hotspot
from patrolwatch.core.hotspots import Hotspot
from patrolwatch.core.observed import (
    ObservedTime,
    observed_intervals,
    observed_seconds,
    stretch_at,
)
from patrolwatch.core.schedule import Window
from patrolwatch.core.visits import Visit

S = 180.0  # PATROL_STALE_AFTER_S default
T0 = datetime(2024, 12, 6, 0, 0, tzinfo=UTC).timestamp()
MIN = 60.0


def spot(t: float = 120.0, m: float = 10.0) -> Hotspot:
    return Hotspot(
        id="H", name="Hotspot H", category="other", priority=1, geometry=None, radius_m=None,
        schedule=(), valid_from=None, valid_to=None, operation=None, min_visit_minutes=m,
        max_gap_minutes=t, centroid=(51.5, -0.12),
    )


def all_day() -> Window:
    start = datetime.fromtimestamp(T0, UTC)
    return Window(start, start + timedelta(days=1))


# (id, event times, expected intervals)
INTERVAL_CASES = [
    ("nothing", [], []),
    ("one message observes [e, e + S)", [100.0], [(100.0, 280.0)]),
    ("S apart exactly is one stretch", [0.0, 180.0], [(0.0, 360.0)]),
    ("just over S apart is a hole", [0.0, 180.001], [(0.0, 180.0), (180.001, 360.001)]),
    ("order and duplicates do not matter", [500.0, 0.0, 100.0, 100.0],
     [(0.0, 280.0), (500.0, 680.0)]),
]


@pytest.mark.parametrize(("times", "expected"), [c[1:] for c in INTERVAL_CASES],
                         ids=[c[0] for c in INTERVAL_CASES])
def test_intervals(times: list[float], expected: list[tuple[float, float]]) -> None:
    assert observed_intervals(times, S) == expected
    keeper = ObservedTime(S)
    keeper.add(times)
    assert keeper.intervals() == expected


@pytest.mark.parametrize(("t", "since"), [
    (-0.001, None), (0.0, 0.0), (279.999, 0.0), (280.0, None), (499.0, None), (500.0, 500.0),
])
def test_observed_since_is_the_start_of_the_stretch(t: float, since: float | None) -> None:
    keeper = ObservedTime(S)
    keeper.add([0.0, 100.0, 500.0])
    assert keeper.observed_since(t) == since
    assert stretch_at(keeper.intervals(), t) == since


def test_observed_seconds() -> None:
    spans = [(0.0, 100.0), (200.0, 300.0)]
    assert observed_seconds(spans, -50, 250) == 150.0
    assert observed_seconds(spans, 100, 200) == 0.0
    assert observed_seconds(spans, 250, 250) == 0.0
    assert observed_seconds([], 0, 10) == 0.0


def test_late_data_fills_an_outage_in_backwards() -> None:
    keeper = ObservedTime(S)
    keeper.add([0.0, 60.0, 1000.0])
    assert keeper.observed_since(1000.0) == 1000.0
    keeper.take_dirty()
    keeper.add([t for t in range(120, 1000, 60)])  # a device flushing its buffer
    assert keeper.intervals() == [(0.0, 1180.0)]
    assert keeper.observed_since(1000.0) == 0.0
    assert keeper.take_dirty() == 0.0  # the merged interval is what to persist again
    assert keeper.take_dirty() is None


def test_prune_bounds_memory_and_ignores_older_input() -> None:
    keeper = ObservedTime(S, horizon_s=3600.0)
    keeper.add([0.0, 5000.0])
    keeper.add([6000.0])  # the newest is 6000: everything before 2400 is forgotten
    assert keeper.intervals() == [(5000.0, 5180.0), (6000.0, 6180.0)]
    assert keeper.add([100.0]) == 1
    assert keeper.intervals()[0] == (5000.0, 5180.0)


def test_seed_merges_stored_intervals() -> None:
    keeper = ObservedTime(S)
    keeper.seed([(0.0, 1000.0), (2000.0, 2100.0)])
    keeper.add([990.0])
    assert keeper.intervals() == [(0.0, 1170.0), (2000.0, 2100.0)]


def test_a_bad_stale_after_is_refused() -> None:
    with pytest.raises(ValueError, match="stale_after_s"):
        ObservedTime(0.0)


times_st = st.lists(st.floats(min_value=0, max_value=20_000, allow_nan=False), max_size=60)


@settings(max_examples=200, deadline=None)
@given(times=times_st, data=st.data())
def test_incremental_equals_reference_in_any_order_and_batching(
    times: list[float], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(times))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(times)), max_size=6)))
    keeper = ObservedTime(S, horizon_s=math.inf)
    last = 0
    for cut in [*cuts, len(order)]:
        keeper.add(order[last:cut])
        last = cut
    assert keeper.intervals() == observed_intervals(times, S)


@settings(max_examples=200, deadline=None)
@given(feed=st.lists(st.floats(min_value=40_000, max_value=50_000), min_size=1, max_size=40),
       early=st.lists(st.floats(min_value=0, max_value=40_000), min_size=1, max_size=40),
       after=st.floats(min_value=0, max_value=S - 1))
def test_pings_before_the_feed_began_never_open_a_gap_before_the_first_of_them(
    feed: list[float], early: list[float], after: float
) -> None:
    h = spot()
    now = T0 + max(feed) + after  # now is observed
    keeper = ObservedTime(S, horizon_s=math.inf)
    keeper.add([T0 + t for t in feed])
    was = evaluate_hotspot(h, all_day(), [], set(), now, keeper.observed_since(now))
    keeper.add([T0 + t for t in early])
    c = evaluate_hotspot(h, all_day(), [], set(), now, keeper.observed_since(now))
    first = T0 + min(early)
    assert c.reference is not None and c.reference >= first
    if c.state == "gap":
        assert c.gap_since is not None and c.gap_since >= first + h.max_gap_minutes * MIN
    if was.state == "gap":  # earlier data can only move a gap's start back to where it shows
        assert c.state == "gap"


@settings(max_examples=200, deadline=None)
@given(outage_at=st.floats(min_value=4 * 3600, max_value=8 * 3600),
       outage_s=st.floats(min_value=S + 1, max_value=6 * 3600),
       look=st.floats(min_value=0, max_value=1))
def test_an_outage_in_the_middle_is_no_data_not_absence(
    outage_at: float, outage_s: float, look: float
) -> None:
    h = spot(t=60.0)
    before = [T0 + k * 30.0 for k in range(int(outage_at / 30.0))]
    back = before[-1] + outage_s
    after = [back + k * 30.0 for k in range(int(3 * 3600 / 30.0))]
    keeper = ObservedTime(S, horizon_s=math.inf)
    keeper.add(after)
    keeper.add(before)
    # Anywhere in the outage, and in the first T after it: no_data, never a gap.
    now = before[-1] + S + look * (outage_s - S + h.max_gap_minutes * MIN - 1.0)
    c = evaluate_hotspot(h, all_day(), [], set(), now, keeper.observed_since(now))
    assert c.state == "no_data"
    # Once the new stretch has lasted T with nobody there, the gap opens then, not before.
    later = back + h.max_gap_minutes * MIN + 1.0
    c = evaluate_hotspot(h, all_day(), [], set(), later, keeper.observed_since(later))
    assert (c.state, c.gap_since) == ("gap", back + h.max_gap_minutes * MIN)


# (id, stretch start min, visits, present, now min, state, reference min)
STRETCH_CASES = [
    ("a system started two minutes ago", 600, [], (), 602, "no_data", 600),
    ("a young stretch: just before T", 600, [], (), 719.99, "no_data", 600),
    ("the stretch has lasted T", 600, [], (), 720, "gap", 600),
    ("a unit inside now is data", 600, [], ("U1",), 602, "present", 600),
    ("a qualifying visit in the stretch is the reference", 600, [(605, 615)], (), 650,
     "covered", 615),
    ("a stretch older than the window start", -60, [], (), 30, "covered", 0),
    ("a stretch older than the last qualifying visit", 0, [(100, 110)], (), 130, "covered",
     110),
    ("not observed now", None, [], ("U1",), 602, "no_data", 0),
]


@pytest.mark.parametrize(("stretch", "visits", "present", "now", "state", "reference"),
                         [c[1:] for c in STRETCH_CASES], ids=[c[0] for c in STRETCH_CASES])
def test_states_over_observed_time(
    stretch: float | None, visits: list[tuple[float, float]], present: tuple[str, ...],
    now: float, state: str, reference: float,
) -> None:
    vs = [Visit("U1", "H", T0 + a * MIN, T0 + b * MIN, 2) for a, b in visits]
    since = None if stretch is None else T0 + stretch * MIN
    c = evaluate_hotspot(spot(), all_day(), vs, set(present), T0 + now * MIN, since)
    assert c.state == state
    assert c.reference == T0 + reference * MIN
    assert c.overdue_minutes == 0.0


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.floats(min_value=0, max_value=400), min_size=1, max_size=80),
       data=st.data())
def test_a_live_feed_in_batches_equals_the_reference(
    steps: list[float], data: st.DataObject
) -> None:
    # Mostly increasing times in small batches: the path that extends the last interval.
    times = list(itertools.accumulate(steps))
    size = data.draw(st.integers(1, 8))
    keeper = ObservedTime(S, horizon_s=math.inf)
    for k in range(0, len(times), size):
        keeper.add(data.draw(st.permutations(times[k:k + size])))
    assert keeper.intervals() == observed_intervals(times, S)


def test_non_finite_times_are_ignored() -> None:
    keeper = ObservedTime(S)
    assert keeper.add([math.nan, 100.0, math.inf]) == 0
    assert keeper.intervals() == [(100.0, 280.0)]
