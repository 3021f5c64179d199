"""Hotspot coverage: the DOMAIN.md states at their exact thresholds, gaps and gap events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patrolwatch.core.coverage import (
    HotspotCoverage,
    WindowCache,
    coverage_event,
    evaluate_hotspot,
    gaps,
    officer_minutes,
    patrol_minutes,
)
from patrolwatch.core.hotspots import CoverageDefaults, Hotspot, HotspotSet
from patrolwatch.core.observed import ALWAYS_OBSERVED as ALWAYS
from patrolwatch.core.schedule import Window
from patrolwatch.core.visits import Visit

START = datetime(2024, 12, 6, 18, 0, tzinfo=UTC)
S = START.timestamp()
MIN = 60.0


def spot(hid: str = "H", *, m: float = 10.0, t: float = 120.0, priority: int = 1) -> Hotspot:
    return Hotspot(
        id=hid, name=f"Hotspot {hid}", category="other", priority=priority, geometry=None,
        radius_m=None, schedule=(), valid_from=None, valid_to=None, operation=None,
        min_visit_minutes=m, max_gap_minutes=t, centroid=(51.5, -0.12),
    )


def window(minutes: float) -> Window:
    return Window(START, START + timedelta(minutes=minutes))


def visit(start_min: float, end_min: float, unit: str = "U1") -> Visit:
    return Visit(unit, "H", S + start_min * MIN, S + end_min * MIN, 2)


Q = visit(50, 60)  # a qualifying visit (exactly 10 minutes) ending 60 minutes into the window
SHORT = visit(50, 59.99)  # not qualifying: does not reset the clock

# (id, window minutes, T, visits, present, now minutes, state, kind, since minutes, reference)
STATE_CASES = [
    ("covered just before T-15", 480, 120, [], (), 104.99, "covered", None, None, 0),
    ("due at T-15 exactly", 480, 120, [], (), 105, "due", None, None, 0),
    ("due just before T", 480, 120, [], (), 119.99, "due", None, None, 0),
    ("gap at T exactly", 480, 120, [], (), 120, "gap", "presence_gap", 120, 0),
    ("gap overdue", 480, 120, [], (), 150, "gap", "presence_gap", 120, 0),
    ("qualifying visit resets: covered", 480, 120, [Q], (), 164.99, "covered", None, None, 60),
    ("qualifying visit resets: due", 480, 120, [Q], (), 165, "due", None, None, 60),
    ("qualifying visit resets: gap", 480, 120, [Q], (), 180, "gap", "presence_gap", 180, 60),
    ("a short visit does not reset", 480, 120, [SHORT], (), 120, "gap", "presence_gap", 120, 0),
    ("a visit before the window: reference is the window start", 480, 120,
     [visit(-30, -15)], (), 120, "gap", "presence_gap", 120, 0),
    ("present wins over a presence gap", 480, 120, [], ("U2", "U1"), 300, "present", None, None,
     0),
    ("night-time economy T = 60", 480, 60, [], (), 60, "gap", "presence_gap", 60, 0),
    ("M minutes left exactly is not a shortfall", 120, 240, [], (), 110, "covered", None, None, 0),
    ("under M minutes left is a shortfall", 120, 240, [], (), 110.01, "gap", "shortfall", 110, 0),
    ("no shortfall after a qualifying visit", 120, 240, [Q], (), 115, "covered", None, None, 60),
    ("a short visit does not prevent a shortfall", 120, 240, [SHORT], (), 115, "gap",
     "shortfall", 110, 0),
    ("present wins over a shortfall", 120, 240, [], ("U1",), 115, "present", None, None, 0),
    ("the gap that opened first names the kind", 480, 120, [], (), 475, "gap", "presence_gap",
     120, 0),
    ("a shortfall can open first", 30, 60, [], (), 25, "gap", "shortfall", 20, 0),
]


@pytest.mark.parametrize(
    ("win", "t", "visits", "present", "now", "state", "kind", "since", "reference"),
    [c[1:] for c in STATE_CASES], ids=[c[0] for c in STATE_CASES],
)
def test_states(
    win: float, t: float, visits: list[Visit], present: tuple[str, ...], now: float,
    state: str, kind: str | None, since: float | None, reference: float,
) -> None:
    c = evaluate_hotspot(spot(t=t), window(win), visits, set(present), S + now * MIN, ALWAYS)
    assert (c.state, c.gap_kind) == (state, kind)
    assert c.active
    assert c.reference == S + reference * MIN
    assert c.gap_since == (None if since is None else S + since * MIN)
    assert c.overdue_minutes == pytest.approx(0.0 if since is None else now - since)
    assert c.present_units == tuple(sorted(present))


def test_inactive_without_a_window() -> None:
    c = evaluate_hotspot(spot(), None, [Q], {"U1"}, S + 100 * MIN, ALWAYS)
    assert (c.state, c.active, c.window, c.reference) == ("inactive", False, None, None)
    assert c.last_visit_end == Q.end  # still known, for the map's tooltip
    assert c.present_units == ("U1",)


def test_no_data_when_the_feed_is_stale() -> None:
    c = evaluate_hotspot(spot(), window(480), [], {"U1"}, S + 300 * MIN, None)
    assert (c.state, c.gap_kind, c.overdue_minutes) == ("no_data", None, 0.0)


def test_due_warning_is_a_parameter() -> None:
    c = evaluate_hotspot(spot(), window(480), [], set(), S + 90 * MIN, ALWAYS,
                         due_warning_minutes=30)
    assert c.state == "due"


def test_window_figures() -> None:
    visits = [visit(-20, 5), visit(0, 12, "U2"), visit(30, 30), visit(100, 130, "U3"),
              visit(600, 610)]
    c = evaluate_hotspot(spot(), window(480), visits, set(), S + 120 * MIN, ALWAYS)
    assert c.visits_in_window == 4  # the one starting after now is not seen yet
    assert c.qualifying_visits_in_window == 3  # the one still running counts up to now: 20 min
    assert c.patrol_minutes_in_window == pytest.approx(12 + 20)
    assert c.officer_minutes_in_window == pytest.approx(5 + 12 + 20)
    assert c.last_visit_end == S + 120 * MIN
    assert c.state == "covered"


def test_patrol_and_officer_minutes() -> None:
    visits = [visit(0, 10), visit(5, 15, "U2"), visit(20, 20), visit(30, 40, "U3")]
    assert patrol_minutes(visits, S, S + 35 * MIN) == pytest.approx(20)
    assert officer_minutes(visits, S, S + 35 * MIN) == pytest.approx(25)
    assert patrol_minutes([], S, S + MIN) == officer_minutes([], S, S + MIN) == 0.0


intervals = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 60)), max_size=12)


@given(intervals, st.integers(-10, 150), st.integers(0, 150))
def test_patrol_minutes_bounds(spans: list[tuple[int, int]], lo: int, length: int) -> None:
    visits = [visit(a, a + d, f"U{i}") for i, (a, d) in enumerate(spans)]
    start, end = S + lo * MIN, S + (lo + length) * MIN
    patrol = patrol_minutes(visits, start, end)
    assert patrol <= officer_minutes(visits, start, end) + 1e-9
    assert patrol <= length + 1e-9
    assert all(patrol >= patrol_minutes([v], start, end) - 1e-9 for v in visits)
    covered = sum(1 for k in range(lo, lo + length)
                  if any(a <= k + 0.5 < a + d for a, d in spans))  # minute by minute
    assert patrol == pytest.approx(covered)
    assert officer_minutes(visits, start, end) == pytest.approx(
        sum(max(0, min(a + d, lo + length) - max(a, lo)) for a, d in spans))


def test_gaps_are_sorted_most_urgent_first() -> None:
    spots = {h.id: h for h in [spot("A", priority=2), spot("B", priority=1),
                                spot("C", priority=1), spot("D", priority=1),
                                spot("E", priority=3)]}
    now = S + 400 * MIN

    def cov(hid: str, since_min: float | None) -> HotspotCoverage:
        c = evaluate_hotspot(spots[hid], window(480), [], set(), now, ALWAYS)
        if since_min is None:
            return c._replace(state="covered", gap_kind=None, gap_since=None, overdue_minutes=0)
        return c._replace(gap_since=S + since_min * MIN, overdue_minutes=400 - since_min)

    out = gaps([cov("A", 100), cov("B", 300), cov("C", 120), cov("D", 300), cov("E", 0),
                cov("B", None)], spots)
    assert [(g.hotspot, g.priority, g.overdue_minutes) for g in out] == [
        ("C", 1, 280), ("B", 1, 100), ("D", 1, 100), ("A", 2, 300), ("E", 3, 400)]
    assert (out[0].name, out[0].kind, out[0].lat, out[0].lon) == (
        "Hotspot C", "presence_gap", 51.5, -0.12)


def test_coverage_events_on_entering_and_leaving_gap() -> None:
    h = spot()
    covered = evaluate_hotspot(h, window(480), [], set(), S + 100 * MIN, ALWAYS)
    gap = evaluate_hotspot(h, window(480), [], set(), S + 121 * MIN, ALWAYS)
    still = evaluate_hotspot(h, window(480), [], set(), S + 122 * MIN, ALWAYS)
    present = evaluate_hotspot(h, window(480), [], {"U1"}, S + 123 * MIN, ALWAYS)
    assert coverage_event(None, covered, h) is None
    assert coverage_event(covered, gap, h) == {
        "type": "gap_opened", "hotspot": "H", "name": "Hotspot H", "kind": "presence_gap",
        "since": "2024-12-06T20:00:00Z", "ts": "2024-12-06T20:01:00Z", "priority": 1,
        "state": "gap"}
    assert coverage_event(None, gap, h) is not None  # first evaluation already in gap
    assert coverage_event(gap, still, h) is None
    assert coverage_event(still, present, h) == {
        "type": "gap_closed", "hotspot": "H", "name": "Hotspot H", "kind": "presence_gap",
        "since": "2024-12-06T20:00:00Z", "ts": "2024-12-06T20:03:00Z", "priority": 1,
        "state": "present"}
    moved = still._replace(gap_since=still.gap_since + 600)  # type: ignore[operator]
    opened = coverage_event(still, moved, h)
    assert opened is not None and opened["type"] == "gap_opened"


LONDON = ZoneInfo("Europe/London")
SCHEDULED = HotspotSet.from_features([
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-0.13, 51.51]},
     "properties": {"id": f"S{i}", "name": f"Scheduled {i}", "category": "night_time_economy",
                    "priority": 1, "radius_m": 150, **props}}
    for i, props in enumerate([
        {"schedule": [{"days": ["thu", "fri", "sat"], "start": "20:00", "end": "04:00"}]},
        {"schedule": [{"days": ["mon", "wed"], "start": "08:15", "end": "09:00"},
                      {"days": ["sun"], "start": "01:30", "end": "02:30"}],
         "valid_from": "2024-10-20", "valid_to": "2024-11-02"},
        {},  # always active: daily windows, 23 or 25 hours long on clock-change days
    ])
], CoverageDefaults(), LONDON)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-3 * 3600, 12 * 3600), min_size=1, max_size=60))
def test_window_cache_agrees_with_the_schedule(steps: list[int]) -> None:
    cache = WindowCache(LONDON, ahead_s=5 * 3600)
    now = datetime(2024, 10, 24, tzinfo=UTC).timestamp()  # spans the end of BST
    for step in steps:  # mostly forward, like a clock, sometimes back
        now += step
        for h in SCHEDULED:
            assert cache.window_at(h, now) == h.window_at(datetime.fromtimestamp(now, UTC),
                                                          LONDON)


def test_window_cache_at_window_edges() -> None:
    cache = WindowCache(LONDON)
    h = SCHEDULED.by_id["S0"]
    friday_20 = datetime(2024, 12, 6, 20, 0, tzinfo=LONDON).timestamp()  # GMT: 20:00 UTC
    assert cache.window_at(h, friday_20 - 0.001) is None
    window = cache.window_at(h, friday_20)
    assert window is not None and window.start.timestamp() == friday_20
    assert cache.window_at(h, friday_20 + 8 * 3600 - 0.001) == window
    assert cache.window_at(h, friday_20 + 8 * 3600) is None
    thursday = cache.window_at(h, friday_20 - 86_400 + 1)  # going back in time
    assert thursday is not None and thursday.start.timestamp() == friday_20 - 86_400
    assert cache.window_at(h, friday_20 - 2 * 86_400 + 1) is None  # no Wednesday window


def test_a_presence_gap_says_what_short_visits_there_were() -> None:
    # Three short visits this window: a presence gap (no qualifying visit for T), but not
    # "no presence": the coverage says so, for the gap row and the panel alike.
    h = spot()
    visits = [visit(10, 13), visit(40, 42, "U2"), visit(90, 95)]
    c = evaluate_hotspot(h, window(480), visits, set(), S + 130 * MIN, ALWAYS)
    assert (c.state, c.gap_kind, c.visits_in_window) == ("gap", "presence_gap", 3)
    assert c.last_presence_end == S + 95 * MIN and c.last_visit_end is None
