"""Colours, labels and short codes for unit statuses and hotspot states (one source for all).

The browser gets these through the map layers' ``hideout``, so the JavaScript in
``assets/patrolwatch.js`` holds no colours of its own and the legend always matches the map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from patrolwatch.core.model import Status


@dataclass(frozen=True)
class StatusLook:
    """How one unit status is drawn and named."""

    code: str  # one letter in the per-refresh payload
    label: str
    colour: str


STATUS_LOOK: dict[Status, StatusLook] = {
    Status.EMERGENCY: StatusLook("E", "Emergency", "#dc2626"),
    Status.AVAILABLE: StatusLook("A", "Available", "#16a34a"),
    Status.ON_PATROL: StatusLook("P", "On patrol", "#2563eb"),
    Status.EN_ROUTE: StatusLook("R", "En route", "#0891b2"),
    Status.AT_SCENE: StatusLook("S", "At scene", "#ea580c"),
    Status.COMMITTED: StatusLook("C", "Committed", "#ca8a04"),
    Status.REFRESHMENT: StatusLook("F", "Refreshment", "#db2777"),
    Status.OFF_DUTY: StatusLook("O", "Off duty", "#64748b"),
}
LOST_COLOUR = "#4b5563"  # on the light map
LOST_ON_DARK = "#cbd5e1"  # the same meaning on the dark side panel
LOST_LABEL = "Lost contact"

# The order statuses appear in the counts and the legend: what needs action first.
STATUS_ORDER: tuple[Status, ...] = tuple(STATUS_LOOK)


@dataclass(frozen=True)
class StateLook:
    """How one hotspot coverage state is drawn and named."""

    label: str
    colour: str
    meaning: str


HOTSPOT_LOOK: dict[str, StateLook] = {
    "gap": StateLook("Gap", "#dc2626", "no visible presence for too long"),
    "due": StateLook("Due", "#f59e0b", "a visit is due soon"),
    "present": StateLook("Present", "#16a34a", "a patrol is there now"),
    "covered": StateLook("Covered", "#2563eb", "visited recently"),
    "no_data": StateLook("No data", "#7c3aed", "feed stale: absence cannot be told"),
    "inactive": StateLook("Inactive", "#6b7280", "outside its schedule"),
}
HOTSPOT_STATES: tuple[str, ...] = tuple(HOTSPOT_LOOK)


def hotspot_styles() -> dict[str, dict[str, Any]]:
    """Return the Leaflet path style of each hotspot state (inactive: outline only)."""
    styles: dict[str, dict[str, Any]] = {}
    for state, look in HOTSPOT_LOOK.items():
        styles[state] = {"color": look.colour, "weight": 2, "opacity": 0.9,
                         "fillColor": look.colour, "fillOpacity": 0.28}
    for style in styles.values():  # dashed: a place, never mistaken for a unit's solid dot
        style["dashArray"] = "8 5"
    styles["gap"].update(weight=4, fillOpacity=0.38)
    styles["inactive"].update(fillOpacity=0.0, dashArray="6 4", weight=1.5)
    # Dashed, so "we cannot tell" never reads as a solid colour that means something.
    styles["no_data"].update(fillOpacity=0.15, dashArray="4 3")
    return styles


def status_hideout() -> dict[str, Any]:
    """Return label and colour per one-letter status code, and the lost-contact look."""
    return {
        "st": {look.code: [look.label, look.colour] for look in STATUS_LOOK.values()},
        "lost": [LOST_LABEL, LOST_COLOUR],
    }


# Tasking lifecycle states: open ones in strong colours, closed ones quieter.
TASK_STATE_LOOK: dict[str, StateLook] = {
    "SENT": StateLook("Sent", "#2563eb", "waiting for the crew to answer"),
    "ACKNOWLEDGED": StateLook("Acknowledged", "#0891b2", "the crew accepted and is on the way"),
    "DECLINED": StateLook("Declined", "#ea580c", "the crew declined: send someone else"),
    "ARRIVED": StateLook("Arrived", "#16a34a", "the unit is at the hotspot"),
    "COMPLETED": StateLook("Completed", "#4b5563", "a qualifying visit was delivered"),
    "EXPIRED": StateLook("Expired", "#b91c1c", "no answer or no arrival in time"),
}
