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

# The dosage rows and CSV live in dosage.py; actions and tests read them from here too.
from dashboard.coverage.dosage import DOSAGE_COLUMNS as DOSAGE_COLUMNS  # noqa: PLC0414
from dashboard.coverage.dosage import dosage_csv as dosage_csv  # noqa: PLC0414
from dashboard.coverage.dosage import dosage_rows as dosage_rows  # noqa: PLC0414
from dashboard.experiments.view import arm_lines
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
    """One line of the gap list, most urgent first.

    Nothing here depends on the clock: "for 1 h 12 min" and "12 min overdue" are written by
    the browser from ``absent_since`` and ``overdue_since`` (assets/patrolwatch.js), so the
    row, and the list, change only when the gap itself does.
    """

    hotspot: str
    name: str
    kind: str
    priority: int
    headline: str
    detail: str
    lat: float | None
    lon: float | None
    suggestions: list[Suggestion] = field(default_factory=list)
    absent_since: float | None = None  # the reference: "no presence for ..." counts from it
    overdue_since: float | None = None  # when the gap opened: "... overdue" counts from it


def _metres(distance: float) -> str:
    """Say a distance to the nearest 100 m: a unit a few metres on must not redraw the list."""
    if distance < 950:
        return f"{max(100, round(distance / 100) * 100)} m"
    return f"{distance / 1000:.1f} km"


def _eta_minutes(seconds: float) -> int:
    """Return an ETA in whole minutes, rounded up, at least 1: steady while the unit walks."""
    return max(1, math.ceil(seconds / 60 - 1e-9))


def _suggestions(found: Sequence[Mapping[str, Any]],
                 callsigns: Mapping[str, str]) -> list[Suggestion]:
    """Return the first three suggested units, by ETA in whole minutes, then by id.

    Two units a few seconds apart swap places in the evaluator's list as they walk; in
    whole minutes they tie, and the id keeps them where they were.
    """
    rows = [(s, float(s.get("eta_s") or 0.0)) for s in found[:3] if isinstance(s, Mapping)]
    rows.sort(key=lambda r: (_eta_minutes(r[1]), str(r[0].get("id"))))
    return [Suggestion(id=str(s["id"]), callsign=callsigns.get(str(s["id"]), str(s["id"])),
                       eta=f"{_eta_minutes(eta)} min",
                       distance=_metres(float(s.get("distance_m") or 0.0)))
            for s, eta in rows]


def gap_urgency(gap: Mapping[str, Any]) -> tuple[int, float, str]:
    """Sort key for gaps: priority 1 first, then the longest open, then by hotspot id.

    "Longest open" (earliest ``since``) is "most minutes overdue" (DOMAIN.md) without the
    clock in it: the key of a gap does not change from one evaluation to the next, so the
    list keeps its order, and ties never swap.
    """
    since = gap.get("since")
    key = float(since) if isinstance(since, int | float) and math.isfinite(since) else math.inf
    return int(gap.get("priority") or 3), key, str(gap.get("hotspot"))


def gap_rows(snapshot: Mapping[str, Any] | None, now: float, zone: ZoneInfo,
             callsigns: Mapping[str, str]) -> list[GapRow]:
    """Return the gaps, priority 1 first and then the longest open.

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
        since = gap.get("since")
        opened = float(since) if isinstance(since, int | float) else None
        absent: float | None = None
        if gap.get("kind") == "shortfall":
            headline = "no qualifying visit this window"
            ends = entry.get("window_end")
            detail = f"window ends {local_clock(ends, zone)}" if ends else ""
        else:
            reference = entry.get("reference")
            seen = gap.get("last_presence_end", entry.get("last_presence_end"))
            if isinstance(reference, int | float):
                absent = float(reference)
                headline = f"no presence since {local_clock(reference, zone)}"
            else:
                headline = f"gap since {local_clock(since, zone)}"
            detail = ""
            # A presence gap is about qualifying visits: shorter ones since the reference are
            # presence too, and saying "no presence" beside "3 visits this window" is false.
            if isinstance(reference, int | float) and isinstance(seen, int | float) \
                    and seen > reference:
                headline = f"no qualifying visit since {local_clock(reference, zone)}"
                detail = f"last brief presence {local_clock(seen, zone)}"
        rows.append(GapRow(
            hotspot=str(gap.get("hotspot")), name=str(gap.get("name") or gap.get("hotspot")),
            kind=str(gap.get("kind")), priority=int(gap.get("priority") or 3),
            headline=headline, detail=detail, lat=gap.get("lat"), lon=gap.get("lon"),
            suggestions=_suggestions(gap.get("suggested_units") or [], callsigns),
            absent_since=absent, overdue_since=opened,
        ))
    return rows


@dataclass(frozen=True)
class Unknown:
    """Why coverage is not known for some active hotspots: the screen must not say "No gaps".

    ``reason``: ``evaluator`` (no recent evaluation), ``feed`` (no unit reported lately) or
    ``young`` (the feed started less than T ago: absence cannot be told from silence yet).
    Clock-free like ``GapRow``: the browser writes "20 s ago" from ``feed_since``.
    """

    count: int  # active hotspots whose coverage is not known
    active: int
    reason: str
    feed_since: float | None = None  # start of the current stretch of observed time
    judged_after_min: float | None = None  # T of the soonest such hotspot
    judged_clock: str | None = None  # when the soonest one is judged, unless a unit gets there


def unknown_coverage(snapshot: Mapping[str, Any] | None, now: float, max_age_s: float,
                     active_ids: Collection[str], zone: ZoneInfo) -> Unknown | None:
    """Return how many active hotspots have no known coverage, and why; None if all are known.

    ``active_ids`` are the hotspots whose schedule is active now (used when the snapshot is
    missing or stale, so its own list cannot be trusted).
    """
    if not coverage_usable(snapshot, now, max_age_s) or snapshot is None:
        return Unknown(len(active_ids), len(active_ids), "evaluator") if active_ids else None
    entries: Mapping[str, Any] = snapshot.get("hotspots") or {}
    active = [e for e in entries.values() if isinstance(e, Mapping) and e.get("active")]
    blind = [e for e in active if e.get("state") == "no_data"]
    if not blind:
        return None
    since = snapshot.get("observed_since")
    if not snapshot.get("feed_fresh", True) or not isinstance(since, int | float):
        return Unknown(len(blind), len(active), "feed")
    minutes = [float(e["max_gap_minutes"]) for e in blind
               if isinstance(e.get("max_gap_minutes"), int | float)]
    soonest = min(minutes) if minutes else None
    return Unknown(len(blind), len(active), "young", float(since), soonest,
                   local_clock(float(since) + soonest * 60.0, zone)
                   if soonest is not None else None)


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
    lines += arm_lines(entry)  # experiment: treated or control today
    overdue = entry.get("overdue_minutes")
    if isinstance(overdue, int | float) and overdue > 0:
        lines.append(("Overdue by", duration_text(overdue * 60)))
    return HotspotDetail(hotspot.id, hotspot.name, hotspot.category, hotspot.priority, state,
                         lines)


def _num(value: Any) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "—"
    return f"{value:.0f}" if float(value).is_integer() or value >= 10 else f"{value:.1f}"


# --- predictability ---------------------------------------------------------------------
def predictability_lines(snapshot: Mapping[str, Any] | None) -> list[str]:
    """Return one warning line per hotspot whose first visits fall at a predictable time."""
    lines = []
    for flag in (snapshot or {}).get("predictability") or []:
        days = ", ".join(str(d) for d in flag.get("days") or [])
        lines.append(f"{flag.get('name') or flag.get('hotspot')}: first visit around "
                     f"{flag.get('typical_time', '?')} on {days}")
    return lines
