"""OwnTracks regions for the day's treated places (pure): the ``setWaypoints`` command.

OwnTracks takes a ``cmd`` message on the phone's command topic ``owntracks/{user}/{device}/cmd``
(``_type: cmd``, ``action: setWaypoints``) holding ``waypoints`` (``_type: waypoints``), a list
of ``waypoint`` regions: ``desc`` (the region's name), ``lat``, ``lon``, ``rad`` (metres) and
``tst`` (the region's identity: the same ``tst`` replaces a region, so each place keeps one
stable ``tst`` derived from its id). The app then reports entering and leaving as transition
events on ``owntracks/{user}/{device}/event``, which ingest records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from patrolwatch.core.geo import haversine_m
from patrolwatch.core.hotspots import Hotspot

TST_BASE = 1_600_000_000  # tst values look like times to the app; stay clear of real ones


def region_radius_m(h: Hotspot) -> int:
    """Return a circle's radius around the centroid that covers the hotspot (metres)."""
    if h.radius_m is not None:
        return max(1, round(h.radius_m))
    lat, lon = h.centroid
    minx, miny, maxx, maxy = h.geometry.bounds
    corners = [(miny, minx), (miny, maxx), (maxy, minx), (maxy, maxx)]
    return max(1, round(max(haversine_m(lat, lon, a, b) for a, b in corners)))


def region_tst(hotspot_id: str) -> int:
    """Return a stable region identity for a place."""
    return TST_BASE + int.from_bytes(hashlib.sha256(hotspot_id.encode()).digest()[:3], "big")


def waypoint(h: Hotspot, label: str = "") -> dict[str, Any]:
    """Return one OwnTracks waypoint for a place."""
    lat, lon = h.centroid
    return {"_type": "waypoint", "desc": f"{label}{h.name}", "lat": round(lat, 6),
            "lon": round(lon, 6), "rad": region_radius_m(h), "tst": region_tst(h.id)}


def set_waypoints(places: Iterable[str], hotspots: Mapping[str, Hotspot],
                  label: str = "Patrol: ") -> str:
    """Return the ``setWaypoints`` command for the given places, as JSON text."""
    return json.dumps({"_type": "cmd", "action": "setWaypoints", "waypoints": {
        "_type": "waypoints",
        "waypoints": [waypoint(hotspots[h], label) for h in places if h in hotspots]}})


def command_topic(pair: str) -> str:
    """Return the command topic of an OwnTracks ``user/device``."""
    return f"owntracks/{pair}/cmd"
