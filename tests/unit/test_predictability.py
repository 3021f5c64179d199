"""Predictability: first qualifying visits at about the same local time on consecutive days."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patrolwatch.core.predictability import _arc, predictable_patterns
from patrolwatch.core.visits import Visit

LONDON = ZoneInfo("Europe/London")
D0 = date(2024, 12, 6)


def at(day: int, hhmm: str, minutes: float = 12.0, hotspot: str = "H", start: date = D0) -> Visit:
    h, m = map(int, hhmm.split(":"))
    moment = datetime(start.year, start.month, start.day, h, m, tzinfo=LONDON) + timedelta(
        days=day)
    ts = moment.timestamp()
    return Visit("U1", hotspot, ts, ts + minutes * 60, 5)


def flags(visits: list[Visit], **kw: float) -> list[tuple[str, list[int], str]]:
    return [(f.hotspot, [(d - D0).days for d in f.days], f.typical_time)
            for f in predictable_patterns(visits, LONDON, **kw)]  # type: ignore[arg-type]


CASES = [
    ("three days at about 21:00", [at(0, "21:00"), at(1, "21:05"), at(2, "20:55")],
     [("H", [0, 1, 2], "21:00")]),
    ("two days are not enough", [at(0, "21:00"), at(1, "21:00")], []),
    ("a day missing breaks the run", [at(0, "21:00"), at(1, "21:00"), at(3, "21:00")], []),
    ("exactly +/- 10 minutes", [at(0, "21:00"), at(1, "21:20"), at(2, "21:10")],
     [("H", [0, 1, 2], "21:10")]),
    ("21 minutes apart is varied enough", [at(0, "21:00"), at(1, "21:21"), at(2, "21:10")], []),
    ("across midnight", [at(0, "23:55"), at(1, "00:02"), at(2, "23:59")],
     [("H", [0, 1, 2], "23:59")]),
    ("only the first visit of a day counts",
     [at(0, "21:00"), at(1, "18:00"), at(1, "21:00"), at(2, "21:00")], []),
    ("a short visit is not a first visit",
     [at(0, "21:00"), at(1, "18:00", minutes=9.99), at(1, "21:00"), at(2, "21:00")],
     [("H", [0, 1, 2], "21:00")]),
    ("drifting 10 minutes a day gives overlapping runs",
     [at(0, "21:00"), at(1, "21:10"), at(2, "21:20"), at(3, "21:30")],
     [("H", [0, 1, 2], "21:10"), ("H", [1, 2, 3], "21:20")]),
    ("a long run is one flag", [at(d, "08:30") for d in range(6)],
     [("H", [0, 1, 2, 3, 4, 5], "08:30")]),
    ("hotspots are separate",
     [at(0, "21:00"), at(1, "21:00", hotspot="K"), at(2, "21:00"), at(0, "10:00", hotspot="K"),
      at(2, "10:00", hotspot="K")], []),
]


@pytest.mark.parametrize(("visits", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_predictable_patterns(visits: list[Visit], expected: list[object]) -> None:
    assert flags(visits) == expected


def test_parameters() -> None:
    visits = [at(0, "21:00"), at(1, "21:22"), at(2, "21:00"), at(3, "21:00")]
    assert flags(visits) == []
    assert flags(visits, tolerance_minutes=11) == [("H", [0, 1, 2, 3], "21:11")]
    assert flags(visits, tolerance_minutes=11, days=4) == [("H", [0, 1, 2, 3], "21:11")]
    assert flags(visits, tolerance_minutes=11, days=5) == []
    assert flags([at(d, "21:00", minutes=5) for d in range(3)]) == []
    assert flags([at(d, "21:00", minutes=5) for d in range(3)], min_minutes=5) == [
        ("H", [0, 1, 2], "21:00")]
    by_hotspot = predictable_patterns([at(d, "21:00", minutes=5) for d in range(3)], LONDON,
                                      min_minutes_by_hotspot={"H": 5})
    assert len(by_hotspot) == 1


def test_local_time_across_the_clock_change() -> None:
    start = date(2024, 10, 26)  # BST ends on the 27th: 21:00 local is 20:00 UTC, then 21:00
    visits = [at(d, "21:00", start=start) for d in range(3)]
    (flag,) = predictable_patterns(visits, LONDON)
    assert flag.days == [date(2024, 10, 26), date(2024, 10, 27), date(2024, 10, 28)]
    assert flag.typical_time == "21:00"


@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 1439)), max_size=14),
       st.integers(2, 4), st.integers(1, 30))
def test_flags_cover_exactly_the_predictable_runs(
    entries: list[tuple[int, int]], days: int, tolerance: int
) -> None:
    first: dict[int, int] = {}
    for day, minute in entries:
        first.setdefault(day, minute)
    visits = [at(day, f"{m // 60:02d}:{m % 60:02d}") for day, m in first.items()]
    found = flags(visits, days=days, tolerance_minutes=tolerance)
    for _, run, _ in found:
        assert len(run) >= days and run == list(range(run[0], run[0] + len(run)))
        assert _arc([float(first[d]) for d in run])[0] <= 2 * tolerance
    for d0 in range(13):
        run = list(range(d0, d0 + days))
        fits = all(d in first for d in run) and _arc([float(first[d]) for d in run])[0] <= (
            2 * tolerance)
        if fits:
            assert any(set(run) <= set(r) for _, r, _ in found)
