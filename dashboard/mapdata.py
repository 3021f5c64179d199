"""What the map layers receive: lean unit points, hotspot areas with pins, viewports.

The units layer is refreshed every tick, so its features carry only what the marker needs
(id, one-letter status, lost flag) with coordinates rounded to about a metre; callsigns of
roster units go once in the layer's ``hideout``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

from dashboard.palette import STATUS_LOOK, status_hideout
from patrolwatch.core.hotspots import HotspotSet
from patrolwatch.core.model import Status, UnitState
from patrolwatch.roster import Roster

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
