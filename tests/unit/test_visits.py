"""Visits: DOMAIN.md at its exact thresholds, and the engine against the reference."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patrolwatch.core.model import Status, StatusChange
from patrolwatch.core.visit_engine import VisitEngine
from patrolwatch.core.visits import (
    Ping,
    Visit,
    VisitParams,
    visits_from_history,
)

PARAMS = VisitParams()  # G = 120 s, E = 60 s, acc <= 100 m
T0 = 1_733_500_000.0  # a Friday evening in December 2024


def inside(ts: float, *hotspots: str, unit: str = "U1", acc: float | None = None) -> Ping:
    return Ping(unit, T0 + ts, frozenset(hotspots or ("H",)), acc)


def outside(ts: float, unit: str = "U1") -> Ping:
    return Ping(unit, T0 + ts, frozenset())


def status(ts: float, value: Status, unit: str = "U1") -> StatusChange:
    return StatusChange(unit, T0 + ts, value)


Span = tuple[str, str, float, float, int]


def spans(visits: Sequence[Visit]) -> list[Span]:
    return [(v.unit, v.hotspot, round(v.start - T0, 6), round(v.end - T0, 6), v.pings)
            for v in visits]


def both_ways(pings: list[Ping], statuses: Sequence[StatusChange] = ()) -> list[Visit]:
    """Return the reference visits, checking the engine agrees fed in order and in reverse."""
    expected = visits_from_history(pings, statuses, PARAMS)
    forward = VisitEngine(PARAMS)
    forward.add(pings, statuses)
    assert forward.visits() == expected
    backward = VisitEngine(PARAMS)
    for s in reversed(statuses):
        backward.add(statuses=[s])
    for p in reversed(pings):
        backward.add([p])
    assert backward.visits() == expected
    return expected


CASES: list[tuple[str, list[Ping], list[Span]]] = [
    ("one ping is a 0-minute visit", [inside(0)], [("U1", "H", 0, 0, 1)]),
    ("G exactly joins", [inside(0), inside(120)], [("U1", "H", 0, 120, 2)]),
    ("just over G splits", [inside(0), inside(120.001)],
     [("U1", "H", 0, 0, 1), ("U1", "H", 120.001, 120.001, 1)]),
    ("one outside ping, back after exactly E", [inside(0), outside(50), inside(110)],
     [("U1", "H", 0, 110, 2)]),
    ("one outside ping, back just after E", [inside(0), outside(50), inside(110.001)],
     [("U1", "H", 0, 0, 1), ("U1", "H", 110.001, 110.001, 1)]),
    ("within E of the outside ping but over G overall", [inside(0), outside(80), inside(121)],
     [("U1", "H", 0, 0, 1), ("U1", "H", 121, 121, 1)]),
    ("two outside pings end it", [inside(0), outside(20), outside(40), inside(60)],
     [("U1", "H", 0, 0, 1), ("U1", "H", 60, 60, 1)]),
    ("an inside ping elsewhere is an outside ping here",
     [inside(0), inside(30, "K"), inside(60)],
     [("U1", "H", 0, 60, 2), ("U1", "K", 30, 30, 1)]),
    ("acc exactly 100 counts", [inside(0), inside(60, acc=100.0)], [("U1", "H", 0, 60, 2)]),
    ("acc 100.1 is not presence", [inside(0), inside(60, acc=100.1)], [("U1", "H", 0, 0, 1)]),
    ("an inaccurate ping is the one outside ping",
     [inside(0), inside(30, acc=500.0), inside(90)], [("U1", "H", 0, 90, 2)]),
    ("overlapping hotspots give a visit each", [inside(0, "H", "K"), inside(60, "H", "K")],
     [("U1", "H", 0, 60, 2), ("U1", "K", 0, 60, 2)]),
    ("units never join each other's visits", [inside(0), inside(60, unit="U2")],
     [("U1", "H", 0, 0, 1), ("U2", "H", 60, 60, 1)]),
    ("a duplicate is one ping", [inside(0), inside(0), inside(60)], [("U1", "H", 0, 60, 2)]),
    ("copies that disagree count as inside either",
     [inside(0), outside(60), inside(60), inside(120)], [("U1", "H", 0, 120, 3)]),
]


@pytest.mark.parametrize(("pings", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_visit_definition(pings: list[Ping], expected: list[Span]) -> None:
    assert spans(both_ways(pings)) == expected


@pytest.mark.parametrize(("end", "qualifies"), [(600.0, True), (599.99, False), (660.0, True)])
def test_min_visit_minutes_exactly(end: float, qualifies: bool) -> None:
    pings = [inside(t) for t in range(0, int(end), 60)] + [inside(end)]
    (visit,) = both_ways(pings)
    assert visit.qualifying(10.0) is qualifies
    assert visit.minutes == pytest.approx(end / 60)


def test_fractional_timestamps_still_make_ten_minutes() -> None:
    visit = Visit("U1", "H", T0 + 0.123, T0 + 0.123 + 600.0, 11)
    assert visit.qualifying(10.0)


STATUS_CASES: list[tuple[str, list[StatusChange], list[tuple[float, float]]]] = [
    ("no status yet counts as ON_PATROL", [], [(0, 600)]),
    ("AVAILABLE counts", [status(-10, Status.AVAILABLE)], [(0, 600)]),
    ("OFF_DUTY never counts", [status(-10, Status.OFF_DUTY)], []),
    ("EN_ROUTE does not count", [status(-10, Status.EN_ROUTE)], []),
    ("EMERGENCY does not count", [status(-10, Status.EMERGENCY)], []),
    ("a status applies from its own time on", [status(300, Status.OFF_DUTY)], [(0, 240)]),
    ("a status at a ping's exact time applies to it", [status(240, Status.COMMITTED)],
     [(0, 180)]),
    ("back on patrol starts a new visit",
     [status(200, Status.COMMITTED), status(400, Status.ON_PATROL)], [(0, 180), (420, 600)]),
    ("one ineligible ping is the single outside ping",
     [status(230, Status.COMMITTED), status(250, Status.ON_PATROL)], [(0, 600)]),
    ("two statuses at one instant: not eligible wins",
     [status(300, Status.ON_PATROL), status(300, Status.OFF_DUTY)], [(0, 240)]),
]


@pytest.mark.parametrize(("statuses", "expected"), [c[1:] for c in STATUS_CASES],
                         ids=[c[0] for c in STATUS_CASES])
def test_status_eligibility(
    statuses: list[StatusChange], expected: list[tuple[float, float]]
) -> None:
    pings = [inside(t) for t in range(0, 601, 60)]
    assert [(v.start - T0, v.end - T0) for v in both_ways(pings, statuses)] == expected


def test_late_status_change_reclassifies_and_reports_the_delta() -> None:
    engine = VisitEngine(PARAMS)
    engine.add([inside(t) for t in range(0, 601, 60)])
    delta = engine.add(statuses=[status(300, Status.OFF_DUTY)])
    assert spans(delta.removed) == [("U1", "H", 0, 600, 11)]
    assert spans(delta.added) == [("U1", "H", 0, 240, 5)]
    delta = engine.add(statuses=[status(300, Status.OFF_DUTY)])  # re-delivered: no change
    assert delta.removed == delta.added == []


def test_late_ping_joins_two_visits_into_one() -> None:
    engine = VisitEngine(PARAMS)
    engine.add([inside(0), inside(100), inside(300), inside(400)])
    assert spans(engine.visits()) == [("U1", "H", 0, 100, 2), ("U1", "H", 300, 400, 2)]
    delta = engine.add([inside(200)])
    assert spans(delta.removed) == [("U1", "H", 0, 100, 2), ("U1", "H", 300, 400, 2)]
    assert spans(delta.added) == [("U1", "H", 0, 400, 5)]


def test_late_outside_pings_split_a_visit() -> None:
    engine = VisitEngine(PARAMS)
    engine.add([inside(t) for t in range(0, 301, 100)])
    engine.add([outside(150)])
    assert spans(engine.visits()) == [("U1", "H", 0, 300, 4)]  # one outside ping: grace
    delta = engine.add([outside(110)])
    assert spans(delta.removed) == [("U1", "H", 0, 300, 4)]
    assert spans(delta.added) == [("U1", "H", 0, 100, 2), ("U1", "H", 200, 300, 2)]


def test_late_ping_after_two_short_visits_keeps_them_apart() -> None:
    engine = VisitEngine(PARAMS)
    engine.add([inside(0), outside(10), outside(20), inside(30)])
    delta = engine.add([outside(60)])
    assert delta.removed == delta.added == []
    delta = engine.add([inside(80)])
    assert spans(delta.removed) == [("U1", "H", 30, 30, 1)]
    assert spans(delta.added) == [("U1", "H", 30, 80, 2)]
    assert spans(engine.visits()) == [("U1", "H", 0, 0, 1), ("U1", "H", 30, 80, 2)]


def test_query_by_hotspot_and_period() -> None:
    engine = VisitEngine(PARAMS)
    engine.add([inside(0), inside(60), inside(1000, "K"), inside(2000), inside(2001, unit="U2")])
    assert spans(engine.visits("H")) == [
        ("U1", "H", 0, 60, 2), ("U1", "H", 2000, 2000, 1), ("U2", "H", 2001, 2001, 1)]
    assert spans(engine.visits("H", since=T0 + 60, until=T0 + 2000)) == [
        ("U1", "H", 0, 60, 2), ("U1", "H", 2000, 2000, 1)]
    assert engine.visits("nowhere") == []


PRESENT_CASES: list[tuple[str, list[Ping], list[StatusChange], float, set[str]]] = [
    ("newest ping inside", [inside(0)], [], 60, {"U1"}),
    ("exactly G old", [inside(0)], [], 120, {"U1"}),
    ("older than G", [inside(0)], [], 120.001, set()),
    ("newest ping outside", [inside(0), outside(30)], [], 60, set()),
    ("newest ping inaccurate", [inside(0), inside(30, acc=150.0)], [], 60, set()),
    ("a late older ping does not move it", [inside(30), outside(0)], [], 60, {"U1"}),
    ("off duty since", [inside(0)], [status(10, Status.OFF_DUTY)], 60, set()),
    ("ineligible when it pinged", [inside(0)], [status(-1, Status.AT_SCENE)], 60, set()),
    ("another hotspot", [inside(0, "K")], [], 60, set()),
]


@pytest.mark.parametrize(("pings", "statuses", "now", "expected"), [c[1:] for c in PRESENT_CASES],
                         ids=[c[0] for c in PRESENT_CASES])
def test_present_units(pings: list[Ping], statuses: list[StatusChange], now: float,
                       expected: set[str]) -> None:
    engine = VisitEngine(PARAMS)
    engine.add(pings, statuses)
    assert engine.present_units("H", T0 + now) == expected
    assert engine.present_by_hotspot(T0 + now).get("H", set()) == expected


def test_parameters_are_parameters() -> None:
    strict = VisitParams(gap_s=30.0, grace_s=10.0, max_acc_m=20.0)
    pings = [inside(0), inside(30), outside(40), inside(50), inside(80, acc=25.0), inside(90)]
    engine = VisitEngine(strict)
    engine.add(pings)
    assert spans(engine.visits()) == spans(visits_from_history(pings, [], strict)) == [
        ("U1", "H", 0, 50, 3), ("U1", "H", 90, 90, 1)]


class CountingEngine(VisitEngine):
    """Counts link tests and re-links, to show an append touches only its neighbourhood."""

    links = 0
    relinks = 0

    def _linked(self, times, p, q):  # type: ignore[no-untyped-def]
        self.links += 1
        return super()._linked(times, p, q)

    def _relink_range(self, *args):  # type: ignore[no-untyped-def]
        self.relinks += 1
        return super()._relink_range(*args)


def test_appending_to_a_long_visit_is_local() -> None:
    engine = CountingEngine(PARAMS)
    engine.add([inside(float(t)) for t in range(3600)])  # an hour at 1 Hz
    engine.links = 0
    delta = engine.add([inside(3600.0)])
    assert (engine.links, engine.relinks) == (0, 0)  # the fast path: one inlined link test
    assert spans(delta.removed) == [("U1", "H", 0, 3599, 3600)]
    assert spans(delta.added) == [("U1", "H", 0, 3600, 3601)]
    engine.links = 0
    engine.add([outside(1800.5)])  # a late outside ping in the middle: still local
    assert engine.links <= 4
    assert spans(engine.visits()) == [("U1", "H", 0, 3600, 3601)]


def test_prune_forgets_the_past_but_stays_exact_after_it() -> None:
    engine = VisitEngine(PARAMS, prune_step_s=0)
    early = [inside(t) for t in range(0, 1201, 60)] + [inside(5000)]
    engine.add(early)
    engine.prune(T0 + 1000)
    assert spans(engine.visits()) == [("U1", "H", 0, 1200, 21), ("U1", "H", 5000, 5000, 1)]
    delta = engine.add([inside(900), inside(1260)])  # 900 is before the floor: ignored
    assert delta.ignored == 1
    assert spans(delta.added) == [("U1", "H", 0, 1260, 22)]
    engine.prune(T0 + 5100)  # keeps visits that a ping at 5100 could still extend
    assert spans(engine.visits()) == [("U1", "H", 5000, 5000, 1)]
    engine.prune(T0 + 10_000)
    assert engine.visits() == []
    assert engine.present_units("H", T0 + 5000) == set()


def test_add_prunes_behind_its_horizon() -> None:
    engine = VisitEngine(PARAMS, horizon_s=3600, prune_step_s=0)
    engine.add([inside(0), inside(60)])
    engine.add([inside(7200)])
    assert spans(engine.visits()) == [("U1", "H", 7200, 7200, 1)]
    assert engine.floor == T0 + 3600


# --- property tests: any arrival order and batching gives the reference answer ------------

STATUSES = [Status.ON_PATROL, Status.AVAILABLE, Status.OFF_DUTY, Status.COMMITTED]
ping_st = st.builds(
    Ping,
    unit=st.sampled_from(["U1", "U2"]),
    ts=st.integers(0, 45).map(lambda k: T0 + 10.0 * k),  # 10 s steps hit G and E exactly
    inside=st.sampled_from([frozenset(), frozenset({"H"}), frozenset({"H"}),
                            frozenset({"K"}), frozenset({"H", "K"})]),
    acc=st.sampled_from([None, None, 20.0, 100.0, 150.0]),
)
status_st = st.builds(
    StatusChange,
    unit=st.sampled_from(["U1", "U2"]),
    ts=st.integers(0, 45).map(lambda k: T0 + 10.0 * k + 5.0 * (k % 2)),
    status=st.sampled_from(STATUSES),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ping_st, max_size=60), st.lists(status_st, max_size=6), st.randoms())
def test_engine_equals_reference_in_any_order_and_batching(
    pings: list[Ping], statuses: list[StatusChange], rnd: random.Random
) -> None:
    expected = visits_from_history(pings, statuses, PARAMS)
    items: list[Ping | StatusChange] = [*pings, *statuses]
    items += rnd.sample(items, k=len(items) // 3)  # re-delivered duplicates
    rnd.shuffle(items)
    engine = VisitEngine(PARAMS)
    stored: set[Visit] = set()  # what a store applying only the deltas would hold
    i = 0
    while i < len(items):
        n = rnd.randint(1, 8)
        batch = items[i:i + n]
        i += n
        delta = engine.add([x for x in batch if isinstance(x, Ping)],
                           [x for x in batch if isinstance(x, StatusChange)])
        assert set(delta.removed) <= stored
        assert not set(delta.added) & (stored - set(delta.removed))
        stored = (stored - set(delta.removed)) | set(delta.added)
        assert engine.visits("H") == sorted((v for v in stored if v.hotspot == "H"),
                                            key=lambda v: (v.start, v.unit))  # cached
    assert engine.visits() == expected
    assert sorted(stored, key=lambda v: (v.start, v.unit, v.hotspot)) == expected
    for h in ("H", "K"):
        assert engine.visits(h) == [v for v in expected if v.hotspot == h]


@settings(max_examples=150, deadline=None)
@given(st.lists(ping_st, max_size=60), st.lists(status_st, max_size=4),
       st.integers(0, 45).map(lambda k: T0 + 10.0 * k), st.randoms())
def test_prune_keeps_later_visits_exact(
    pings: list[Ping], statuses: list[StatusChange], before: float, rnd: random.Random
) -> None:
    """Visits ending at or after the pruned point equal the reference over accepted input."""
    rnd.shuffle(pings)
    cut = rnd.randint(0, len(pings))
    engine = VisitEngine(PARAMS, prune_step_s=0)
    engine.add(pings[:cut], statuses)
    engine.prune(before)
    engine.add(pings[cut:])
    accepted = pings[:cut] + [p for p in pings[cut:] if p.ts >= before]
    expected = [v for v in visits_from_history(accepted, statuses, PARAMS) if v.end >= before]
    assert [v for v in engine.visits() if v.end >= before] == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(ping_st, max_size=60), st.lists(status_st, max_size=6),
       st.integers(0, 60).map(lambda k: T0 + 10.0 * k))
def test_present_by_hotspot_equals_present_units_of_each(
    pings: list[Ping], statuses: list[StatusChange], now: float
) -> None:
    engine = VisitEngine(PARAMS)
    engine.add(pings, statuses)
    expected = {h: engine.present_units(h, now) for h in ("H", "K")}
    assert engine.present_by_hotspot(now) == {h: u for h, u in expected.items() if u}
