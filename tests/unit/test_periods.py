"""The one period validator (core.periods): tables, no server."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from patrolwatch.core.periods import (
    Bounds,
    PeriodError,
    check_date,
    check_moment,
    check_period,
    moment_from_args,
    parse_time,
    period_from_args,
)

NOW = 1_795_000_000.0  # 2026-11-18
DAY = 86_400.0
B = Bounds(NOW, 31 * DAY)
LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(("args", "says"), [
    ({"since": "0001-01-01T00:00:00Z", "until": "0001-01-02T00:00:00Z"}, "retention"),
    ({"since": "9999-12-30T00:00:00Z", "until": "9999-12-31T00:00:00Z"}, "future"),
    ({"since": "2026-09-01T00:00:00Z", "until": "2026-09-02T00:00:00Z"}, "retention"),
    ({"since": "soon"}, "not an RFC 3339"),
    ({"since": "2026-11-18T10:00:00"}, "add Z"),
    ({"since": "x" * 5000}, "RFC 3339"),
    ({"since": "2026-11-18T10:00:00Z", "until": "2026-11-18T09:00:00Z"}, "after until"),
    ({"since": "2026-11-01T00:00:00Z", "until": "2026-11-18T00:00:00Z"}, "longer than 24 h"),
])
def test_periods_outside_retention_malformed_or_too_long_are_refused(
        args: dict[str, str], says: str) -> None:
    with pytest.raises(PeriodError, match=says):
        period_from_args(args, B, 3600, DAY)


def test_a_default_period_never_reaches_past_retention() -> None:
    short = Bounds(NOW, 600.0)
    assert period_from_args({}, short, 3600, DAY) == (NOW - 600.0, NOW)


def test_a_period_inside_retention_is_returned() -> None:
    since, until = period_from_args({"since": "2026-11-18T10:00:00Z"}, B, 3600, DAY)
    assert since == parse_time("2026-11-18T10:00:00Z", "s") and until == NOW


@pytest.mark.parametrize("ts", [float("nan"), float("inf"), -1e300, NOW - 32 * DAY,
                                NOW + 2 * DAY, True])
def test_moments_that_are_no_time_or_out_of_bounds_are_refused(ts: float) -> None:
    with pytest.raises(PeriodError):
        check_moment(ts, "at", B)


def test_at_may_lie_only_as_far_ahead_as_the_clock_allowance() -> None:
    assert moment_from_args({"at": "2026-11-18T00:00:00Z"}, "at", B, 300) < NOW
    with pytest.raises(PeriodError, match="future"):
        moment_from_args({"at": "2026-11-19T00:00:00Z"}, "at", B, 300)


def test_check_period_bounds_the_length() -> None:
    assert check_period(NOW - 10, NOW, B, 60) == (NOW - 10, NOW)
    with pytest.raises(PeriodError, match="longer"):
        check_period(NOW - 7200, NOW, B, 3600)


@pytest.mark.parametrize(("text", "says"), [
    ("0001-01-01", "retention"), ("9999-12-31", "range|future"), ("2026-13-01", "not a date"),
    ("yesterday", "not a date"), ("2026-01-01", "retention"), ("2027-01-01", "future")])
def test_dates_are_checked_the_same_way(text: str, says: str) -> None:
    with pytest.raises(PeriodError, match=says):
        check_date(text, "date", LONDON, B)


def test_today_is_a_valid_date() -> None:
    assert str(check_date("2026-11-18", "date", LONDON, B)) == "2026-11-18"
