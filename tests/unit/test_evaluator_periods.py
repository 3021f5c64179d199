"""The evaluator's dosage periods: when the current shift and the operation week began,
across midnight and across both clock changes (Europe/London)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from ingest.evaluator import operation_week_start, shift_start_before
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet

LONDON = ZoneInfo("Europe/London")
SHIFTS = [time(7), time(15), time(23)]


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


# (id, now UTC, shift changes, expected start UTC)
SHIFT_CASES = [
    ("the night shift runs across midnight", utc(2026, 12, 1, 3, 0), SHIFTS,
     utc(2026, 11, 30, 23, 0)),
    ("a second before the change", utc(2026, 12, 1, 6, 59, 59), SHIFTS,
     utc(2026, 11, 30, 23, 0)),
    ("at the change itself", utc(2026, 12, 1, 7, 0), SHIFTS, utc(2026, 12, 1, 7, 0)),
    ("summer time: 07:00 BST is 06:00 UTC", utc(2026, 7, 1, 6, 30), SHIFTS,
     utc(2026, 7, 1, 6, 0)),
    ("clocks go back inside the night shift: 23:00 BST began it", utc(2026, 10, 25, 6, 0),
     SHIFTS, utc(2026, 10, 24, 22, 0)),
    ("clocks go forward inside the night shift: 23:00 GMT began it", utc(2026, 3, 29, 5, 0),
     SHIFTS, utc(2026, 3, 28, 23, 0)),
    ("a change in the spring gap happens at its first valid instant, 02:00 BST",
     utc(2026, 3, 29, 1, 45), [time(1, 30), time(13, 30)], utc(2026, 3, 29, 1, 0)),
    ("an ambiguous change takes its first occurrence, 01:30 BST",
     utc(2026, 10, 25, 0, 45), [time(1, 30), time(13, 30)], utc(2026, 10, 25, 0, 30)),
    ("one change a day: yesterday's", utc(2026, 12, 1, 6, 0), [time(7)],
     utc(2026, 11, 30, 7, 0)),
]


@pytest.mark.parametrize(("now", "starts", "expected"), [c[1:] for c in SHIFT_CASES],
                         ids=[c[0] for c in SHIFT_CASES])
def test_shift_start(now: float, starts: list[time], expected: float) -> None:
    assert shift_start_before(now, starts, LONDON) == expected


def _hotspots(valid_from: str | None) -> HotspotSet:
    props: dict[str, object] = {"id": "H", "name": "H", "category": "other", "priority": 1,
                                "radius_m": 100}
    if valid_from:
        props["valid_from"] = valid_from
    feature = {"type": "Feature", "properties": props,
               "geometry": {"type": "Point", "coordinates": [-0.1, 51.5]}}
    return HotspotSet.from_features([feature], CoverageDefaults(), LONDON)


# (id, now UTC, operation's first day, expected start UTC)
WEEK_CASES = [
    ("the last 7 local days from midnight", utc(2026, 12, 1, 12, 0), None,
     utc(2026, 11, 25, 0, 0)),
    ("a week across the clocks going back starts at midnight BST", utc(2026, 10, 28, 12, 0),
     None, utc(2026, 10, 21, 23, 0)),
    ("a week across the clocks going forward starts at midnight GMT", utc(2026, 4, 1, 12, 0),
     None, utc(2026, 3, 26, 0, 0)),
    ("not before the operation's first day", utc(2026, 10, 28, 12, 0), "2026-10-25",
     utc(2026, 10, 24, 23, 0)),
    ("an operation that began before the week", utc(2026, 12, 1, 12, 0), "2026-11-01",
     utc(2026, 11, 25, 0, 0)),
    ("an operation that has not begun: the period is empty", utc(2026, 12, 1, 12, 0),
     "2026-12-05", utc(2026, 12, 1, 12, 0)),
]


@pytest.mark.parametrize(("now", "first", "expected"), [c[1:] for c in WEEK_CASES],
                         ids=[c[0] for c in WEEK_CASES])
def test_operation_week_start(now: float, first: str | None, expected: float) -> None:
    assert operation_week_start(now, _hotspots(first), LONDON) == expected


def test_the_week_holds_seven_local_days() -> None:
    start = operation_week_start(utc(2026, 10, 28, 12, 0), _hotspots(None), LONDON)
    assert datetime.fromtimestamp(start, LONDON).date() == date(2026, 10, 22)
