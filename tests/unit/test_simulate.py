"""The simulated fleet without a broker: movement, dwell, statuses, taskings, formats."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patrolwatch.core.messages import ParseContext, parse_message
from patrolwatch.core.model import Position, Rejection, StatusChange, UnitEvent
from patrolwatch.errors import ConfigError
from patrolwatch.mqtt import Inbound
from patrolwatch.roster import Roster, RosterUnit, load_roster
from patrolwatch.sim.fleet import SPEED_MPS, Fleet
from patrolwatch.sim.publisher import (
    HUMAN_UNITS,
    fleet_specs,
    native_message,
    owntracks_message,
    parse_tasking,
    street_share,
    targets_from_geojson,
)
from patrolwatch.sim.types import (
    AckReport,
    PositionReport,
    Report,
    StatusReport,
    Target,
    Tasking,
    TransitionReport,
    UnitSpec,
    distance_m,
)

ROOT = Path(__file__).resolve().parents[2]
START = 1_750_000_000.0
# Circular hotspots (radius = the presence area) in central and south London.
TARGETS = [
    Target("soho", "Old Compton Street", 51.5133, -0.1313, 80, 1),
    Target("leicester", "Leicester Square", 51.5103, -0.1303, 90, 1),
    Target("kings-cross", "King's Cross", 51.5308, -0.1238, 150, 1),
    Target("camden", "Camden High Street", 51.5390, -0.1426, 100, 2),
    Target("shoreditch", "Shoreditch High Street", 51.5265, -0.0780, 100, 1),
    Target("waterloo", "Waterloo", 51.5031, -0.1132, 150, 2),
    Target("brixton", "Brixton station", 51.4627, -0.1145, 150, 1),
    Target("clapham", "Clapham High Street", 51.4647, -0.1337, 80, 2),
    Target("victoria", "Victoria", 51.4952, -0.1441, 150, 2),
    Target("stratford", "Stratford", 51.5416, -0.0033, 150, 1),
]
LONDON = (51.28, -0.52, 51.70, 0.34)  # south, west, north, east
# Fastest plausible speed per kind (m/s): nominal x unit spread x leg spread x urgency.
MAX_SPEED = {"foot": 2.3, "cycle": 6.5, "vehicle": 13.0}
ELIGIBLE = ("ON_PATROL", "AVAILABLE")


def specs(n: int) -> list[UnitSpec]:
    kinds = ("foot", "foot", "cycle", "vehicle")
    return [UnitSpec(f"U{i:03d}", kinds[i % 4], (f"u{i}", "phone") if i % 7 == 0 else None)
            for i in range(n)]


def run(fleet: Fleet, seconds: float, step: float = 5.0, start: float = START) -> list[Report]:
    reports: list[Report] = []
    t = start
    while t <= start + seconds:
        reports.extend(fleet.advance(t))
        t += step
    return reports


@pytest.fixture(scope="module")
def shift() -> tuple[Fleet, list[Report]]:
    """A hundred units over a three-hour shift (simulated, not waited for)."""
    fleet = Fleet(specs(100), TARGETS, start=START, seed=7)
    return fleet, run(fleet, 3 * 3600)


def positions(reports: list[Report]) -> dict[str, list[PositionReport]]:
    """Return each unit's presence-eligible positions (status AVAILABLE or ON_PATROL)."""
    by_unit: dict[str, list[PositionReport]] = defaultdict(list)
    status: dict[str, str] = {}
    for r in sorted(reports, key=lambda r: r.ts):
        if isinstance(r, StatusReport):
            status[r.unit] = r.status
        elif isinstance(r, PositionReport) and status.get(r.unit, "ON_PATROL") in ELIGIBLE:
            by_unit[r.unit].append(r)
    return by_unit


def visits(pings: list[PositionReport], gap_s: float = 120.0) -> list[tuple[str, float]]:
    """Return (target, minutes) of each run of presence pings (DOMAIN.md, without grace)."""
    found: list[tuple[str, float]] = []
    current: tuple[str, float, float] | None = None
    for p in pings:
        inside = next((t.id for t in TARGETS if p.acc <= 100
                       and distance_m(p.lat, p.lon, t.lat, t.lon) <= t.radius_m), None)
        if inside and current and current[0] == inside and p.ts - current[2] <= gap_s:
            current = (inside, current[1], p.ts)
        elif inside:
            if current:
                found.append((current[0], (current[2] - current[1]) / 60))
            current = (inside, p.ts, p.ts)
    if current:
        found.append((current[0], (current[2] - current[1]) / 60))
    return found


# -- movement ----------------------------------------------------------------------------------
def test_reported_speeds_are_realistic_for_each_kind(shift: tuple[Fleet, list[Report]]) -> None:
    fleet, reports = shift
    kind = {u.spec.id: u.spec.kind for u in fleet.units}
    moving: dict[str, list[float]] = defaultdict(list)
    for p in (r for r in reports if isinstance(r, PositionReport)):
        assert 0 <= p.speed <= MAX_SPEED[kind[p.unit]], p
        if p.speed > 1.0 if kind[p.unit] == "foot" else p.speed > 2.0:
            moving[kind[p.unit]].append(p.speed)
    for k, speeds in moving.items():
        mean = sum(speeds) / len(speeds)
        assert 0.8 * SPEED_MPS[k] <= mean <= 1.25 * SPEED_MPS[k], (k, mean)


def test_true_positions_move_no_faster_than_their_kind() -> None:
    fleet = Fleet(specs(40), TARGETS, start=START, seed=3)
    last = {u.spec.id: (u.lat, u.lon) for u in fleet.units}
    for step in range(1, 721):  # an hour in 5 s steps
        fleet.advance(START + step * 5)
        for u in fleet.units:
            moved = distance_m(*last[u.spec.id], u.lat, u.lon)
            # A unit moves only up to its last report, so allow two intervals of travel.
            assert moved <= MAX_SPEED[u.spec.kind] * 5 * 2.5, (u.spec.id, moved)
            last[u.spec.id] = (u.lat, u.lon)


def test_positions_stay_in_london(shift: tuple[Fleet, list[Report]]) -> None:
    south, west, north, east = LONDON
    pings = [r for r in shift[1] if isinstance(r, PositionReport)]
    assert pings
    assert all(south <= p.lat <= north and west <= p.lon <= east for p in pings)


def test_reports_carry_interval_jitter_acc_battery_and_seq(
        shift: tuple[Fleet, list[Report]]) -> None:
    by_unit: dict[str, list[PositionReport]] = defaultdict(list)
    for r in shift[1]:
        if isinstance(r, PositionReport):
            by_unit[r.unit].append(r)
    gaps = [b.ts - a.ts for pings in by_unit.values() for a, b in itertools.pairwise(pings)
            if b.ts - a.ts < 60]  # leave out silence while off duty
    assert min(gaps) >= 4.0 and max(gaps) <= 6.0 and len({round(g, 1) for g in gaps}) > 10
    accs = [p.acc for pings in by_unit.values() for p in pings]
    poor = sum(1 for a in accs if a == 150.0)
    assert all(5 <= a <= 30 or a == 150.0 for a in accs)
    assert 0.005 < poor / len(accs) < 0.08
    for pings in by_unit.values():
        assert [p.seq for p in pings] == list(range(1, len(pings) + 1))
        assert all(3 <= p.battery <= 100 and 0 <= p.heading < 360 for p in pings)


def test_units_dwell_at_hotspots_some_visits_qualify_some_do_not(
        shift: tuple[Fleet, list[Report]]) -> None:
    minutes = [m for pings in positions(shift[1]).values() for _, m in visits(pings)]
    qualifying = [m for m in minutes if m >= 10]
    short = [m for m in minutes if 3 <= m < 10]
    assert len(qualifying) >= 50 and len(short) >= 20, (len(qualifying), len(short))
    # Lingering is 5-25 min, plus walking in and out of the area (longer only when tasked).
    assert max(minutes) <= 35
    visited = {t for pings in positions(shift[1]).values() for t, m in visits(pings) if m >= 10}
    assert len(visited) >= 8  # the whole set of hotspots gets patrolled, not one corner


# -- statuses ----------------------------------------------------------------------------------
def test_status_changes_happen_and_patrol_dominates(shift: tuple[Fleet, list[Report]]) -> None:
    statuses = [r for r in shift[1] if isinstance(r, StatusReport)]
    seen = Counter(r.status for r in statuses)
    assert {"ON_PATROL", "AVAILABLE", "EN_ROUTE", "AT_SCENE", "REFRESHMENT"} <= set(seen)
    assert seen["ON_PATROL"] == max(seen.values())
    fleet = shift[0]
    assert sum(u.status == "ON_PATROL" for u in fleet.units) > len(fleet.units) / 2


def test_an_emergency_clears_after_a_few_minutes() -> None:
    fleet = Fleet(specs(50), TARGETS, start=START, seed=11, emergency_every_s=600)
    reports = run(fleet, 2 * 3600)
    emergencies = [r for r in reports if isinstance(r, StatusReport) and r.status == "EMERGENCY"]
    assert emergencies
    for e in emergencies[:-1]:  # the last may still be running when the run ends
        after = next(r for r in reports if isinstance(r, StatusReport) and r.unit == e.unit
                     and r.ts > e.ts)
        assert after.status == "ON_PATROL" and 120 <= after.ts - e.ts <= 360


def test_off_duty_units_stop_reporting_positions() -> None:
    fleet = Fleet(specs(60), TARGETS, start=START, seed=5, episode_every_s=1800)
    reports = run(fleet, 3 * 3600)
    offs = [r for r in reports if isinstance(r, StatusReport) and r.status == "OFF_DUTY"]
    assert offs
    for off in offs:
        back = next((r.ts for r in reports if isinstance(r, StatusReport) and r.unit == off.unit
                     and r.ts > off.ts), math.inf)
        assert not any(isinstance(r, PositionReport) and r.unit == off.unit
                       and off.ts < r.ts < back for r in reports)


# -- taskings ----------------------------------------------------------------------------------
def quiet_fleet(n: int = 8, **kw: float) -> Fleet:
    """A fleet without random episodes or emergencies, so a tasking's effect stands alone."""
    return Fleet(specs(n), TARGETS, start=START, seed=2, episode_every_s=math.inf,
                 emergency_every_s=math.inf, **kw)


@pytest.mark.parametrize("unit", ["U000", "U002", "U003"])  # foot, cycle, vehicle
def test_an_accepted_tasking_takes_the_unit_there_for_at_least_12_minutes(unit: str) -> None:
    fleet = quiet_fleet(accept_share=1.0)
    run(fleet, 60)
    target = next(t for t in TARGETS if t.id == "stratford")
    fleet.receive_tasking(Tasking(unit, "T-1", target.lat, target.lon, target.id), START + 60)
    reports = run(fleet, 4 * 3600, start=START + 65)
    ack = next(r for r in reports if isinstance(r, AckReport))
    assert (ack.unit, ack.tasking_id, ack.accepted) == (unit, "T-1", True)
    statuses = [r for r in reports if isinstance(r, StatusReport) and r.unit == unit]
    assert statuses[0].status == "EN_ROUTE" and statuses[0].ts == ack.ts
    assert statuses[1].status == "ON_PATROL"  # eligible on arrival, so presence counts
    pings = [r for r in reports if isinstance(r, PositionReport) and r.unit == unit]
    stay = [m for t, m in visits(pings) if t == "stratford"]
    assert stay and stay[0] >= 12, stay
    # It travelled at its kind's speed: no teleporting, no dawdling.
    arrival = statuses[1].ts
    start_pos = next(p for p in pings if p.ts >= ack.ts)
    dist = distance_m(start_pos.lat, start_pos.lon, target.lat, target.lon)
    speed = dist / (arrival - ack.ts)
    kind = fleet.units[fleet.index[unit]].spec.kind
    assert 0.6 * SPEED_MPS[kind] <= speed <= MAX_SPEED[kind]
    # Then it resumes patrolling elsewhere.
    assert any(t != "stratford" for t, _ in visits([p for p in pings if p.ts > arrival]))


def test_a_declined_tasking_is_answered_with_a_reason_and_the_unit_stays() -> None:
    fleet = quiet_fleet(accept_share=0.0)
    run(fleet, 60)
    fleet.receive_tasking(Tasking("U001", "T-2", 51.5416, -0.0033, "stratford"), START + 60)
    reports = run(fleet, 120, start=START + 65)
    acks = [r for r in reports if isinstance(r, AckReport)]
    assert len(acks) == 1 and not acks[0].accepted and acks[0].reason
    assert not any(isinstance(r, StatusReport) and r.status == "EN_ROUTE" for r in reports)


def test_most_taskings_are_accepted_duplicates_answered_once_unknown_ignored() -> None:
    fleet = quiet_fleet(n=100)
    run(fleet, 60)
    for i in range(100):
        tasking = Tasking(f"U{i:03d}", f"T-{i}", 51.5031, -0.1132, "waterloo")
        assert fleet.receive_tasking(tasking, START + 60)
        assert fleet.receive_tasking(tasking, START + 61)  # a QoS 1 re-delivery
    assert not fleet.receive_tasking(Tasking("NOPE", "T-x", 51.5, -0.1), START + 60)
    acks = [r for r in run(fleet, 120, start=START + 65) if isinstance(r, AckReport)]
    assert len(acks) == 100 and len({a.tasking_id for a in acks}) == 100
    assert 0.7 <= sum(a.accepted for a in acks) / 100 <= 0.97
    assert all(5 <= a.ts - (START + 60) <= 30 for a in acks)


# -- determinism -------------------------------------------------------------------------------
def test_the_same_seed_gives_the_same_shift() -> None:
    a = run(Fleet(specs(20), TARGETS, start=START, seed=42), 1800)
    b = run(Fleet(specs(20), TARGETS, start=START, seed=42), 1800)
    c = run(Fleet(specs(20), TARGETS, start=START, seed=43), 1800)
    assert a == b
    assert a != c


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), n=st.integers(1, 12), interval=st.floats(1.0, 60.0))
def test_any_seed_keeps_units_in_bounds_and_within_speed(seed: int, n: int, interval: float
                                                         ) -> None:
    fleet = Fleet(specs(n), TARGETS, start=START, seed=seed, interval_s=interval,
                  emergency_every_s=900, episode_every_s=1200)
    kind = {u.spec.id: u.spec.kind for u in fleet.units}
    south, west, north, east = LONDON
    last_ts: dict[str, float] = {}
    for r in run(fleet, 3600, step=17):
        assert r.ts >= last_ts.get(r.unit, -math.inf) - 30  # acks may answer a little late
        if isinstance(r, PositionReport):
            last_ts[r.unit] = r.ts
            assert south <= r.lat <= north and west <= r.lon <= east
            assert r.speed <= MAX_SPEED[kind[r.unit]]


def test_a_fleet_needs_somewhere_to_go() -> None:
    with pytest.raises(ValueError, match="at least one hotspot"):
        Fleet(specs(3), [], start=START)


# -- roster and hotspots -----------------------------------------------------------------------
def test_the_committed_roster_is_a_realistic_mix() -> None:
    roster = load_roster(ROOT / "config" / "units.yaml")
    assert len(roster.units) >= 200
    teams = {u.team for u in roster.units.values()}
    for team in ("Met Taskforce TSG", "Central West BCU", "Central South BCU",
                 "Central North BCU", "East BCU", "South BCU", "Dog Support Unit",
                 "Met Taskforce Cycle Team", "VAWG Specialist Team"):
        assert team in teams
    kinds = Counter(u.kind for u in roster.units.values())
    assert kinds["foot"] > kinds["vehicle"] > 0 and kinds["cycle"] > 0
    assert set(roster.units) >= HUMAN_UNITS  # the demo's crew login and `device` examples


@pytest.mark.parametrize("count", [1, 20, 200])
def test_fleet_specs_spread_over_the_roster(count: int) -> None:
    roster = load_roster(ROOT / "config" / "units.yaml")
    picked = fleet_specs(roster, count)
    ids = [s.id for s in picked]
    assert len(ids) == count == len(set(ids))
    assert not HUMAN_UNITS & set(ids)
    if count >= 20:
        assert len({roster.units[i].team for i in ids}) >= 5
    if count == 200:
        share = sum(1 for s in picked if s.owntracks) / count
        assert 0.10 <= share <= 0.20, share


@pytest.mark.parametrize(("team", "share"), [
    ("Met Taskforce TSG", 0.2), ("VAWG Specialist Team", 0.2), ("Met Taskforce Cycle Team", 0.2),
    ("Central West BCU", 0.75), ("Dog Support Unit", 0.75),
])
def test_hotspot_patrols_are_the_taskforces_job(team: str, share: float) -> None:
    assert street_share(team) == share


def test_fleet_specs_beyond_the_roster_are_unregistered_native_units() -> None:
    roster = Roster({"A-1": RosterUnit(id="A-1", callsign="A1", team="T", kind="cycle",
                                       owntracks="a/phone")}, {"a/phone": "A-1"})
    picked = fleet_specs(roster, 6)
    assert picked[0] == UnitSpec("A-1", "cycle", ("a", "phone"), street_share=0.75)
    assert [s.id for s in picked[1:]] == [f"SIM-{i:05d}" for i in range(1, 6)]
    assert all(s.owntracks is None for s in picked[1:])


def feature(fid: str, geometry: dict[str, object], **props: object) -> dict[str, object]:
    return {"type": "Feature", "geometry": geometry,
            "properties": {"id": fid, "name": fid.title(), "priority": 1, **props}}


SQUARE = {"type": "Polygon", "coordinates": [[[-0.131, 51.513], [-0.129, 51.513],
                                              [-0.129, 51.514], [-0.131, 51.514],
                                              [-0.131, 51.513]]]}


def test_targets_from_polygons_and_points() -> None:
    data = {"type": "FeatureCollection", "features": [
        feature("square", SQUARE),
        feature("point", {"type": "Point", "coordinates": [-0.1, 51.5]}, radius_m=150),
        feature("multi", {"type": "MultiPolygon", "coordinates": [SQUARE["coordinates"]]}),
    ]}
    square, point, multi = targets_from_geojson(data)
    assert (point.lat, point.lon, point.radius_m) == (51.5, -0.1, 150.0)
    # A 139 m x 111 m rectangle: the inner point lies on its middle line, 55.6 m from the
    # long edges and at least that far from the short ones.
    assert square.lat == pytest.approx(51.5135, abs=1e-5)
    assert 54 <= square.radius_m <= 56
    for lon in (-0.131, -0.129):
        assert distance_m(square.lat, square.lon, square.lat, lon) >= square.radius_m - 1
    assert (multi.lat, multi.lon) == pytest.approx((square.lat, square.lon))


@pytest.mark.parametrize(("data", "expected"), [
    ({"features": [feature("p", {"type": "Point", "coordinates": [0, 51]})]},
     "hotspots.geojson:p: a Point hotspot needs radius_m > 0"),
    ({"features": [feature("l", {"type": "LineString", "coordinates": [[0, 51], [0, 52]]})]},
     "hotspots.geojson:l: LineString is not a hotspot area"),
    ({"features": []}, "hotspots.geojson:features: no hotspots"),
    ([], "hotspots.geojson:features: expected a GeoJSON FeatureCollection"),
])
def test_unusable_hotspot_files_say_where(data: object, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        targets_from_geojson(data, "hotspots.geojson")
    assert err.value.problems[0].startswith(expected)


# -- message formats ---------------------------------------------------------------------------
POSITION = PositionReport("CW-402", START + 0.1234, 51.5, -0.1, 12.3, 1.5, 90.0, 80, 7)


def test_native_messages_follow_the_contract() -> None:
    topic, payload = native_message(POSITION)  # type: ignore[misc]
    assert topic == "patrol/CW-402/position"
    assert json.loads(payload) == {"ts": START + 0.123, "lat": 51.5, "lon": -0.1, "acc": 12.3,
                                   "speed": 1.5, "heading": 90.0, "battery": 80, "seq": 7}
    topic, payload = native_message(StatusReport("CW-402", START, "AT_SCENE", "at scene"))  # type: ignore[misc]
    assert (topic, json.loads(payload)) == (
        "patrol/CW-402/status", {"ts": START, "status": "AT_SCENE", "note": "at scene"})
    topic, payload = native_message(AckReport("CW-402", START, "T-9", False, "busy"))  # type: ignore[misc]
    assert (topic, json.loads(payload)) == (
        "patrol/CW-402/ack", {"id": "T-9", "ts": START, "accepted": False, "reason": "busy"})
    assert json.loads(native_message(AckReport("A", START, "T", True))[1]) == {  # type: ignore[index]
        "id": "T", "ts": START, "accepted": True}


def test_owntracks_messages_look_like_the_app() -> None:
    topic, payload = owntracks_message(POSITION, "vawg01", "iphone")
    body = json.loads(payload)
    assert topic == "owntracks/vawg01/iphone"
    assert body["_type"] == "location" and body["tst"] == int(START)
    assert body["vel"] == 5  # 1.5 m/s in km/h, rounded as the app does
    assert (body["lat"], body["lon"], body["acc"], body["cog"], body["batt"]) == (
        51.5, -0.1, 12, 90, 80)
    assert {"tid", "alt", "conn"} <= set(body)  # unknown to PatrolWatch: must be ignored
    event = TransitionReport("VAWG-01", START, "enter", "soho", "Soho", 51.5, -0.1)
    topic, payload = owntracks_message(event, "vawg01", "iphone")
    body = json.loads(payload)
    assert topic == "owntracks/vawg01/iphone/event"
    assert (body["_type"], body["event"], body["desc"]) == ("transition", "enter", "Soho")
    assert native_message(event) is None


def test_every_message_of_a_shift_passes_the_contract_parser() -> None:
    roster = load_roster(ROOT / "config" / "units.yaml")
    picked = fleet_specs(roster, 200)
    fleet = Fleet(picked, TARGETS, start=START, seed=9, emergency_every_s=300)
    run(fleet, 60)
    fleet.receive_tasking(Tasking(picked[0].id, "T-1", 51.5031, -0.1132, "waterloo"), START + 60)
    ctx = ParseContext(roster=roster, status_codes={})
    phones = {s.id: s.owntracks for s in picked if s.owntracks}
    kinds: Counter[str] = Counter()
    for report in run(fleet, 1800, start=START + 65):
        phone = phones.get(report.unit)
        if phone and isinstance(report, PositionReport | TransitionReport):
            topic, payload = owntracks_message(report, *phone)
        else:
            message = native_message(report)
            assert message is not None
            topic, payload = message
        parsed = parse_message(topic, payload, report.ts + 1, ctx)
        assert not isinstance(parsed, Rejection), (topic, payload, parsed)
        assert parsed.unit == report.unit  # OwnTracks phones map to their roster unit
        if isinstance(parsed, Position):
            assert parsed.source == ("owntracks" if phone else "native")
        kinds[type(parsed).__name__] += 1
    assert set(kinds) >= {Position.__name__, StatusChange.__name__, UnitEvent.__name__, "Ack"}


def test_owntracks_units_report_transitions_at_hotspots(shift: tuple[Fleet, list[Report]]
                                                       ) -> None:
    events = [r for r in shift[1] if isinstance(r, TransitionReport)]
    phones = {u.spec.id for u in shift[0].units if u.spec.owntracks}
    assert events and {e.unit for e in events} <= phones
    assert {e.event for e in events} == {"enter", "leave"}


def inbound(topic: str, payload: bytes) -> Inbound:
    return Inbound(topic, payload, 1, False, 1, 1, START)


@pytest.mark.parametrize(("payload", "expected"), [
    (b'{"id":"T-1","ts":1,"kind":"REDEPLOY","hotspot":"soho","name":"Soho","lat":51.5,'
     b'"lon":-0.13,"by":"sgt"}', Tasking("CW-402", "T-1", 51.5, -0.13, "soho")),
    (b'{"id":"T-2","lat":51.5,"lon":-0.13}', Tasking("CW-402", "T-2", 51.5, -0.13, None)),
    (b"not json", None),
    (b'{"id":"T-3","lat":"north","lon":0}', None),
    (b'{"id":"T-4","lat":NaN,"lon":0}', None),
    (b"[1, 2]", None),
])
def test_parse_tasking(payload: bytes, expected: Tasking | None) -> None:
    assert parse_tasking(inbound("patrol/CW-402/tasking", payload)) == expected
