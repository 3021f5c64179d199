"""Pure functions from live state and the coverage snapshot to what the control room sees.

No I/O: the handlers read Redis and pass plain values in; tests call these directly.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from dashboard.palette import LOST_LABEL, LOST_ON_DARK, STATUS_LOOK, STATUS_ORDER
from dashboard.taskviews import acknowledged
from dashboard.times import ago, duration_text, local_clock
from patrolwatch.core.model import Status, UnitState

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
    """One unit in EMERGENCY, as the banner names it."""

    id: str
    callsign: str
    team: str
    since: float | None
    since_clock: str
    lost: bool
    acked_by: str | None = None  # set while a supervisor's acknowledgement covers it
    acked_clock: str | None = None


def alarms(units: Iterable[UnitState], zone: ZoneInfo,
           acks: Mapping[str, Mapping[str, Any]] | None = None) -> list[Alarm]:
    """Return the emergency banner's entries, the earliest alarm first.

    An acknowledgement counts only for the EMERGENCY it was given for: a later one
    (newer status time) is unacknowledged again.
    """
    acks = acks or {}
    out = []
    for u in emergencies(units):
        ack = acks.get(u.id)
        covered = acknowledged(ack, u.status_ts)
        out.append(Alarm(id=u.id, callsign=u.callsign, team=u.team,
                         since=u.status_ts, since_clock=local_clock(u.status_ts, zone),
                         lost=is_lost(u),
                         acked_by=str(ack.get("by")) if ack and covered else None,
                         acked_clock=local_clock(ack.get("ts"), zone) if ack and covered
                         else None))
    return out


# --- coverage snapshot -------------------------------------------------------------------
def coverage_age(snapshot: Mapping[str, Any] | None, now: float) -> float | None:
    """Return how old the coverage snapshot is, in seconds (None when there is none)."""
    if not snapshot or not isinstance(snapshot.get("evaluated_at"), int | float):
        return None
    return max(0.0, now - float(snapshot["evaluated_at"]))


def coverage_usable(snapshot: Mapping[str, Any] | None, now: float, max_age_s: float) -> bool:
    """Tell whether the snapshot is recent enough to direct patrols by."""
    age = coverage_age(snapshot, now)
    return age is not None and age <= max_age_s


def hotspot_states(snapshot: Mapping[str, Any] | None, hotspot_ids: Iterable[str], now: float,
                   max_age_s: float) -> dict[str, str]:
    """Return every hotspot's state; ``no_data`` without a recent snapshot entry for it."""
    usable = coverage_usable(snapshot, now, max_age_s)
    entries: Mapping[str, Any] = snapshot.get("hotspots", {}) if snapshot and usable else {}
    out: dict[str, str] = {}
    for hid in hotspot_ids:
        entry = entries.get(hid)
        state = entry.get("state") if isinstance(entry, dict) else None
        out[hid] = state if isinstance(state, str) else "no_data"
    return out


@dataclass(frozen=True)
class Suggestion:
    """A unit the evaluator suggests for a gap."""

    id: str
    callsign: str
    eta: str
    distance: str


@dataclass(frozen=True)
class GapRow:
    """One line of the gap list, most urgent first."""

    hotspot: str
    name: str
    kind: str
    priority: int
    headline: str
    detail: str
    lat: float | None
    lon: float | None
    suggestions: list[Suggestion] = field(default_factory=list)


def _metres(distance: float) -> str:
    return f"{distance / 1000:.1f} km" if distance >= 1000 else f"{round(distance)} m"


def gap_urgency(gap: Mapping[str, Any]) -> tuple[int, float]:
    """Sort key for gaps: priority 1 first, then the most minutes overdue (DOMAIN.md)."""
    return int(gap.get("priority") or 3), -float(gap.get("overdue_minutes") or 0.0)


def gap_rows(snapshot: Mapping[str, Any] | None, now: float, zone: ZoneInfo,
             callsigns: Mapping[str, str]) -> list[GapRow]:
    """Return the gaps, priority 1 first and then the most overdue.

    A gap's ``since`` is when it opened (reference + T, or window end - M for a shortfall);
    "no presence for" counts from the hotspot's reference (window start or the end of the
    last qualifying visit), which the snapshot keeps per hotspot.
    """
    if not snapshot:
        return []
    entries: Mapping[str, Any] = snapshot.get("hotspots") or {}
    rows: list[GapRow] = []
    for gap in sorted(snapshot.get("gaps") or [], key=gap_urgency):
        entry = entries.get(str(gap.get("hotspot"))) or {}
        overdue = float(gap.get("overdue_minutes") or 0.0)
        late = f"{duration_text(overdue * 60)} overdue" if overdue > 0 else "due now"
        if gap.get("kind") == "shortfall":
            headline = "no qualifying visit this window"
            ends = entry.get("window_end")
            detail = f"window ends {local_clock(ends, zone)}" if ends else late
        else:
            reference = entry.get("reference")
            headline = (f"no presence for {duration_text(now - reference)}"
                        if isinstance(reference, int | float)
                        else f"gap since {local_clock(gap.get('since'), zone)}")
            detail = late
        rows.append(GapRow(
            hotspot=str(gap.get("hotspot")), name=str(gap.get("name") or gap.get("hotspot")),
            kind=str(gap.get("kind")), priority=int(gap.get("priority") or 3),
            headline=headline, detail=detail, lat=gap.get("lat"), lon=gap.get("lon"),
            suggestions=[
                Suggestion(id=str(s["id"]), callsign=callsigns.get(str(s["id"]), str(s["id"])),
                           eta=duration_text(float(s.get("eta_s") or 0.0)),
                           distance=_metres(float(s.get("distance_m") or 0.0)))
                for s in (gap.get("suggested_units") or [])[:3]
            ],
        ))
    return rows


def without_units(rows: Sequence[GapRow], busy: Collection[str]) -> list[GapRow]:
    """Return the gap rows with these units left out of the suggestions."""
    if not busy:
        return list(rows)
    return [replace(r, suggestions=[s for s in r.suggestions if s.id not in busy]) for r in rows]


@dataclass(frozen=True)
class HotspotDetail:
    """The hotspot panel: what the selected hotspot's coverage looks like now."""

    id: str
    name: str
    category: str
    priority: int
    state: str
    lines: list[tuple[str, str]]


def _window_text(entry: Mapping[str, Any], zone: ZoneInfo) -> str:
    start, end = entry.get("window_start"), entry.get("window_end")
    if start is None:
        return "not active now"
    return f"{local_clock(start, zone)}–{local_clock(end, zone).replace('00:00', '24:00')}"


def hotspot_detail(hotspot: Any, entry: Mapping[str, Any] | None, state: str, *, now: float,
                   zone: ZoneInfo, callsigns: Mapping[str, str]) -> HotspotDetail:
    """Return the panel lines for one hotspot from its snapshot entry."""
    lines: list[tuple[str, str]] = [("Category", hotspot.category.replace("_", " ")),
                                    ("Priority", str(hotspot.priority))]
    if entry is None:
        lines.append(("Coverage", "no evaluation yet"))
        return HotspotDetail(hotspot.id, hotspot.name, hotspot.category, hotspot.priority,
                             state, lines)
    target = entry.get("target_minutes")
    max_gap = entry.get("max_gap_minutes")
    last_end = entry.get("last_visit_end")
    present = [callsigns.get(u, u) for u in entry.get("present_units") or []]
    lines += [
        ("Active window", _window_text(entry, zone)),
        ("Present now", ", ".join(present) if present else "nobody"),
        ("Last qualifying visit",
         f"ended {local_clock(last_end, zone)} ({ago(last_end, now)})" if last_end else "none"),
        ("Visits this window",
         f"{entry.get('visits_in_window', 0)} "
         f"({entry.get('qualifying_visits_in_window', 0)} of ≥ {_num(target)} min)"),
        ("Patrol-minutes", f"{_num(entry.get('patrol_minutes_in_window'))} min "
                           f"(officer-minutes {_num(entry.get('officer_minutes_in_window'))})"),
        ("Max gap allowed", f"{_num(max_gap)} min"),
    ]
    overdue = entry.get("overdue_minutes")
    if isinstance(overdue, int | float) and overdue > 0:
        lines.append(("Overdue by", duration_text(overdue * 60)))
    return HotspotDetail(hotspot.id, hotspot.name, hotspot.category, hotspot.priority, state,
                         lines)


def _num(value: Any) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "—"
    return f"{value:.0f}" if float(value).is_integer() or value >= 10 else f"{value:.1f}"


# --- dosage and predictability -----------------------------------------------------------
DOSAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Hotspot"), ("category", "Category"), ("windows", "Windows"),
    ("qualifying_visits", "Qualifying visits"), ("planned_visits", "Planned"),
    ("patrol_minutes", "Patrol-min"), ("officer_minutes", "Officer-min"),
    ("compliance_pct", "Compliance %"),
)


def dosage_rows(snapshot: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Return the dosage table rows; ``compliance`` (0–1) becomes a whole percentage."""
    rows: list[dict[str, Any]] = []
    for d in (snapshot or {}).get("dosage") or []:
        compliance = d.get("compliance")
        rows.append({
            "hotspot": d.get("hotspot"), "name": d.get("name") or d.get("hotspot"),
            "category": str(d.get("category") or "").replace("_", " "),
            "windows": d.get("windows"), "qualifying_visits": d.get("qualifying_visits"),
            "planned_visits": d.get("planned_visits"),
            "patrol_minutes": _round(d.get("patrol_minutes")),
            "officer_minutes": _round(d.get("officer_minutes")),
            "compliance_pct": round(100 * compliance) if isinstance(compliance, int | float)
            and math.isfinite(compliance) else None,
        })
    return rows


def _round(value: Any) -> float | None:
    return round(float(value), 1) if isinstance(value, int | float) else None


def dosage_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Return the dosage table as CSV (hotspot id first) for supervisors' reports."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = ["hotspot", *(k for k, _ in DOSAGE_COLUMNS)]
    writer.writerow(["hotspot_id", *(label for _, label in DOSAGE_COLUMNS)])
    for row in rows:
        writer.writerow(["" if row.get(k) is None else row.get(k) for k in keys])
    return out.getvalue()


def predictability_lines(snapshot: Mapping[str, Any] | None) -> list[str]:
    """Return one warning line per hotspot whose first visits fall at a predictable time."""
    lines = []
    for flag in (snapshot or {}).get("predictability") or []:
        days = ", ".join(str(d) for d in flag.get("days") or [])
        lines.append(f"{flag.get('name') or flag.get('hotspot')}: first visit around "
                     f"{flag.get('typical_time', '?')} on {days}")
    return lines


# --- selection and change detection ------------------------------------------------------
def digest(value: Any) -> str:
    """Return a short fingerprint of a view model, to skip re-sending what has not changed."""
    text = json.dumps(value, default=_plain, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    if isinstance(value, Status):
        return value.value
    return str(value)
