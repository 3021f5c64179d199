"""Pure view models of the control room: counts, unit list, lost contact, emergencies, the map.

No I/O: actions read Redis and pass plain values in; tests call these directly. The map
layers receive lean unit points (id, one-letter status, lost flag, coordinates rounded to
about a metre); callsigns of roster units go once in the layer's ``hideout``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from dashboard.palette import (
    HOTSPOT_LOOK,
    LOST_LABEL,
    LOST_ON_DARK,
    STATUS_LOOK,
    STATUS_ORDER,
    hotspot_styles,
    status_hideout,
)
from dashboard.times import local_clock
from patrolwatch.core.hotspots import HotspotSet
from patrolwatch.core.model import Status, UnitState
from patrolwatch.roster import Roster

UNIT_LIST_LIMIT = 100


# --- units -------------------------------------------------------------------------------
def reporting(units: Iterable[UnitState]) -> list[UnitState]:
    """Return the units that have sent anything (roster entries never heard from are not)."""
    return [u for u in units if u.last_seen is not None]


@dataclass(frozen=True)
class Counts:
    """The big numbers: units by status, lost contact, emergencies."""

    total: int
    by_status: dict[Status, int]
    lost: int
    emergencies: int
    not_reporting: int


def count_units(units: Sequence[UnitState]) -> Counts:
    """Count reporting units by status; lost contact excludes units that booked off duty."""
    live = reporting(units)
    by_status = {s: 0 for s in STATUS_ORDER}
    for u in live:
        by_status[u.status] += 1
    return Counts(
        total=len(live),
        by_status=by_status,
        lost=sum(1 for u in live if is_lost(u)),
        emergencies=by_status[Status.EMERGENCY],
        not_reporting=len(units) - len(live),
    )


def is_lost(unit: UnitState) -> bool:
    """Tell whether a unit counts as lost contact (stale and not booked off duty)."""
    return unit.stale and unit.last_seen is not None and unit.status is not Status.OFF_DUTY


def emergencies(units: Iterable[UnitState]) -> list[UnitState]:
    """Return units in EMERGENCY, the earliest alarm first."""
    found = [u for u in units if u.status is Status.EMERGENCY]
    return sorted(found, key=lambda u: (u.status_ts or 0.0, u.callsign))


def matches(unit: UnitState, query: str) -> bool:
    """Tell whether a unit matches every word of a search (callsign, id, team, status)."""
    look = STATUS_LOOK[unit.status]
    hay = " ".join([unit.callsign, unit.id, unit.team, unit.status.value, look.label,
                    LOST_LABEL if is_lost(unit) else ""]).lower()
    return all(word in hay for word in query.lower().split())


@dataclass(frozen=True)
class UnitRow:
    """One line of the unit list."""

    id: str
    callsign: str
    team: str
    status: str
    colour: str
    lost: bool
    last_seen: float | None  # shown as "2 min ago" by the browser, so rows change with data only


def _urgency(unit: UnitState) -> tuple[int, str]:
    if unit.status is Status.EMERGENCY:
        return 0, unit.callsign
    return (1 if is_lost(unit) else 2), unit.callsign


def unit_rows(units: Sequence[UnitState], query: str,
              limit: int = UNIT_LIST_LIMIT) -> tuple[list[UnitRow], int]:
    """Return the unit list for a search (emergencies, then lost, then by callsign) and the rest."""
    found = sorted((u for u in reporting(units) if matches(u, query)), key=_urgency)
    rows = [
        UnitRow(id=u.id, callsign=u.callsign, team=u.team,
                status=LOST_LABEL if is_lost(u) and u.status is not Status.EMERGENCY
                else STATUS_LOOK[u.status].label,
                colour=LOST_ON_DARK if is_lost(u) and u.status is not Status.EMERGENCY
                else STATUS_LOOK[u.status].colour,
                lost=is_lost(u), last_seen=u.last_seen)
        for u in found[:limit]
    ]
    return rows, max(0, len(found) - limit)


@dataclass(frozen=True)
class LostRow:
    """One line of the lost-contact list."""

    id: str
    callsign: str
    team: str
    last_status: str
    last_seen: float | None
    at: str
    why: str


def lost_rows(units: Iterable[UnitState], zone: ZoneInfo) -> list[LostRow]:
    """Return lost-contact units, the most recent loss first."""
    lost = sorted((u for u in units if is_lost(u)), key=lambda u: -(u.last_seen or 0.0))
    return [
        LostRow(id=u.id, callsign=u.callsign, team=u.team,
                last_status=STATUS_LOOK[u.status].label, last_seen=u.last_seen,
                at=local_clock(u.last_seen, zone),
                why="device went offline (last will)" if u.lwt_ts is not None
                and u.last_seen is not None and u.lwt_ts >= u.last_seen else "no message")
        for u in lost
    ]


@dataclass(frozen=True)
class Alarm:
    """One emergency, its own alarm with its own acknowledgement (DOMAIN.md).

    ``alarm_id`` names this emergency, not the unit: the store's alarm id (one per
    EMERGENCY that arrived), or ``unit@status time`` for an EMERGENCY the store holds no
    alarm record of; the Acknowledge button carries whichever it is.
    """

    id: str
    callsign: str
    team: str
    since: float | None
    since_clock: str
    lost: bool
    acked_by: str | None = None  # set while a supervisor's acknowledgement covers it
    acked_clock: str | None = None
    alarm_id: str = ""


def alarm_id(unit: str, since: float | None) -> str:
    """Return the id of a unit's emergency raised at ``since`` (``unit@epoch``)."""
    return f"{unit}@{since or 0.0:.3f}"


def parse_alarm_id(value: object) -> tuple[str, float] | None:
    """Return (unit, raised at) from an alarm id, or None if it is not one."""
    if not isinstance(value, str) or "@" not in value:
        return None
    unit, _, raw = value.rpartition("@")
    try:
        since = float(raw)
    except ValueError:
        return None
    return (unit, since) if unit and math.isfinite(since) else None


def alarms(units: Iterable[UnitState], zone: ZoneInfo,
           acks: Mapping[str, Mapping[str, Any]] | None = None,
           open_alarms: Iterable[Mapping[str, Any]] = ()) -> list[Alarm]:
    """Return the alarm cards, unacknowledged first, each group the earliest first.

    Every open alarm of the store (``store.open_alarms()``) is a card until a supervisor
    acknowledges it, even when its unit has sent another status since (CONTRACT.md
    section 3); its button carries the store's alarm id. A unit still in EMERGENCY with
    no open alarm shows its acknowledgement, or, when none covers this EMERGENCY (an
    alarm the store holds no record of), a card of its own (``unit@status time``).
    """
    acks = acks or {}
    by_id = {u.id: u for u in units}
    out: list[Alarm] = []
    with_open: set[str] = set()
    for rec in open_alarms:
        unit_id = str(rec.get("unit", ""))
        u = by_id.get(unit_id)
        since = _epoch(rec.get("ts"))
        with_open.add(unit_id)
        out.append(Alarm(id=unit_id, callsign=u.callsign if u else unit_id,
                         team=u.team if u else "", since=since,
                         since_clock=local_clock(since, zone), lost=bool(u and is_lost(u)),
                         alarm_id=str(rec.get("id", ""))))
    for u in emergencies(by_id.values()):
        if u.id in with_open:
            continue
        ack = acks.get(u.id)
        covered = acknowledged(ack, u.status_ts)
        out.append(Alarm(id=u.id, callsign=u.callsign, team=u.team,
                         since=u.status_ts, since_clock=local_clock(u.status_ts, zone),
                         lost=is_lost(u),
                         acked_by=str(ack.get("by")) if ack and covered else None,
                         acked_clock=local_clock(ack.get("ts"), zone) if ack and covered
                         else None, alarm_id=alarm_id(u.id, u.status_ts)))
    # Stable: sorted() keeps the earliest-first order inside each group.
    return sorted(out, key=lambda a: (a.acked_by is not None, a.since or 0.0))


def _epoch(value: Any) -> float | None:
    """Return a stored time as epoch seconds (None when it is not a number)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


# --- emergencies -------------------------------------------------------------------------
def acknowledged(ack: Mapping[str, Any] | None, since: float | None) -> bool:
    """Tell whether an acknowledgement covers this EMERGENCY (one raised later needs a new one)."""
    if not ack or since is None:
        return False
    acked_ts = ack.get("status_ts")
    return isinstance(acked_ts, int | float) and acked_ts >= since


COORD_DECIMALS = 5  # about 1 m: finer than any handset fix, and keeps the payload lean


HOTSPOT_ZOOM = 16


UNIT_ZOOM = 17


def on_map(unit: UnitState) -> bool:
    """Tell whether a unit is drawn: it has a position and is not off duty (no tracking)."""
    return unit.lat is not None and unit.lon is not None and unit.status is not Status.OFF_DUTY


def unit_feature(unit: UnitState, acked: bool = False) -> dict[str, Any]:
    """Return a unit's lean GeoJSON point: id, status code ``s``, lost flag ``l``.

    ``k`` marks an EMERGENCY a supervisor has acknowledged (drawn without the pulse).
    Callsigns travel once, in the layer's ``hideout`` (``units_hideout``), not every tick.
    """
    props: dict[str, Any] = {"id": unit.id, "s": STATUS_LOOK[unit.status].code}
    if unit.stale:
        props["l"] = 1
    if acked:
        props["k"] = 1
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(unit.lon or 0.0, COORD_DECIMALS),
                                                      round(unit.lat or 0.0, COORD_DECIMALS)]},
        "properties": props,
    }


def units_geojson(units: Iterable[UnitState],
                  acked: Collection[str] = frozenset()) -> dict[str, Any]:
    """Return the units layer data: emergencies last, so they are drawn on top."""
    drawn = sorted((u for u in units if on_map(u)), key=lambda u: u.status is Status.EMERGENCY)
    return {"type": "FeatureCollection",
            "features": [unit_feature(u, u.status is Status.EMERGENCY and u.id in acked)
                         for u in drawn]}


def units_hideout(roster: Roster) -> dict[str, Any]:
    """Return the units layer's ``hideout``: labels and colours per status, roster callsigns."""
    return {**status_hideout(), "cs": {uid: u.callsign for uid, u in roster.units.items()}}


def payload_bytes(data: Any) -> int:
    """Return how many bytes a value takes as compact JSON (what one refresh sends)."""
    return len(json.dumps(data, separators=(",", ":")).encode())


def viewport(lat: float, lon: float, zoom: int = HOTSPOT_ZOOM) -> dict[str, Any]:
    """Return a map viewport that flies to a point (the map keeps its zoom otherwise)."""
    return {"center": [lat, lon], "zoom": zoom, "transition": "flyTo",
            "options": {"duration": 0.6}}


def hotspot_layer_data(hotspots: HotspotSet) -> dict[str, Any]:
    """Return the hotspot areas as in the file, plus a pin feature at each hotspot's centroid."""
    areas = hotspots.to_geojson()["features"]
    pins = [
        {"type": "Feature", "geometry": {"type": "Point",
                                         "coordinates": [h.centroid[1], h.centroid[0]]},
         "properties": {"id": h.id, "name": h.name, "category": h.category,
                        "priority": h.priority, "pin": 1}}
        for h in hotspots.hotspots
    ]
    return {"type": "FeatureCollection", "features": [*areas, *pins]}


def hotspots_hideout(states: dict[str, str]) -> dict[str, Any]:
    """Return the hotspot layer's ``hideout``: state per id, plus styles and labels."""
    return {"s": states, "styles": hotspot_styles(),
            "labels": {k: f"{v.label}: {v.meaning}" for k, v in HOTSPOT_LOOK.items()}}
