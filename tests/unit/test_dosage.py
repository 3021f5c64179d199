"""Dosage: planned against delivered qualifying visits per window, and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from patrolwatch.core.dosage import dosage_csv, dosage_row, dosage_rows, planned_visits
from patrolwatch.core.hotspots import Hotspot
from patrolwatch.core.schedule import Window
from patrolwatch.core.visits import Visit

DAY = datetime(2024, 12, 6, 20, 0, tzinfo=UTC)
S = DAY.timestamp()


def spot(hid: str = "H", *, m: float = 10.0, t: float = 120.0) -> Hotspot:
    return Hotspot(
        id=hid, name=f"Hotspot {hid}", category="night_time_economy", priority=1, geometry=None,
        radius_m=None, schedule=(), valid_from=None, valid_to=None, operation="Week of action",
        min_visit_minutes=m, max_gap_minutes=t, centroid=(51.5, -0.12),
    )


def win(day: int, start_min: float, minutes: float) -> Window:
    begin = DAY + timedelta(days=day, minutes=start_min)
    return Window(begin, begin + timedelta(minutes=minutes))


def visit(day: int, start_min: float, minutes: float, unit: str = "U1") -> Visit:
    begin = S + day * 86_400 + start_min * 60
    return Visit(unit, "H", begin, begin + minutes * 60, 2)


@pytest.mark.parametrize(("window_minutes", "t", "planned"), [
    (480, 60, 8), (480, 120, 4), (120, 120, 1), (119.99, 120, 1), (90, 120, 1),
    (240, 120, 2), (359.99, 120, 2), (360, 120, 3), (15, 60, 1),
])
def test_planned_visits(window_minutes: float, t: float, planned: int) -> None:
    assert planned_visits(window_minutes, t) == planned


def test_delivered_is_capped_per_window() -> None:
    windows = [win(0, 0, 240), win(1, 0, 240)]  # two 4-hour windows, T = 120: plan 2 + 2
    visits = [visit(0, 10, 10), visit(0, 60, 12), visit(0, 120, 15, "U2"),  # 3 in the first
              visit(1, 30, 9.99)]  # a short one in the second
    row = dosage_row(spot(), windows, visits)
    assert (row.windows, row.window_minutes) == (2, 480)
    assert (row.visits, row.qualifying_visits) == (4, 3)
    assert (row.planned_visits, row.delivered_visits, row.compliance) == (4, 2, 0.5)


def test_minutes_count_only_inside_windows() -> None:
    windows = [win(0, 0, 60)]
    visits = [visit(0, -10, 20), visit(0, 5, 10, "U2"), visit(0, 55, 10, "U3")]
    row = dosage_row(spot(), windows, visits)
    assert row.patrol_minutes == pytest.approx(15 + 5)  # 0-15 and 55-60
    assert row.officer_minutes == pytest.approx(10 + 10 + 5)
    assert (row.qualifying_visits, row.delivered_visits) == (3, 1)


def test_a_visit_across_two_windows_counts_once() -> None:
    windows = [win(0, 0, 60), win(0, 60, 60)]
    row = dosage_row(spot(t=60), windows, [visit(0, 50, 20)])
    assert (row.visits, row.qualifying_visits, row.planned_visits, row.delivered_visits) == (
        1, 1, 2, 1)
    assert row.patrol_minutes == pytest.approx(20)


def test_no_window_means_no_compliance() -> None:
    row = dosage_row(spot(), [], [visit(0, 0, 30)])
    assert (row.windows, row.planned_visits, row.visits, row.compliance) == (0, 0, 0, None)


def test_windows_are_cut_to_the_period() -> None:
    windows = [win(0, 0, 480)]
    row = dosage_row(spot(), windows, [visit(0, 10, 10), visit(0, 300, 10)],
                     start=S, end=S + 240 * 60)
    assert (row.window_minutes, row.planned_visits, row.visits, row.delivered_visits) == (
        240, 2, 1, 1)
    outside = dosage_row(spot(), windows, [], start=S + 600 * 60, end=S + 700 * 60)
    assert (outside.windows, outside.compliance) == (0, None)


def test_rows_and_csv() -> None:
    spots = [spot("B"), spot("A", t=60)]
    rows = dosage_rows(spots, {"A": [win(0, 0, 120)], "B": []},
                       {"A": [visit(0, 0, 10.5)]})
    assert [r.hotspot for r in rows] == ["B", "A"]
    parsed = list(csv.DictReader(io.StringIO(dosage_csv(rows))))
    assert parsed[0]["hotspot"] == "B" and parsed[0]["compliance"] == ""
    assert parsed[1] == {
        "hotspot": "A", "name": "Hotspot A", "category": "night_time_economy", "priority": "1",
        "operation": "Week of action", "windows": "1", "window_minutes": "120.0", "visits": "1",
        "qualifying_visits": "1", "patrol_minutes": "10.5", "officer_minutes": "10.5",
        "planned_visits": "2", "delivered_visits": "1", "compliance": "0.500",
        "observed_minutes": "120.0", "unobserved_windows": "0", "mostly_unobserved": "false",
    }


def test_only_observed_time_is_judged() -> None:
    # Three 4-hour windows, T = 120, plan 2 each when fully observed.
    windows = [win(0, 0, 240), win(1, 0, 240), win(2, 0, 240)]
    observed = [
        (S, S + 240 * 60),  # day 0: all of it
        (S + 86_400 + 180 * 60, S + 86_400 + 240 * 60),  # day 1: the last hour only
        (S + 2 * 86_400 + 120 * 60, S + 2 * 86_400 + 300 * 60),  # day 2: exactly half
    ]
    visits = [visit(0, 10, 10), visit(1, 200, 12), visit(2, 150, 10)]
    row = dosage_row(spot(), windows, visits, observed=observed)
    assert row.observed_minutes == pytest.approx(240 + 60 + 120)
    assert row.unobserved_windows == 1  # day 1, under half observed: not a failure
    # Day 0 plans 2 (delivered 1); day 2 plans for its 120 observed minutes: 1 (delivered 1).
    assert (row.planned_visits, row.delivered_visits) == (3, 2)
    assert row.compliance == pytest.approx(2 / 3)
    assert (row.visits, row.qualifying_visits) == (3, 3)  # day 1's visit still happened
    assert not row.mostly_unobserved


def test_a_period_before_the_feed_began_is_not_a_failure() -> None:
    windows = [win(0, 0, 480)]
    row = dosage_row(spot(t=60), windows, [], observed=[(S + 470 * 60, S + 480 * 60)])
    assert (row.windows, row.unobserved_windows, row.planned_visits) == (1, 1, 0)
    assert row.compliance is None  # nothing judged, not 0 %
    assert row.mostly_unobserved
    assert row.observed_minutes == pytest.approx(10)
