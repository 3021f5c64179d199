"""One unit's panel: its state now and its recent events (OwnTracks transitions, last-wills).

The worker records an OwnTracks ``transition`` (entered or left a region the phone knows)
and every last-will as a unit event; until now they were stored and shown nowhere. The
panel opens from the unit list (or an alarm card) and stays on that unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from dash import html

from dashboard.control_room.view import is_lost
from dashboard.palette import LOST_LABEL, LOST_ON_DARK, STATUS_LOOK
from dashboard.times import local_datetime
from dashboard.widgets import Children, ago_span, chip
from patrolwatch.core.model import UnitState

EVENTS_SHOWN = 20
# Where the unit's latest position came from, as the panel says it.
SOURCE_TEXT = {"native": "via the PatrolWatch app", "owntracks": "via OwnTracks",
               "tetra": "via its TETRA radio (LIP)"}


@dataclass(frozen=True)
class EventLine:
    """One unit event as a person reads it."""

    when: str
    text: str


@dataclass(frozen=True)
class UnitDetail:
    """The unit panel's content."""

    id: str
    callsign: str
    team: str
    status: str
    colour: str
    lost: bool
    last_seen: float | None
    source: str
    events: list[EventLine]


def event_text(event: Mapping[str, Any]) -> str:
    """Say what a unit event means: a last-will, or entering / leaving a region."""
    kind = str(event.get("event") or "?")
    where = str(event.get("description") or "").strip()
    if kind == "lwt":
        return "device went offline (last will): its position is the last known"
    if kind in ("enter", "leave"):
        verb = "entered" if kind == "enter" else "left"
        return f"{verb} {where}" if where else f"{verb} a region"
    return f"{kind} {where}".strip()


def _when(event: Mapping[str, Any]) -> float:
    ts = event.get("ts")
    return float(ts) if isinstance(ts, int | float) else 0.0


def unit_detail(unit: UnitState | None, events: Iterable[Mapping[str, Any]],
                zone: ZoneInfo) -> UnitDetail | None:
    """Return the panel for one unit, newest event first (None if the unit is unknown)."""
    if unit is None:
        return None
    lost = is_lost(unit)
    look = STATUS_LOOK[unit.status]
    # By event time: one worker batch records last-wills before transitions.
    found = sorted((e for e in events if isinstance(e, Mapping)), key=_when, reverse=True)
    lines = [EventLine(local_datetime(_when(e), zone) if _when(e) else "—", event_text(e))
             for e in found[:EVENTS_SHOWN]]
    return UnitDetail(id=unit.id, callsign=unit.callsign, team=unit.team,
                      status=LOST_LABEL if lost else look.label,
                      colour=LOST_ON_DARK if lost else look.colour, lost=lost,
                      last_seen=unit.last_seen, source=str(unit.source),
                      events=lines)


def as_listed(detail: UnitDetail | None, index: Sequence[Sequence[Any]] | None
              ) -> UnitDetail | None:
    """Return the panel with the status the picture's unit list shows for the unit.

    ``index`` is the stored picture's search index (``picture.build.search_index`` rows:
    ``[hay, id, callsign, team, status label, colour, lost, last_seen]``), the one the list
    and banner were drawn from: the panel then never says "On patrol" beside a list saying
    EMERGENCY. A unit the picture does not hold keeps its own reading.
    """
    if detail is None or not index:
        return detail
    row = next((r for r in index if len(r) > 7 and r[1] == detail.id), None)
    if row is None:
        return detail
    return replace(detail, status=str(row[4]), colour=str(row[5]), lost=bool(row[6]),
                   last_seen=row[7] if isinstance(row[7], int | float) else detail.last_seen)


def render_unit(detail: UnitDetail | None) -> Children:
    """Return the unit panel (empty until a unit is chosen)."""
    if detail is None:
        return []
    events: Children = ([html.Li([html.Span(e.when, className="pw-event-when"), e.text])
                         for e in detail.events]
                        or [html.Li("No events recorded (transitions and last-wills show here).",
                                    className="pw-muted")])
    return [html.Div([
        html.Div([html.Span(detail.callsign, className="pw-callsign"),
                  html.Span(f"{detail.id} · {detail.team}", className="pw-unit-meta"),
                  chip(detail.status, detail.colour, hollow=detail.lost),
                  html.Span(["last message ", ago_span(detail.last_seen)],
                            className="pw-unit-meta"),
                  html.Span(SOURCE_TEXT.get(detail.source, detail.source),
                            className="pw-unit-meta")], className="pw-unit-head"),
        html.Div("Recent events", className="pw-h3"),
        html.Ul(events, className="pw-events"),
    ], className="pw-unit-panel")]
