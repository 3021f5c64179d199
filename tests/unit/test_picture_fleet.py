"""The producer's incremental fleet gives the bytes a whole-fleet build gives (issue 20).

``Fleet`` redoes a unit's pieces only when the ingest marked it changed, or when its silence
passes the lost-contact limit; ``build.build`` walks every unit. Any sequence of writes,
time passing and acknowledgements must leave the two with the same map entries, parts,
``/api/units`` body and whole layer, and the steps taken must carry a screen from each
picture to the next.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.control_room import view
from dashboard.picture.build import build
from dashboard.picture.delta import full_bytes
from dashboard.picture.fleet import Fleet
from patrolwatch.core.model import Status
from patrolwatch.live import unit_states
from patrolwatch.roster import Roster, RosterUnit
from patrolwatch.settings import Settings
from patrolwatch.store import LiveRows

NOW = 1_795_000_000.0
ZONE = Settings().zone
STALE_S = 180.0
IDS = ["A1", "B2", "C3", "D4", "E5", "F6"]
ROSTER = Roster({u: RosterUnit(id=u, callsign=f"cs-{u}", team="T") for u in IDS[:3]}, {})
STATUSES = [Status.ON_PATROL, Status.EMERGENCY, Status.OFF_DUTY, Status.AT_SCENE]

# One write: (unit, kind, value, seconds after the last step); kinds as the ingest writes them.
writes = st.lists(st.tuples(
    st.sampled_from(IDS),
    st.sampled_from(["pos", "status", "lwt", "gone"]),
    st.integers(0, 3),
    st.sampled_from([0.0, 1.0, 100.0, 200.0, 400.0]),
), min_size=1, max_size=30)


class Live:
    """Raw live rows as the store holds them, and which units a write touched."""

    def __init__(self) -> None:
        self.pos: dict[str, dict[str, Any]] = {}
        self.status: dict[str, dict[str, Any]] = {}
        self.seen: dict[str, float] = {}
        self.lwt: dict[str, float] = {}

    def write(self, unit: str, kind: str, value: int, now: float) -> None:
        if kind == "pos":
            self.pos[unit] = {"ts": now, "lat": 51.5 + value / 1000, "lon": -0.1,
                              "acc": 5.0, "source": "native"}
            self.seen[unit] = now
        elif kind == "status":
            self.status[unit] = {"status": STATUSES[value].value, "ts": now, "note": None}
            self.seen[unit] = now
        elif kind == "lwt":
            self.lwt[unit] = now
        else:  # every row gone (a flush): only possible for a whole store, done per unit here
            for rows in (self.pos, self.status, self.seen, self.lwt):
                rows.pop(unit, None)

    def rows(self) -> LiveRows:
        return LiveRows(dict(self.pos), dict(self.status), dict(self.seen), dict(self.lwt))

    def of(self, unit: str) -> tuple[Any, Any, float | None, float | None]:
        return (self.pos.get(unit), self.status.get(unit), self.seen.get(unit),
                self.lwt.get(unit))


def whole(live: Live, now: float, acked: bool) -> Any:
    units = unit_states(live.rows(), ROSTER, now, STALE_S)
    acks = {u.id: {"by": "sup", "ts": now, "status_ts": u.status_ts} for u in units
            if acked and u.status is Status.EMERGENCY}
    alarms = view.alarms(units, ZONE, acks)
    return units, alarms, build(units, alarms, [], {}, {}, [], {"last": now}, ZONE)


def apply(layer: dict[str, list[Any]], changed: list[list[Any]], gone: list[str]) -> None:
    for entry in changed:
        layer[entry[0]] = entry
    for unit in gone:
        layer.pop(unit, None)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(writes, st.booleans()), min_size=1, max_size=6))
def test_the_fleet_gives_the_whole_builds_bytes_after_any_writes_and_time(
        steps: list[tuple[list[tuple[str, str, int, float]], bool]]) -> None:
    live, now = Live(), NOW
    fleet = Fleet(ROSTER, STALE_S)
    fleet.load(live.rows(), now)
    fleet.take_changes()
    layer: dict[str, list[Any]] = {}
    first = True
    for batch, acked in steps:
        touched = set()
        for unit, kind, value, later in batch:
            now += later
            live.write(unit, kind, value, now)
            touched.add(unit)
        fleet.update({u: live.of(u) for u in touched}, now)
        fleet.expire(now)
        units, alarms, expected = whole(live, now, acked)
        got = fleet.build(alarms, [], {}, {}, [], {"last": now}, ZONE)
        assert fleet.units() == units
        assert got.entries == expected.entries
        assert got.parts == expected.parts
        assert got.digests == expected.digests
        assert got.api_units == expected.api_units
        assert fleet.full_layer(7) == full_bytes(7, expected.entries)
        changed, gone = fleet.take_changes()
        if first:
            layer = {u: [u, *e] for u, e in expected.entries.items()}
            first = False
        else:
            apply(layer, changed, gone)
        assert layer == {u: [u, *e] for u, e in expected.entries.items()}, \
            "the steps carry a screen to the whole build's map"
        assert orjson.loads(fleet.full_layer(1))["u"] == list(layer.values()) or sorted(
            map(tuple, orjson.loads(fleet.full_layer(1))["u"])) == sorted(
            map(tuple, layer.values()))


def test_time_alone_turns_a_silent_unit_lost_without_a_write() -> None:
    live = Live()
    live.write("A1", "pos", 1, NOW)
    fleet = Fleet(ROSTER, STALE_S)
    fleet.load(live.rows(), NOW)
    fleet.take_changes()
    fleet.expire(NOW + STALE_S)  # not yet: silent for exactly the limit
    assert fleet.take_changes() == ([], [])
    fleet.expire(NOW + STALE_S + 1)
    changed, gone = fleet.take_changes()
    assert [c[0] for c in changed] == ["A1"] and changed[0][4] == 1 and not gone
    assert fleet.states["A1"].stale and "A1" in fleet.lost


def test_a_unit_reporting_all_day_holds_one_deadline_not_one_per_report() -> None:
    live = Live()
    fleet = Fleet(ROSTER, STALE_S)
    fleet.load(live.rows(), NOW)
    for k in range(1000):  # one report every 5 s for 5,000 s
        live.write("A1", "pos", k % 3, NOW + 5 * k)
        fleet.update({"A1": live.of("A1")}, NOW + 5 * k)
    assert len(fleet._deadlines) == 1 and not fleet.states["A1"].stale
