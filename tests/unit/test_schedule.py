"""Schedules: rules, windows across midnight, clock changes and validity dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from patrolwatch.core.schedule import (
    ScheduleRule,
    Window,
    active_window,
    format_rule,
    overlap_problems,
    parse_rule,
    wall_to_utc,
    windows_between,
)

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
NTE = (
    parse_rule({"days": ["thu", "fri", "sat"], "start": "20:00", "end": "04:00"}),
    parse_rule({"days": ["sun"], "start": "20:00", "end": "02:00"}),
)


def rule(days: str, start: str, end: str) -> ScheduleRule:
    return parse_rule({"days": days.split(","), "start": start, "end": end})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=LONDON, fold=fold)


# ---------------------------------------------------------------- parse_rule


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"days": ["fri"], "start": "22:00", "end": "03:00"},
         ScheduleRule(frozenset({4}), time(22), time(3))),
        ({"days": ["Mon", "TUE", "mon"], "start": "08:00", "end": "09:30"},
         ScheduleRule(frozenset({0, 1}), time(8), time(9, 30))),
        ({"days": ["sun"], "start": "20:00", "end": "24:00"},
         ScheduleRule(frozenset({6}), time(20), time(0))),
        ({"days": ["sat"], "start": "00:00", "end": "24:00"},
         ScheduleRule(frozenset({5}), time(0), time(0))),
        ({"days": ["sat"], "start": "23:59", "end": "00:00"},
         ScheduleRule(frozenset({5}), time(23, 59), time(0))),
    ],
)
def test_parse_rule_accepts(raw: dict[str, object], expected: ScheduleRule) -> None:
    assert parse_rule(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("fri 22:00-03:00", "a schedule rule must be an object"),
        ({"days": ["fri"], "start": "22:00"}, "missing end"),
        ({"start": "22:00", "end": "03:00"}, "missing days"),
        ({"days": ["fri"], "start": "22:00", "end": "03:00", "stat": 1},
         "unknown key 'stat' (expected days, start, end)"),
        ({"days": ["friday"], "start": "22:00", "end": "03:00"},
         "unknown day 'friday' (use mon, tue, wed, thu, fri, sat, sun)"),
        ({"days": [], "start": "22:00", "end": "03:00"}, "days must be a non-empty list"),
        ({"days": "fri", "start": "22:00", "end": "03:00"}, "days must be a non-empty list"),
        ({"days": [5], "start": "22:00", "end": "03:00"}, "unknown day 5"),
        ({"days": ["fri"], "start": "8:00", "end": "09:00"},
         "start '8:00' is not a 24-hour time HH:MM (00:00 to 23:59)"),
        ({"days": ["fri"], "start": "24:00", "end": "09:00"}, "start '24:00' is not a 24-hour"),
        ({"days": ["fri"], "start": "08:00", "end": "25:00"},
         "end '25:00' is not a 24-hour time HH:MM (00:00 to 23:59 or 24:00)"),
        ({"days": ["fri"], "start": "08:00", "end": "09:60"}, "end '09:60' is not a 24-hour"),
        ({"days": ["fri"], "start": "10pm", "end": 3}, "start '10pm' is not"),
        ({"days": ["fri"], "start": "22:00", "end": 3}, "end 3 is not a 24-hour time"),
    ],
)
def test_parse_rule_rejects_with_a_clear_reason(raw: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_rule(raw)
    assert message in str(caught.value)


def test_parse_rule_reports_every_problem_at_once() -> None:
    with pytest.raises(ValueError) as caught:
        parse_rule({"days": ["funday"], "start": "25:00", "end": "x"})
    text = str(caught.value)
    assert "unknown day 'funday'" in text
    assert "start '25:00'" in text
    assert "end 'x'" in text


def test_format_rule_writes_24_00_for_a_midnight_end() -> None:
    assert format_rule(rule("sat,fri", "20:00", "24:00")) == "fri,sat 20:00-24:00"
    assert format_rule(rule("sun", "00:00", "00:00")) == "sun 00:00-00:00"


# ---------------------------------------------------------------- overlaps


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (NTE, []),
        ([rule("fri", "22:00", "03:00"), rule("sat", "03:00", "05:00")], []),  # adjacent
        ([rule("mon", "08:00", "08:00"), rule("tue", "08:00", "08:00")], []),  # 24 h, adjacent
        ([rule("fri", "22:00", "03:00"), rule("sat", "02:00", "05:00")],
         ["schedule[0] (fri 22:00-03:00) and schedule[1] (sat 02:00-05:00) overlap on fri/sat:"
          " merge them into one rule"]),
        ([rule("sun", "22:00", "03:00"), rule("mon", "01:00", "02:00")],
         ["schedule[0] (sun 22:00-03:00) and schedule[1] (mon 01:00-02:00) overlap on sun/mon:"
          " merge them into one rule"]),
        ([rule("mon,tue", "08:00", "12:00"), rule("tue", "11:00", "13:00")],
         ["schedule[0] (mon,tue 08:00-12:00) and schedule[1] (tue 11:00-13:00) overlap on tue:"
          " merge them into one rule"]),
    ],
)
def test_overlap_problems(rules: list[ScheduleRule], expected: list[str]) -> None:
    assert overlap_problems(rules) == expected


# ---------------------------------------------------------------- wall times


@pytest.mark.parametrize(
    ("zone", "day", "wall", "expected"),
    [
        ("Europe/London", date(2026, 7, 1), time(12), utc(2026, 7, 1, 11)),
        ("Europe/London", date(2026, 1, 1), time(12), utc(2026, 1, 1, 12)),
        # Does not exist: the clocks jump 01:00 GMT -> 02:00 BST; first valid instant.
        ("Europe/London", date(2026, 3, 29), time(1, 30), utc(2026, 3, 29, 1)),
        ("Europe/London", date(2026, 3, 29), time(1, 0), utc(2026, 3, 29, 1)),
        ("Europe/London", date(2026, 3, 29), time(2, 0), utc(2026, 3, 29, 1)),
        # Happens twice (01:30 BST, then 01:30 GMT): the first occurrence.
        ("Europe/London", date(2026, 10, 25), time(1, 30), utc(2026, 10, 25, 0, 30)),
        # A half-hour jump, and a whole day that never happened.
        ("Australia/Lord_Howe", date(2026, 10, 4), time(2, 15), utc(2026, 10, 3, 15, 30)),
        ("Pacific/Apia", date(2011, 12, 30), time(12), utc(2011, 12, 30, 10)),
    ],
)
def test_wall_to_utc(zone: str, day: date, wall: time, expected: datetime) -> None:
    assert wall_to_utc(day, wall, ZoneInfo(zone)) == expected


# ---------------------------------------------------------------- window lengths


@pytest.mark.parametrize(
    ("rules", "day", "start", "hours"),
    [
        # Across midnight on an ordinary night: belongs to its start day.
        ((rule("fri", "22:00", "03:00"),), date(2026, 11, 27), utc(2026, 11, 27, 22), 5),
        # Clocks go forward (last Sunday of March): 22:00 GMT -> 03:00 BST is 4 h.
        ((rule("sat", "22:00", "03:00"),), date(2026, 3, 28), utc(2026, 3, 28, 22), 4),
        # Clocks go back (last Sunday of October): 22:00 BST -> 03:00 GMT is 6 h.
        ((rule("sat", "22:00", "03:00"),), date(2026, 10, 24), utc(2026, 10, 24, 21), 6),
        # Always active: a calendar day, 23 h and 25 h on the clock-change days.
        ((), date(2026, 3, 29), utc(2026, 3, 29, 0), 23),
        ((), date(2026, 10, 25), utc(2026, 10, 24, 23), 25),
        ((), date(2026, 11, 28), utc(2026, 11, 28, 0), 24),
        # Start in the gap moves forward to 02:00 BST: 02:00 -> 05:00 BST is 3 h.
        ((rule("sun", "01:30", "05:00"),), date(2026, 3, 29), utc(2026, 3, 29, 1), 3),
        # End in the gap: 22:00 GMT -> 02:00 BST (first valid instant) is 3 h.
        ((rule("sat", "22:00", "01:30"),), date(2026, 3, 28), utc(2026, 3, 28, 22), 3),
        # Ambiguous start takes 01:30 BST: -> 03:00 GMT is 2.5 h.
        ((rule("sun", "01:30", "03:00"),), date(2026, 10, 25), utc(2026, 10, 25, 0, 30), 2.5),
        # Ambiguous end takes 01:30 BST: 22:00 BST -> 01:30 BST is 3.5 h.
        ((rule("sat", "22:00", "01:30"),), date(2026, 10, 24), utc(2026, 10, 24, 21), 3.5),
        # 24:00 end means the next midnight; start == end is 24 wall-clock hours.
        ((rule("mon", "20:00", "24:00"),), date(2026, 11, 23), utc(2026, 11, 23, 20), 4),
        ((rule("mon", "08:00", "08:00"),), date(2026, 11, 23), utc(2026, 11, 23, 8), 24),
    ],
)
def test_window_of_a_day(
    rules: tuple[ScheduleRule, ...], day: date, start: datetime, hours: float
) -> None:
    midday = datetime.combine(day, time(12), LONDON)
    found = windows_between(
        rules, day, day, midday - timedelta(days=1), midday + timedelta(days=2), LONDON
    )
    assert found == [Window(start, start + timedelta(hours=hours))]
    assert found[0].start.tzinfo is UTC and found[0].end.tzinfo is UTC


def test_a_window_wholly_inside_the_spring_gap_does_not_exist() -> None:
    rules = (rule("sun", "01:10", "01:50"),)
    assert windows_between(rules, None, None, utc(2026, 3, 28), utc(2026, 3, 30), LONDON) == []
    assert active_window(rules, None, None, utc(2026, 3, 29, 1), LONDON) is None


# ---------------------------------------------------------------- active_window


FRIDAY_NIGHT = Window(utc(2026, 11, 27, 22), utc(2026, 11, 28, 3))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (local(2026, 11, 27, 21, 59, 59), None),
        (local(2026, 11, 27, 22, 0), FRIDAY_NIGHT),  # exactly at start: active
        (local(2026, 11, 28, 2, 59, 59), FRIDAY_NIGHT),  # after midnight: Friday's window
        (local(2026, 11, 28, 3, 0), None),  # exactly at end: inactive
        (local(2026, 11, 28, 22, 30), None),  # Saturday is not a rule day
        (local(2026, 11, 27, 2, 0), None),  # Thursday night was not a rule day
    ],
)
def test_active_window_across_midnight(now: datetime, expected: Window | None) -> None:
    assert active_window((rule("fri", "22:00", "03:00"),), None, None, now, LONDON) == expected


def test_active_window_on_fall_back_night_covers_both_one_thirties() -> None:
    rules = (rule("sat", "22:00", "03:00"),)
    window = Window(utc(2026, 10, 24, 21), utc(2026, 10, 25, 3))
    assert active_window(rules, None, None, local(2026, 10, 25, 1, 30, fold=0), LONDON) == window
    assert active_window(rules, None, None, local(2026, 10, 25, 1, 30, fold=1), LONDON) == window
    assert active_window(rules, None, None, local(2026, 10, 25, 3, 0), LONDON) is None


def test_always_active_at_midnight_is_the_new_day() -> None:
    midnight = local(2026, 11, 28, 0, 0)
    window = active_window((), None, None, midnight, LONDON)
    assert window == Window(utc(2026, 11, 28), utc(2026, 11, 29))


@pytest.mark.parametrize(
    ("now", "active_since"),
    [
        (local(2026, 11, 27, 3, 0), None),  # Thu's window starts before valid_from
        (local(2026, 11, 27, 19, 59), None),
        (local(2026, 11, 27, 20, 0), local(2026, 11, 27, 20, 0)),  # valid_from, inclusive
        (local(2026, 11, 28, 23, 0), local(2026, 11, 28, 20, 0)),  # valid_to, inclusive
        (local(2026, 11, 29, 3, 59), local(2026, 11, 28, 20, 0)),  # runs past valid_to
        (local(2026, 11, 29, 4, 0), None),
        (local(2026, 11, 29, 21, 0), None),  # Sunday's window starts after valid_to
    ],
)
def test_valid_from_and_valid_to_bound_the_start_day(
    now: datetime, active_since: datetime | None
) -> None:
    window = active_window(NTE, date(2026, 11, 27), date(2026, 11, 28), now, LONDON)
    assert (window.start if window else None) == active_since


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="now must be a timezone-aware datetime"):
        active_window(NTE, None, None, datetime(2026, 11, 28, 21), LONDON)
    with pytest.raises(ValueError, match="start must be a timezone-aware datetime"):
        windows_between(NTE, None, None, datetime(2026, 11, 28), utc(2026, 11, 29), LONDON)


# ---------------------------------------------------------------- windows_between


def test_windows_between_over_an_operation_week() -> None:
    monday, next_monday = local(2026, 11, 23), local(2026, 11, 30)
    expected = [
        Window(utc(2026, 11, 22, 20), utc(2026, 11, 23, 2)),  # Sunday's, reaching into Monday
        Window(utc(2026, 11, 26, 20), utc(2026, 11, 27, 4)),
        Window(utc(2026, 11, 27, 20), utc(2026, 11, 28, 4)),
        Window(utc(2026, 11, 28, 20), utc(2026, 11, 29, 4)),
        Window(utc(2026, 11, 29, 20), utc(2026, 11, 30, 2)),  # overlaps the end of the week
    ]
    assert windows_between(NTE, None, None, monday, next_monday, LONDON) == expected
    in_operation = windows_between(NTE, date(2026, 11, 23), None, monday, next_monday, LONDON)
    assert in_operation == expected[1:]


def test_windows_between_is_sorted_across_rules_and_half_open() -> None:
    daily = "mon,tue,wed,thu,fri,sat,sun"
    transport = (rule(daily, "07:00", "10:00"), rule(daily, "16:00", "01:00"))
    start, end = local(2026, 11, 28, 10), local(2026, 11, 29, 7)
    found = windows_between(transport, None, None, start, end, LONDON)
    # [10:00, 07:00 next day): the 07:00-10:00 windows only touch the edges, so they are out.
    assert found == [Window(utc(2026, 11, 28, 16), utc(2026, 11, 29, 1))]
    assert windows_between(transport, None, None, utc(2026, 11, 29), utc(2026, 11, 28),
                           LONDON) == []


def test_school_gate_windows_in_a_week() -> None:
    weekdays = ",".join(WEEKDAYS)
    school = (rule(weekdays, "08:00", "09:00"), rule(weekdays, "14:45", "16:15"))
    found = windows_between(school, None, None, local(2026, 11, 23), local(2026, 11, 30), LONDON)
    assert len(found) == 10
    assert sum((w.end - w.start for w in found), timedelta()) == timedelta(hours=12.5)
    assert found == sorted(found, key=lambda w: w.start)


# ---------------------------------------------------------------- against a brute force


def _clock_change_near(moment: datetime) -> bool:
    offsets = {(moment + timedelta(hours=h)).astimezone(LONDON).utcoffset() for h in (-30, 30)}
    return len(offsets) > 1


@given(
    moment=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31),
                        timezones=st.just(UTC)),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=st.integers(0, 1439),
    length=st.integers(1, 1440),
)
def test_active_window_agrees_with_wall_clock_arithmetic(
    moment: datetime, days: frozenset[int], start: int, length: int
) -> None:
    # Away from clock changes a window is plain wall-clock arithmetic; check against that.
    assume(not _clock_change_near(moment))
    end = (start + length) % 1440
    the_rule = ScheduleRule(days, time(start // 60, start % 60), time(end // 60, end % 60))
    wall = moment.astimezone(LONDON)
    minute = wall.hour * 60 + wall.minute + wall.second / 60 + wall.microsecond / 6e7
    today = wall.weekday() in days and start <= minute < start + length
    yesterday = (wall.weekday() - 1) % 7 in days and minute < start + length - 1440
    window = active_window((the_rule,), None, None, moment, LONDON)
    assert (window is not None) == (today or yesterday)
    if window is not None:
        assert window.contains(moment)
        assert window.end - window.start == timedelta(minutes=length)


@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31),
                       timezones=st.just(UTC)),
    span_hours=st.integers(1, 24 * 10),
)
def test_windows_between_matches_active_window(start: datetime, span_hours: int) -> None:
    end = start + timedelta(hours=span_hours)
    found = windows_between(NTE, None, None, start, end, LONDON)
    assert all(a.end <= b.start for a, b in pairwise(found))
    for window in found:
        assert window.start < end and window.end > start
        probe = max(window.start, start)
        assert active_window(NTE, None, None, probe, LONDON) == window
    # Every hour start in the span is active exactly when some returned window holds it.
    moment = start
    while moment < end:
        held = any(w.contains(moment) for w in found)
        assert (active_window(NTE, None, None, moment, LONDON) is not None) == held
        moment += timedelta(hours=1)



def test_window_is_half_open() -> None:
    window = Window(utc(2026, 11, 27, 22), utc(2026, 11, 28, 3))
    assert window.contains(utc(2026, 11, 27, 22))
    assert window.contains(local(2026, 11, 28, 2, 59, 59))
    assert not window.contains(utc(2026, 11, 28, 3))
    assert not window.contains(utc(2026, 11, 27, 21, 59, 59))
