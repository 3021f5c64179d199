"""Pure view models of coverage: hotspot states, the gap list, the hotspot panel, dosage.

No I/O: actions read Redis and pass plain values in; tests call these directly.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

# The API reads reporting units and coverage through this one module (api.py's ``views``).
from dashboard.control_room.view import reporting as reporting  # noqa: PLC0414
from dashboard.times import ago, duration_text, local_clock


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
    return f"{local_clock(start, zone)}–{local_clock(end, zone)}"


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
