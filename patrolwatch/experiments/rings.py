"""Buffer rings: the area within ``buffer_m`` of a place's edge, outside the place (pure).

Membership is decided by the distance to the place's edge, as :class:`HotspotSet` measures
it (a circle by true distance, a polygon in its own local projection): a point is in the
ring when it is not inside the place and at most ``buffer_m`` from its edge. ``ring_shape``
gives the same area as a polygon (lon/lat) for the map and for checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from patrolwatch.core.geo import LocalProjection
from patrolwatch.core.hotspots import Hotspot, HotspotSet

RING = "~ring"  # suffix of a ring's pseudo-hotspot id in visit computations


def ring_id(hotspot: str) -> str:
    """Return the id visits in a place's buffer ring are computed under."""
    return hotspot + RING


def in_rings(hotspots: HotspotSet, ids: Sequence[str], lats: Any, lons: Any,
             buffer_m: float) -> list[tuple[str, ...]]:
    """Return, for each point, the ring ids (of ``ids``) it lies in."""
    lat = np.asarray(lats, float).ravel()
    lon = np.asarray(lons, float).ravel()
    out: list[list[str]] = [[] for _ in range(lat.size)]
    if lat.size == 0:
        return []
    inside = hotspots.containing_many(lat, lon)
    for hid in ids:
        d = hotspots.nearest_distances_m(hid, lat, lon)
        for i in np.flatnonzero(d <= buffer_m):
            if hid not in inside[int(i)]:
                out[int(i)].append(ring_id(hid))
    return [tuple(x) for x in out]


def ring_shape(hotspot: Hotspot, buffer_m: float) -> BaseGeometry:
    """Return the ring as a lon/lat polygon: the place grown by ``buffer_m``, minus the place."""
    c = hotspot.geometry.centroid
    proj = LocalProjection(c.y, c.x)
    if hotspot.radius_m is not None:
        x, y = proj.to_xy(hotspot.geometry.y, hotspot.geometry.x)
        place = Point(float(x), float(y)).buffer(hotspot.radius_m, quad_segs=32)
    else:
        place = proj.project(hotspot.geometry)
    ring = place.buffer(buffer_m, quad_segs=32).difference(place)

    def back(coords: Any) -> Any:
        lats, lons = proj.to_latlon(coords[:, 0], coords[:, 1])
        return np.column_stack((lons, lats))

    return shapely.transform(ring, back)
