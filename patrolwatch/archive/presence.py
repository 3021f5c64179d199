"""Who was here: every unit with a presence ping in an area over a period, with visit minutes.

Presence and visits are DOMAIN.md's (``patrolwatch.core.visits``): eligible status at the
ping, inside the area, accuracy within the limit; visits are chained with G and E. Candidate
units are the ones with any point in the area's bounding box; their whole trails in the
period are then read, because an outside ping decides whether a visit goes on (E).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from patrolwatch.archive.tiers import History
from patrolwatch.core.geo import AreaIndex, GeometryError, parse_geometry
from patrolwatch.core.visits import Ping, VisitParams, visits_from_history

AREA = "area"
MAX_POLYGON_BYTES = 64 * 1024
MAX_VERTICES = 2000
M_PER_DEG = 111_320.0


class BadAreaError(ValueError):
    """A polygon the presence query cannot use; the message says what to send instead."""


@dataclass(frozen=True)
class Area:
    """A shape to ask about: a polygon, or a point with a radius (lon/lat shapely geometry)."""

    geometry: Any
    radius_m: float | None = None

    def bbox(self) -> tuple[float, float, float, float]:
        """Return (min_lat, min_lon, max_lat, max_lon), widened by the radius of a circle."""
        min_lon, min_lat, max_lon, max_lat = self.geometry.bounds
        if self.radius_m is None:
            return min_lat, min_lon, max_lat, max_lon
        dlat = self.radius_m * 1.01 / M_PER_DEG
        dlon = dlat / max(math.cos(math.radians(max_lat)), 1e-6)
        return min_lat - dlat, min_lon - dlon, max_lat + dlat, max_lon + dlon


def polygon_area(text: str) -> Area:
    """Return the area of a ``polygon=`` argument (GeoJSON Polygon); raise BadAreaError."""
    if len(text) > MAX_POLYGON_BYTES:
        raise BadAreaError(f"the polygon is over {MAX_POLYGON_BYTES} bytes: simplify it")
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise BadAreaError(f"polygon is not JSON ({exc}): send a GeoJSON Polygon, e.g. "
                           '{"type": "Polygon", "coordinates": [[[lon, lat], ...]]}') from None
    if isinstance(raw, dict) and raw.get("type") == "Feature":
        raw = raw.get("geometry")
    if not isinstance(raw, dict) or raw.get("type") not in ("Polygon", "MultiPolygon"):
        raise BadAreaError("polygon must be a GeoJSON Polygon or MultiPolygon")
    if text.count(",") > 2 * MAX_VERTICES:
        raise BadAreaError(f"the polygon has over {MAX_VERTICES} vertices: simplify it")
    try:
        return Area(parse_geometry(raw))
    except (GeometryError, TypeError, ValueError) as exc:
        raise BadAreaError(f"polygon: {exc}") from None


def presence(history: History, area: Area, since: float, until: float, params: VisitParams,
             retention_s: float) -> list[dict[str, Any]]:
    """Return one row per unit present in the area: unit, first, last, minutes (epoch seconds)."""
    units = sorted(history.units_in_bbox(since, until, area.bbox()))
    if not units:
        return []
    trails = history.points(units, since, until)
    statuses = history.status_changes(units, since, until, retention_s)
    index = AreaIndex([(area.geometry, area.radius_m)])
    pings: list[Ping] = []
    inside_set = frozenset({AREA})
    outside: frozenset[str] = frozenset()
    for unit, points in trails.items():
        if not points:
            continue
        lats = np.fromiter((p[1] for p in points), float, len(points))
        lons = np.fromiter((p[2] for p in points), float, len(points))
        inside = np.zeros(len(points), bool)
        inside[index.containing_indices(lats, lons)[0]] = True
        pings.extend(Ping(unit, p[0], inside_set if hit else outside, p[3])
                     for p, hit in zip(points, inside, strict=True))
    rows: dict[str, dict[str, Any]] = {}
    for visit in visits_from_history(pings, statuses, params):
        row = rows.setdefault(visit.unit, {"unit": visit.unit, "first": visit.start,
                                           "last": visit.end, "minutes": 0.0, "visits": 0})
        row["first"] = min(row["first"], visit.start)
        row["last"] = max(row["last"], visit.end)
        row["minutes"] += visit.minutes
        row["visits"] += 1
    return sorted(rows.values(), key=lambda r: (r["first"], r["unit"]))
