"""Suggested units for a gap and the one-to-one assignment of units to gaps."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patrolwatch.core.coverage import Gap
from patrolwatch.core.geo import haversine_m
from patrolwatch.core.model import Status, UnitState
from patrolwatch.core.suggest import assign, gap_weight, speed_of, suggest_units

NOW = 1_733_500_000.0
STALE = 180.0
SPEEDS = {"foot": 1.4, "cycle": 4.0, "vehicle": 8.0}
LAT, LON = 51.5100, -0.1300  # the gap
NORTH_1KM = 1000 / 111_195  # degrees of latitude per kilometre, near enough


def unit(uid: str, km: float | None = 1.0, kind: str = "foot", *,
         status: Status = Status.ON_PATROL, seen_ago: float = 10.0,
         lwt_ago: float | None = None) -> UnitState:
    return UnitState(
        id=uid, callsign=uid, team="TF", kind=kind, registered=True,
        lat=None if km is None else LAT + km * NORTH_1KM, lon=None if km is None else LON,
        status=status, last_seen=NOW - seen_ago,
        lwt_ts=None if lwt_ago is None else NOW - lwt_ago,
    )


def ids(units: list[UnitState], busy: frozenset[str] = frozenset(), limit: int = 5) -> list[str]:
    return [s.id for s in suggest_units(LAT, LON, units, SPEEDS, set(busy), NOW, STALE, limit)]


def test_ranked_by_eta_with_distance_and_eta() -> None:
    (s,) = suggest_units(LAT, LON, [unit("A", 1.0)], SPEEDS, set(), NOW, STALE)
    assert s.distance_m == pytest.approx(1000, rel=1e-3)
    assert s.eta_s == pytest.approx(s.distance_m / 1.4)
    assert ids([unit("far", 2.0), unit("near", 0.5), unit("mid", 1.0)]) == ["near", "mid", "far"]


def test_speed_by_kind_changes_the_ranking() -> None:
    units = [unit("walker", 1.0, "foot"), unit("cyclist", 2.0, "cycle"),
             unit("car", 5.0, "vehicle")]
    assert ids(units) == ["cyclist", "car", "walker"]  # 500 s, 625 s, 714 s
    ranked = suggest_units(LAT, LON, units, {"foot": 1.4}, set(), NOW, STALE)
    assert [s.id for s in ranked] == ["walker", "cyclist", "car"]  # all at walking pace


def test_ties_break_by_distance_then_id() -> None:
    units = [unit("B", 1.0), unit("A", 1.0), unit("C", 1.0, "vehicle"), unit("D", 0.0),
             unit("E", 0.0, "vehicle")]
    assert ids(units) == ["D", "E", "C", "A", "B"]


@given(st.lists(st.builds(lambda i, km, kind: unit(f"U{i}", km, kind), st.integers(0, 30),
                          st.sampled_from([0.0, 0.5, 1.0, 2.0, 4.0]),
                          st.sampled_from(["foot", "cycle", "vehicle"])),
                max_size=12, unique_by=lambda u: u.id), st.integers(1, 6))
def test_ranking_is_the_best_few_in_order(units: list[UnitState], limit: int) -> None:
    ranked = suggest_units(LAT, LON, units, SPEEDS, set(), NOW, STALE, limit)
    everyone = suggest_units(LAT, LON, units, SPEEDS, set(), NOW, STALE, limit=len(units))
    key = lambda s: (s.eta_s, s.distance_m, s.id)  # noqa: E731
    assert everyone == sorted(everyone, key=key) and len(everyone) == len(units)
    assert ranked == everyone[:limit]


@pytest.mark.parametrize(("excluded", "why"), [
    (unit("X", status=Status.OFF_DUTY), "off duty"),
    (unit("X", status=Status.COMMITTED), "committed"),
    (unit("X", status=Status.EN_ROUTE), "en route"),
    (unit("X", status=Status.EMERGENCY), "emergency"),
    (unit("X", seen_ago=STALE + 1), "stale"),
    (unit("X", seen_ago=30, lwt_ago=10), "last will after its last message"),
    (unit("X", km=None), "no position"),
])
def test_excluded_units(excluded: UnitState, why: str) -> None:
    assert ids([excluded, unit("ok")]) == ["ok"], why


def test_busy_units_and_limits() -> None:
    units = [unit(f"U{i}", km=i + 1) for i in range(8)]
    assert ids(units, frozenset({"U0", "U2"})) == ["U1", "U3", "U4", "U5", "U6"]
    assert ids(units, limit=2) == ["U0", "U1"]
    assert ids([]) == []
    assert ids([unit("X", status=Status.OFF_DUTY)]) == []
    assert ids([unit("A", status=Status.AVAILABLE)]) == ["A"]
    assert ids([unit("A", seen_ago=STALE)]) == ["A"]  # exactly stale_after_s: not yet stale


def test_unknown_kind_takes_the_slowest_speed() -> None:
    assert speed_of("horse", SPEEDS) == 1.4
    with pytest.raises(ValueError, match="speeds is empty"):
        speed_of("foot", {})


def gap(hid: str, priority: int = 1, km: float = 0.0, overdue: float = 10.0) -> Gap:
    return Gap(hid, hid, "presence_gap", NOW - overdue * 60, priority, overdue,
               LAT + km * NORTH_1KM, LON)


def test_assign_nearest_and_priority_first() -> None:
    gaps = [gap("G3", 3, km=0.0), gap("G1", 1, km=10.0)]
    units = [unit("car", 9.0, "vehicle"), unit("walker", 0.1)]
    pairs = {h: s.id for h, s in assign(gaps, units, SPEEDS, set(), NOW, STALE)}
    assert pairs == {"G1": "car", "G3": "walker"}
    # One unit for two gaps: the priority-1 gap is served even though it is far away.
    pairs = {h: s.id for h, s in assign(gaps, [unit("walker", 0.1)], SPEEDS, set(), NOW, STALE)}
    assert pairs == {"G1": "walker"}
    assert assign([], units, SPEEDS, set(), NOW, STALE) == []
    assert assign(gaps, [unit("X", status=Status.OFF_DUTY)], SPEEDS, set(), NOW, STALE) == []
    assert assign(gaps, units, SPEEDS, {"car", "walker"}, NOW, STALE) == []


def test_assign_prefers_overdue_among_equal_priority() -> None:
    gaps = [gap("new", 2, km=0.0, overdue=5), gap("old", 2, km=20.0, overdue=50)]
    pairs = assign(gaps, [unit("A", 0.0)], SPEEDS, set(), NOW, STALE)
    assert [h for h, _ in pairs] == ["old"]


place = st.floats(-3.0, 3.0)
gap_st = st.builds(lambda i, p, km, o: gap(f"G{i}", p, km, o), st.integers(0, 99),
                   st.integers(1, 3), place, st.integers(0, 120))
unit_st = st.builds(lambda i, km, kind: unit(f"U{i}", km, kind), st.integers(0, 99), place,
                    st.sampled_from(["foot", "cycle", "vehicle"]))


@settings(max_examples=200, deadline=None)
@given(st.lists(gap_st, max_size=4, unique_by=lambda g: g.hotspot),
       st.lists(unit_st, max_size=5, unique_by=lambda u: u.id))
def test_assignment_is_one_to_one_and_optimal(gaps: list[Gap], units: list[UnitState]) -> None:
    pairs = assign(gaps, units, SPEEDS, set(), NOW, STALE)
    hotspots = [h for h, _ in pairs]
    chosen = [s.id for _, s in pairs]
    assert len(set(hotspots)) == len(hotspots) and len(set(chosen)) == len(chosen)
    assert len(pairs) == min(len(gaps), len(units))
    urgent = sorted(gaps, key=lambda g: (g.priority, -g.overdue_minutes, g.hotspot))
    served = urgent[: len(units)]
    assert set(hotspots) == {g.hotspot for g in served}
    by_id = {u.id: u for u in units}

    def cost(g: Gap, u: UnitState) -> float:
        d = haversine_m(u.lat, u.lon, g.lat, g.lon)  # type: ignore[arg-type]
        return d / SPEEDS[u.kind] * gap_weight(g.priority)

    best = min((sum(cost(g, by_id[u]) for g, u in zip(served, perm, strict=True))
                for perm in itertools.permutations(by_id, len(served))), default=0.0)
    got = sum(cost(next(g for g in gaps if g.hotspot == h), by_id[s.id]) for h, s in pairs)
    assert got == pytest.approx(best, rel=1e-9, abs=1e-6)
    for h, s in pairs:
        g = next(g for g in gaps if g.hotspot == h)
        u = by_id[s.id]
        assert s.eta_s == pytest.approx(s.distance_m / SPEEDS[u.kind])
        expected = haversine_m(u.lat, u.lon, g.lat, g.lon)  # type: ignore[arg-type]
        assert s.distance_m == pytest.approx(expected)
