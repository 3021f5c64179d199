"""Pure view models for redeployment: taskings, the audit log, suggestions, assignment plans.

No I/O: actions read Redis and pass plain values in; tests call these directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any
from zoneinfo import ZoneInfo

from dashboard.palette import TASK_STATE_LOOK
from dashboard.times import duration_text, local_clock
from patrolwatch.core.coverage import Gap
from patrolwatch.core.geo import haversine_m
from patrolwatch.core.suggest import Suggestion
from patrolwatch.core.taskings import OPEN_STATES

RECENT_CLOSED_S = 2 * 3600.0  # closed taskings stay in the panel this long


TASKINGS_SHOWN = 60


AUDIT_SHOWN = 80


def metres(distance: float) -> str:
    """Say a distance the way the gap list does: ``420 m``, ``1.3 km``."""
    return f"{distance / 1000:.1f} km" if distance >= 1000 else f"{round(distance)} m"


# --- taskings ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskingRow:
    """One tasking as the taskings panel lists it."""

    id: str
    unit: str
    callsign: str
    hotspot: str
    name: str
    state: str
    label: str
    colour: str
    by: str
    created: float
    updated: float
    note: str | None
    reason: str | None
    open: bool


def tasking_rows(taskings: Iterable[Mapping[str, Any]], callsigns: Mapping[str, str],
                 now: float, recent_s: float = RECENT_CLOSED_S,
                 limit: int = TASKINGS_SHOWN) -> list[TaskingRow]:
    """Return open taskings (newest first), then those closed within ``recent_s``."""
    rows = []
    for t in taskings:
        state = str(t.get("state"))
        is_open = state in OPEN_STATES
        updated = float(t.get("updated") or t.get("created") or 0.0)
        if not is_open and now - updated > recent_s:
            continue
        look = TASK_STATE_LOOK.get(state, TASK_STATE_LOOK["SENT"])
        unit = str(t.get("unit"))
        rows.append(TaskingRow(
            id=str(t.get("id")), unit=unit, callsign=callsigns.get(unit, unit),
            hotspot=str(t.get("hotspot")), name=str(t.get("name") or t.get("hotspot")),
            state=state, label=look.label, colour=look.colour, by=str(t.get("by") or "?"),
            created=float(t.get("created") or 0.0), updated=updated,
            note=t.get("note") or None, reason=t.get("reason") or None, open=is_open))
    rows.sort(key=lambda r: (not r.open, -r.created))
    return rows[:limit]


def tasked_by_hotspot(taskings: Iterable[Mapping[str, Any]],
                      callsigns: Mapping[str, str]) -> dict[str, list[str]]:
    """Return, per hotspot, the units holding an open tasking there (``CW401 acknowledged``)."""
    out: dict[str, list[str]] = {}
    for t in sorted(taskings, key=lambda t: float(t.get("created") or 0.0)):
        state = str(t.get("state"))
        if state not in OPEN_STATES:
            continue
        unit = str(t.get("unit"))
        look = TASK_STATE_LOOK.get(state, TASK_STATE_LOOK["SENT"])
        out.setdefault(str(t.get("hotspot")), []).append(
            f"{callsigns.get(unit, unit)} {look.label.lower()}")
    return out


def open_for_unit(taskings: Iterable[Mapping[str, Any]], unit: str) -> dict[str, Any] | None:
    """Return the unit's newest open tasking (the one its crew must answer), or None."""
    mine = [dict(t) for t in taskings
            if t.get("unit") == unit and str(t.get("state")) in OPEN_STATES]
    return max(mine, key=lambda t: float(t.get("created") or 0.0)) if mine else None


def duplicate_of(taskings: Iterable[Mapping[str, Any]], unit: str,
                 hotspot: str) -> dict[str, Any] | None:
    """Return an open tasking of this unit to this hotspot, if one exists."""
    for t in taskings:
        if (t.get("unit") == unit and t.get("hotspot") == hotspot
                and str(t.get("state")) in OPEN_STATES):
            return dict(t)
    return None


# --- audit log ---------------------------------------------------------------------------
AUDIT_KINDS = {"tasking": "Tasking", "emergency_ack": "Emergency", "ack_ignored": "Ack ignored"}


@dataclass(frozen=True)
class AuditRow:
    """One audit entry, newest first."""

    ts: float
    clock: str
    kind: str
    actor: str
    detail: str
    change: str


def audit_rows(entries: Iterable[Mapping[str, Any]], zone: ZoneInfo,
               limit: int = AUDIT_SHOWN, units: Mapping[str, str] | None = None
               ) -> list[AuditRow]:
    """Return audit entries newest first, with the state change spelled out for taskings.

    ``units`` names each unit as people know it (``CW401 (Central West BCU)``): the stored
    detail carries unit ids (and alarm ids), which nobody at the screen reads by.
    """
    units = units or {}
    rows = []
    for e in entries:
        ts = float(e.get("ts") or 0.0)
        before, after = e.get("from"), e.get("to")
        change = (f"{before or 'new'} → {after}" if e.get("kind") == "tasking" and after
                  else "")
        detail = str(e.get("detail") or "")
        unit = str(e.get("unit") or "")
        named = units.get(unit)
        if e.get("kind") == "emergency_ack" and unit:
            detail = (f"Emergency of {named or unit} acknowledged by "
                      f"{e.get('actor') or 'a supervisor'}")
        elif named and detail.startswith(f"{unit} "):
            detail = named + detail[len(unit):]
        if e.get("tasking") and e.get("kind") == "tasking":
            detail = f"{detail} ({e['tasking']})"
        rows.append(AuditRow(ts=ts, clock=local_clock(ts, zone, seconds=True),
                             kind=AUDIT_KINDS.get(str(e.get("kind")), str(e.get("kind"))),
                             actor=str(e.get("actor") or "?"), detail=detail, change=change))
    rows.sort(key=lambda r: -r.ts)
    return rows[:limit]


# --- suggestions and assignment plans ----------------------------------------------------
@dataclass(frozen=True)
class UnitChoice:
    """A unit a supervisor can send somewhere: who, how far, how long."""

    unit: str
    callsign: str
    distance: str
    eta: str


def unit_choices(suggestions: Iterable[Suggestion | Mapping[str, Any]],
                 callsigns: Mapping[str, str], limit: int = 3) -> list[UnitChoice]:
    """Return suggestions (core values or snapshot dicts) as the screen words them."""
    out = []
    for s in suggestions:
        if isinstance(s, Suggestion):
            uid, dist, eta = s.id, s.distance_m, s.eta_s
        else:
            uid = str(s["id"])
            dist, eta = float(s.get("distance_m") or 0.0), float(s.get("eta_s") or 0.0)
        out.append(UnitChoice(uid, callsigns.get(uid, uid), metres(dist), duration_text(eta)))
    return out[:limit]


_GAP_FIELDS = tuple(f.name for f in fields(Gap))


def gaps_from_snapshot(snapshot: Mapping[str, Any] | None) -> list[Gap]:
    """Return the snapshot's gaps as core values (for ``suggest.assign``)."""
    out = []
    for g in (snapshot or {}).get("gaps") or []:
        try:
            out.append(Gap(**{k: g[k] for k in _GAP_FIELDS}))
        except (KeyError, TypeError):
            continue  # an entry written by an older evaluator: it cannot be planned for
    return out


@dataclass(frozen=True)
class PlanRow:
    """One line of an "optimise all gaps" plan."""

    hotspot: str
    name: str
    priority: int
    unit: str
    callsign: str
    distance: str
    eta: str


@dataclass(frozen=True)
class Plan:
    """The whole plan: who goes where, and which gaps are left and why."""

    rows: list[PlanRow]
    notes: list[str]

    def pairs(self) -> list[dict[str, str]]:
        """Return what the confirm step sends: unit and hotspot per line."""
        return [{"unit": r.unit, "hotspot": r.hotspot} for r in self.rows]


def plan(gaps: Sequence[Gap], pairs: Sequence[tuple[str, Suggestion]],
         callsigns: Mapping[str, str], already: Mapping[str, list[str]],
         names: Mapping[str, str] | None = None) -> Plan:
    """Return the assignment as rows in gap-urgency order, with notes on what is left out.

    ``gaps`` are all the gaps (for their names); ``already`` names the units holding an open
    tasking per hotspot, whose gaps were not planned for; ``names`` every hotspot's name
    (a tasked hotspot may no longer be a gap, and its id is no name for a person).
    """
    names = {**(names or {}), **{g.hotspot: g.name for g in gaps}}
    by_id = {g.hotspot: g for g in gaps}
    order = {g.hotspot: i for i, g in enumerate(
        sorted(gaps, key=lambda g: (g.priority, -g.overdue_minutes, g.hotspot)))}
    rows = [
        PlanRow(hotspot=h, name=by_id[h].name, priority=by_id[h].priority, unit=s.id,
                callsign=callsigns.get(s.id, s.id), distance=metres(s.distance_m),
                eta=duration_text(s.eta_s))
        for h, s in sorted(pairs, key=lambda p: order.get(p[0], math.inf))
    ]
    planned = {r.hotspot for r in rows}
    notes = [f"{names.get(h, h)}: already has {', '.join(units)}"
             for h, units in sorted(already.items())]
    left = [g.name for g in gaps if g.hotspot not in planned and g.hotspot not in already]
    if left:
        notes.append("No unit available for: " + ", ".join(left))
    return Plan(rows, notes)


def eta_to(lat: float | None, lon: float | None, target: tuple[float, float],
           speed_mps: float) -> tuple[str, str] | None:
    """Return (distance, ETA) words from a position to a point, or None without a position."""
    if lat is None or lon is None:
        return None
    distance = haversine_m(lat, lon, target[0], target[1])
    return metres(distance), duration_text(distance / speed_mps)
