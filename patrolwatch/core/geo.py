"""Distances on the Earth, a local metric projection, and GeoJSON geometries checked for use.

Accuracy, in short:

- ``haversine_m`` is the great-circle distance on a sphere of the mean Earth radius: within
  0.6 % of the true (WGS84 ellipsoid) distance anywhere, 0.32 % at worst in London.
  Good for ETAs and ranking; not what decides whether a unit is inside a hotspot.
- ``local_distance_m`` uses the WGS84 radii of curvature at the pair's mean latitude:
  within 1 cm of the ellipsoidal distance up to a few kilometres. Point-hotspot radii are
  measured with it.
- ``LocalProjection`` is equirectangular about its origin, with the WGS84 radii there. It
  is affine in (lon, lat), so a GeoJSON polygon (straight edges in lon/lat, RFC 7946)
  contains exactly the same points after projection. Metric error grows with the latitude
  offset from the origin: east-west scale is off by about ``tan(lat0) * dlat`` (dlat in
  radians), north-south by far less. At London that is 0.02 % per km north or south of
  the origin: a 150 m distance 20 km from the origin is off by at most 0.6 m, and by
  under 3 cm within 1 km of it.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
import shapely.affinity
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius
WGS84_A = 6_378_137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
GEOMETRY_TYPES = ("Polygon", "MultiPolygon", "Point")
_CIRCLE_SEGMENTS = 8  # per quarter circle, for the search circles of point areas


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the great-circle distance in metres between two points (degrees)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def haversine_m_array(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> FloatArray:
    """Return great-circle distances in metres, element-wise with numpy broadcasting."""
    p1, p2 = np.radians(np.asarray(lat1, float)), np.radians(np.asarray(lat2, float))
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a))), float)


def radii_of_curvature(lat: Any) -> tuple[FloatArray, FloatArray]:
    """Return the WGS84 meridional and prime-vertical radii (metres) at latitudes (degrees)."""
    s2 = np.sin(np.radians(np.asarray(lat, float))) ** 2
    w = np.sqrt(1.0 - WGS84_E2 * s2)
    return WGS84_A * (1.0 - WGS84_E2) / w**3, WGS84_A / w


def _wrap_lon(dlon: FloatArray) -> FloatArray:
    """Bring longitude differences into [-180, 180) so the antimeridian does not tear."""
    return np.asarray((dlon + 180.0) % 360.0 - 180.0, float)


def local_distance_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> FloatArray:
    """Return ellipsoidal distances in metres for nearby points, element-wise (see module)."""
    la1, la2 = np.asarray(lat1, float), np.asarray(lat2, float)
    mid = (la1 + la2) / 2.0
    m, n = radii_of_curvature(mid)
    dy = m * np.radians(la2 - la1)
    dx = n * np.cos(np.radians(mid)) * np.radians(_wrap_lon(np.asarray(lon2, float) - lon1))
    return np.asarray(np.hypot(dx, dy), float)


class LocalProjection:
    """Equirectangular projection to metres (x east, y north) about an origin; see module."""

    __slots__ = ("_kx", "_ky", "lat0", "lon0")

    def __init__(self, lat0: float, lon0: float) -> None:
        if not (-89.0 <= lat0 <= 89.0 and -180.0 <= lon0 <= 180.0):
            raise ValueError(f"projection origin ({lat0}, {lon0}) is out of range or at a pole")
        self.lat0 = float(lat0)
        self.lon0 = float(lon0)
        m0, n0 = radii_of_curvature(self.lat0)
        self._ky = float(m0) * math.pi / 180.0  # metres per degree of latitude
        self._kx = float(n0) * math.cos(math.radians(self.lat0)) * math.pi / 180.0

    def __repr__(self) -> str:
        return f"LocalProjection({self.lat0!r}, {self.lon0!r})"

    def to_xy(self, lats: Any, lons: Any) -> tuple[FloatArray, FloatArray]:
        """Project latitudes and longitudes (degrees) to metres from the origin."""
        x = self._kx * _wrap_lon(np.asarray(lons, float) - self.lon0)
        y = self._ky * (np.asarray(lats, float) - self.lat0)
        return x, y

    def to_latlon(self, x: Any, y: Any) -> tuple[FloatArray, FloatArray]:
        """Return the latitudes and longitudes (degrees) of projected points."""
        lats = self.lat0 + np.asarray(y, float) / self._ky
        lons = _wrap_lon(self.lon0 + np.asarray(x, float) / self._kx)
        return np.asarray(lats, float), lons

    def scale_at(self, lat: float) -> tuple[float, float]:
        """Return projected metres per true metre (east, north) at a latitude."""
        m, n = radii_of_curvature(lat)
        true_east = float(n) * math.cos(math.radians(lat)) * math.pi / 180.0
        return self._kx / true_east, self._ky / (float(m) * math.pi / 180.0)

    def project(self, geometry: BaseGeometry) -> BaseGeometry:
        """Return a lon/lat shapely geometry in projected metres."""

        def forward(coords: FloatArray) -> FloatArray:
            x, y = self.to_xy(coords[:, 1], coords[:, 0])
            # A vertex on +180 stays east: wrapped to -180 it would fold a polygon touching
            # both edges of the map (a band from -180 to 180) onto a line.
            east = np.asarray(coords[:, 0], float) - self.lon0 == 180.0
            x = np.where(east, -x, x)
            return np.column_stack((x, y))

        return shapely.transform(geometry, forward)


class GeometryError(ValueError):
    """A GeoJSON geometry that cannot be used, with the reason in words."""


_VALIDITY = re.compile(r"^(?P<what>.*?)\[(?P<x>\S+) (?P<y>\S+)\]$")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _position(raw: Any, where: str) -> tuple[float, float]:
    if not isinstance(raw, list) or len(raw) not in (2, 3) or not all(map(_number, raw)):
        raise GeometryError(f"{where}: {raw!r} is not a position [longitude, latitude]")
    lon, lat = float(raw[0]), float(raw[1])
    if not -180.0 <= lon <= 180.0:
        raise GeometryError(
            f"{where}: longitude {lon} is outside -180..180 (positions are [lon, lat])"
        )
    if not -90.0 <= lat <= 90.0:
        raise GeometryError(
            f"{where}: latitude {lat} is outside -90..90 (positions are [lon, lat])"
        )
    return lon, lat


def _ring(raw: Any, where: str) -> list[tuple[float, float]]:
    if not isinstance(raw, list):
        raise GeometryError(f"{where} must be a list of positions, not {raw!r}")
    if len(raw) < 4:
        raise GeometryError(
            f"{where} has {len(raw)} positions; a ring needs at least 4 "
            "(three corners and the first repeated)"
        )
    ring = [_position(p, f"{where} position {i}") for i, p in enumerate(raw)]
    if ring[0] != ring[-1]:
        raise GeometryError(f"{where} is not closed: its last position must repeat the first")
    return ring


def _polygon(raw: Any, where: str) -> Polygon | MultiPolygon:
    if not isinstance(raw, list) or not raw:
        raise GeometryError(f"{where}coordinates must be a non-empty list of rings")
    rings = [
        _ring(r, f"{where}{'exterior ring' if i == 0 else f'hole {i}'}") for i, r in enumerate(raw)
    ]
    if any(_crosses_antimeridian(r) for r in rings):
        return _split_at_antimeridian(rings, where)
    return Polygon(rings[0], rings[1:])


def _crosses_antimeridian(ring: Sequence[tuple[float, float]]) -> bool:
    """Tell whether an edge goes the short way across ±180 (a jump of over 180° of longitude).

    An edge from exactly -180 to exactly 180 (or back) is the map's full width, as drawn
    (a band around the Earth), not a crossing.
    """
    for (lon1, _), (lon2, _) in itertools.pairwise(ring):
        if abs(lon2 - lon1) > 180.0 and {lon1, lon2} != {-180.0, 180.0}:
            return True
    return False


def _unwrapped(ring: Sequence[tuple[float, float]], near: float) -> list[tuple[float, float]]:
    """Return the ring with longitudes shifted by 360s so no edge jumps more than 180°."""
    first = ring[0][0] + 360.0 * round((near - ring[0][0]) / 360.0)
    out = [(first, ring[0][1])]
    for (lon1, _), (lon2, lat2) in itertools.pairwise(ring):
        step = lon2 - lon1
        step -= 360.0 * round(step / 360.0) if abs(step) > 180.0 else 0.0
        out.append((out[-1][0] + step, lat2))
    return out


def _split_at_antimeridian(rings: Sequence[Sequence[tuple[float, float]]], where: str
                           ) -> Polygon | MultiPolygon:
    """Return a polygon that crosses ±180 as its parts on either side (RFC 7946 3.1.9)."""
    outer = _unwrapped(rings[0], rings[0][0][0])
    if abs(outer[-1][0] - outer[0][0]) > 1e-9:
        raise GeometryError(f"{where}exterior ring goes round a pole: split it into polygons "
                            "that do not")
    holes = [_unwrapped(h, outer[0][0]) for h in rings[1:]]
    whole = Polygon(outer, holes)
    if not whole.is_valid:
        raise GeometryError(_explain_invalid(whole, f"{where}polygon across ±180".strip()))
    parts: list[Polygon] = []
    for shift in (-360.0, 0.0, 360.0):
        piece = whole.intersection(shapely.box(-180.0 - shift, -90.0, 180.0 - shift, 90.0))
        piece = shapely.affinity.translate(piece, xoff=shift) if shift else piece
        parts.extend(g for g in getattr(piece, "geoms", [piece])
                     if isinstance(g, Polygon) and not g.is_empty and g.area > 0)
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _explain_invalid(geometry: BaseGeometry, what: str, hint: str = "") -> str:
    reason = str(shapely.is_valid_reason(geometry))
    match = _VALIDITY.match(reason)
    if match is None:
        return f"{what} is not valid: {reason}{hint}"
    where = f"lon {float(match['x']):.6f}, lat {float(match['y']):.6f}"
    return f"{what} is not valid: {match['what'].lower()} near {where}{hint}"


def parse_geometry(raw: Any) -> BaseGeometry:
    """Build a shapely geometry (lon/lat) from a GeoJSON Polygon, MultiPolygon or Point."""
    if raw is None:
        raise GeometryError(
            "missing geometry (use a Polygon, MultiPolygon, or Point with radius_m)"
        )
    if not isinstance(raw, dict) or "coordinates" not in raw:
        raise GeometryError("geometry must be an object with `type` and `coordinates`")
    kind, coords = raw.get("type"), raw["coordinates"]
    geometry: BaseGeometry
    hint = ""
    if kind == "Point":
        return Point(_position(coords, "point"))
    if kind == "Polygon":
        geometry, what = _polygon(coords, ""), "polygon"
    elif kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise GeometryError("MultiPolygon coordinates must be a non-empty list of polygons")
        parts: list[Polygon] = []
        for i, p in enumerate(coords):
            built = _polygon(p, f"polygon {i}: ")
            parts.extend(built.geoms if isinstance(built, MultiPolygon) else [built])
        for i, part in enumerate(parts):
            if not part.is_valid:
                raise GeometryError(_explain_invalid(part, f"polygon {i}"))
        geometry, what = MultiPolygon(parts), "multipolygon"
        hint = " (its polygons must not overlap or share an edge)"
    else:
        raise GeometryError(
            f"geometry type {kind!r} is not supported (use Polygon, MultiPolygon, "
            "or Point with radius_m)"
        )
    if not geometry.is_valid:
        raise GeometryError(_explain_invalid(geometry, what, hint))
    return geometry


class AreaIndex:
    """Polygons and circles (a Point with a radius in metres) with vectorised containment.

    One STRtree in a LocalProjection about the middle of all areas finds candidates in one
    call; polygons are exact there (the projection is affine in lon/lat) and circles are
    then kept by their true distance (``local_distance_m``), so the projection's scale
    error never moves a circle's edge.
    """

    def __init__(self, areas: Sequence[tuple[BaseGeometry, float | None]]) -> None:
        self._radius = np.array([np.nan if r is None else r for _, r in areas], float)
        self._lat = np.array([np.nan if r is None else g.y for g, r in areas], float)
        self._lon = np.array([np.nan if r is None else g.x for g, r in areas], float)
        bounds = np.array([g.bounds for g, _ in areas] or [(0.0, 0.0, 0.0, 0.0)], float)
        self.projection = LocalProjection(
            (bounds[:, 1].min() + bounds[:, 3].max()) / 2,
            (bounds[:, 0].min() + bounds[:, 2].max()) / 2,
        )
        self._tree = shapely.STRtree([self._search_shape(g, r) for g, r in areas])
        # Polygons for distances, each in its own projection so error stays small far away.
        self._local: dict[int, tuple[LocalProjection, BaseGeometry]] = {}
        for i, (geometry, radius) in enumerate(areas):
            if radius is None:
                near = LocalProjection(geometry.centroid.y, geometry.centroid.x)
                self._local[i] = (near, near.project(geometry))

    def __len__(self) -> int:
        return int(self._radius.size)

    def _search_shape(self, geometry: BaseGeometry, radius: float | None) -> BaseGeometry:
        if radius is None:
            return self.projection.project(geometry)
        x, y = self.projection.to_xy(geometry.y, geometry.x)
        # A polygon circumscribing the circle under the worst-axis scale: candidates only.
        scale = max(self.projection.scale_at(geometry.y)) * 1.001
        outer = radius * scale / math.cos(math.pi / (4 * _CIRCLE_SEGMENTS)) + 0.01
        return Point(float(x), float(y)).buffer(outer, quad_segs=_CIRCLE_SEGMENTS)

    def containing_indices(self, lats: Any, lons: Any) -> tuple[IntArray, IntArray]:
        """Return (point index, area index) pairs with the point inside, sorted; edges count."""
        lat = np.asarray(lats, float).ravel()
        lon = np.asarray(lons, float).ravel()
        if lat.shape != lon.shape:
            raise ValueError(f"{lat.size} latitudes but {lon.size} longitudes")
        if lat.size == 0 or len(self) == 0:
            return np.empty(0, np.intp), np.empty(0, np.intp)
        x, y = self.projection.to_xy(lat, lon)
        pairs = self._tree.query(shapely.points(x, y), predicate="intersects")
        p_idx, a_idx = pairs[0].astype(np.intp), pairs[1].astype(np.intp)
        circle = ~np.isnan(self._radius[a_idx])
        if circle.any():
            pc, ac = p_idx[circle], a_idx[circle]
            keep = np.ones(p_idx.size, bool)
            keep[circle] = local_distance_m(self._lat[ac], self._lon[ac], lat[pc], lon[pc]) <= (
                self._radius[ac]
            )
            p_idx, a_idx = p_idx[keep], a_idx[keep]
        order = np.lexsort((a_idx, p_idx))
        return p_idx[order], a_idx[order]

    def distances_m(self, index: int, lats: Any, lons: Any) -> FloatArray:
        """Return metres from points to one area's edge (0 inside)."""
        lat, lon = np.asarray(lats, float), np.asarray(lons, float)
        if index not in self._local:
            d = local_distance_m(self._lat[index], self._lon[index], lat, lon)
            return np.asarray(np.maximum(d - self._radius[index], 0.0), float)
        projection, shape = self._local[index]
        x, y = projection.to_xy(lat, lon)
        return np.asarray(shapely.distance(shape, shapely.points(x, y)), float)
