"""Geometry: distances, the local projection, and point-in-hotspot containment.

The oracle is an independent ellipsoidal geodesic (Vincenty's inverse formula on WGS84),
checked against the worked example in Vincenty's 1975 paper.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from patrolwatch.core.geo import (
    EARTH_RADIUS_M,
    LocalProjection,
    haversine_m,
    haversine_m_array,
    local_distance_m,
)
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet

LONDON = (51.5072, -0.1276)
UTC_ZONE = ZoneInfo("UTC")


def vincenty_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the WGS84 geodesic distance (Vincenty 1975, inverse), the tests' oracle."""
    a, f = 6_378_137.0, 1 / 298.257223563
    b = a * (1 - f)
    big_l = math.radians(lon2 - lon1)
    u1 = math.atan((1 - f) * math.tan(math.radians(lat1)))
    u2 = math.atan((1 - f) * math.tan(math.radians(lat2)))
    su1, cu1, su2, cu2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
    lam = big_l
    for _ in range(500):
        sl, cl = math.sin(lam), math.cos(lam)
        ss = math.hypot(cu2 * sl, cu1 * su2 - su1 * cu2 * cl)
        if ss == 0:
            return 0.0
        cs = su1 * su2 + cu1 * cu2 * cl
        sigma = math.atan2(ss, cs)
        sa = cu1 * cu2 * sl / ss
        c2a = 1 - sa * sa
        c2sm = cs - 2 * su1 * su2 / c2a if c2a else 0.0
        c = f / 16 * c2a * (4 + f * (4 - 3 * c2a))
        previous = lam
        lam = big_l + (1 - c) * f * sa * (
            sigma + c * ss * (c2sm + c * cs * (-1 + 2 * c2sm * c2sm))
        )
        if abs(lam - previous) < 1e-13:
            break
    u_sq = c2a * (a * a - b * b) / (b * b)
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    d_sigma = big_b * ss * (c2sm + big_b / 4 * (cs * (-1 + 2 * c2sm * c2sm) - big_b / 6 * c2sm
                                                 * (-3 + 4 * ss * ss) * (-3 + 4 * c2sm * c2sm)))
    return b * big_a * (sigma - d_sigma)


def at_distance(lat: float, lon: float, bearing_deg: float, metres: float) -> tuple[float, float]:
    """Return the point whose geodesic distance (oracle) on a bearing is ``metres``."""

    def along(t: float) -> tuple[float, float]:  # spherical destination, only a path to search
        p1, th, dr = math.radians(lat), math.radians(bearing_deg), t / EARTH_RADIUS_M
        p2 = math.asin(math.sin(p1) * math.cos(dr) + math.cos(p1) * math.sin(dr) * math.cos(th))
        l2 = math.radians(lon) + math.atan2(
            math.sin(th) * math.sin(dr) * math.cos(p1), math.cos(dr) - math.sin(p1) * math.sin(p2)
        )
        return math.degrees(p2), math.degrees(l2)

    lo, hi = metres * 0.98, metres * 1.02
    for _ in range(60):
        mid = (lo + hi) / 2
        if vincenty_m(lat, lon, *along(mid)) < metres:
            lo = mid
        else:
            hi = mid
    return along((lo + hi) / 2)


def dms(d: int, m: int, s: float) -> float:
    return math.copysign(abs(d) + m / 60 + s / 3600, d)


def test_oracle_reproduces_vincentys_worked_example() -> None:
    # Flinders Peak to Buninyong, Vincenty (1975): 54 972.271 m.
    flinders = (dms(-37, 57, 3.72030), dms(144, 25, 29.52440))
    buninyong = (dms(-37, 39, 10.15610), dms(143, 55, 35.38390))
    assert vincenty_m(*flinders, *buninyong) == pytest.approx(54_972.271, abs=0.001)


# ---------------------------------------------------------------- haversine


@pytest.mark.parametrize(
    ("points", "metres"),
    [
        ((51.5, -0.1, 51.5, -0.1), 0.0),
        ((0.0, 0.0, 0.0, 1.0), EARTH_RADIUS_M * math.pi / 180),  # 111 195.08 m
        ((10.0, 20.0, 11.0, 20.0), EARTH_RADIUS_M * math.pi / 180),
        ((0.0, 0.0, 90.0, 0.0), EARTH_RADIUS_M * math.pi / 2),
        ((0.0, 0.0, 0.0, 180.0), EARTH_RADIUS_M * math.pi),
        ((60.0, 0.0, 60.0, 180.0), EARTH_RADIUS_M * math.pi / 3),  # over the pole
        ((0.0, 179.5, 0.0, -179.5), EARTH_RADIUS_M * math.pi / 180),  # across the antimeridian
    ],
)
def test_haversine_known_distances(points: tuple[float, ...], metres: float) -> None:
    assert haversine_m(*points) == pytest.approx(metres, rel=1e-12, abs=1e-6)
    assert float(haversine_m_array(*points)) == pytest.approx(metres, rel=1e-12, abs=1e-6)


def test_haversine_london_to_paris_is_within_half_a_percent_of_the_geodesic() -> None:
    trafalgar, notre_dame = (51.50809, -0.12804), (48.85296, 2.34990)
    geodesic = vincenty_m(*trafalgar, *notre_dame)
    assert geodesic == pytest.approx(343_900, abs=1_500)
    assert haversine_m(*trafalgar, *notre_dame) == pytest.approx(geodesic, rel=0.005)


lat_st = st.floats(-80, 80)
lon_st = st.floats(-180, 180)


@given(lat_st, lon_st, st.floats(-2, 2), st.floats(-2, 2))
def test_haversine_is_within_0_6_percent_of_the_ellipsoid(
    lat: float, lon: float, dlat: float, dlon: float
) -> None:
    lat2, lon2 = max(-89.0, min(89.0, lat + dlat)), lon + dlon
    geodesic = vincenty_m(lat, lon, lat2, lon2)
    # Worst case: north-south at the equator, where the meridian's radius is 0.56 % short.
    assert haversine_m(lat, lon, lat2, lon2) == pytest.approx(geodesic, rel=0.006, abs=1e-6)


@given(st.lists(st.tuples(lat_st, lon_st, lat_st, lon_st), min_size=1, max_size=20))
def test_haversine_array_matches_scalar(rows: list[tuple[float, float, float, float]]) -> None:
    cols = np.array(rows).T
    expected = [haversine_m(*row) for row in rows]
    assert haversine_m_array(*cols) == pytest.approx(expected, rel=1e-9, abs=1e-6)
    # Broadcasting: one origin against many points.
    many = haversine_m_array(rows[0][0], rows[0][1], cols[2], cols[3])
    assert many == pytest.approx([haversine_m(rows[0][0], rows[0][1], r[2], r[3]) for r in rows],
                                 rel=1e-9, abs=1e-6)


# ---------------------------------------------------------------- local metric


@given(st.floats(-70, 70), lon_st, st.floats(0, 360), st.floats(0, 2_000))
def test_local_distance_is_within_a_centimetre_up_to_two_km(
    lat: float, lon: float, bearing: float, metres: float
) -> None:
    lat2, lon2 = at_distance(lat, lon, bearing, metres)
    assert float(local_distance_m(lat, lon, lat2, lon2)) == pytest.approx(metres, abs=0.01)


@given(st.floats(-60, 60), lon_st, st.floats(-0.5, 0.5), st.floats(-0.5, 0.5))
def test_projection_round_trips(lat0: float, lon0: float, dlat: float, dlon: float) -> None:
    projection = LocalProjection(lat0, lon0)
    lat, lon = lat0 + dlat, lon0 + dlon
    x, y = projection.to_xy(lat, lon)
    back_lat, back_lon = projection.to_latlon(x, y)
    assert float(back_lat) == pytest.approx(lat, abs=1e-9)
    wrapped = (float(back_lon) - lon + 180) % 360 - 180
    assert wrapped == pytest.approx(0, abs=1e-9)


@settings(max_examples=200)
@given(
    st.floats(-20_000, 20_000), st.floats(-20_000, 20_000), st.floats(0, 360),
    st.floats(1, 150),
)
def test_projection_error_is_within_the_documented_bound(
    east: float, north: float, bearing: float, metres: float
) -> None:
    # Documented: 150 m measured up to 20 km from the origin is off by at most 0.6 m, and
    # by under 3 cm within 1 km of it.
    projection = LocalProjection(*LONDON)
    lat, lon = (float(v) for v in projection.to_latlon(east, north))
    lat2, lon2 = at_distance(lat, lon, bearing, metres)
    x1, y1 = projection.to_xy(lat, lon)
    x2, y2 = projection.to_xy(lat2, lon2)
    error = abs(math.hypot(float(x2 - x1), float(y2 - y1)) - metres)
    assert error <= 0.6 * metres / 150
    if math.hypot(east, north) <= 1_000:
        assert error <= 0.03 * metres / 150


def test_projection_scale_is_exact_at_the_origin_latitude() -> None:
    projection = LocalProjection(*LONDON)
    assert projection.scale_at(LONDON[0]) == pytest.approx((1.0, 1.0), abs=1e-12)
    x, y = projection.to_xy(*LONDON)
    assert (float(x), float(y)) == (0.0, 0.0)


@pytest.mark.parametrize("origin", [(90.0, 0.0), (-89.5, 0.0), (51.5, 181.0)])
def test_projection_refuses_a_pole_or_a_bad_origin(origin: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="out of range or at a pole"):
        LocalProjection(*origin)


# ---------------------------------------------------------------- containment


def feature(ident: str, geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {"id": ident, "name": ident, "category": "other", "priority": 1, **props},
    }


def point(ident: str, lat: float, lon: float, radius: float) -> dict[str, Any]:
    return feature(ident, {"type": "Point", "coordinates": [lon, lat]}, radius_m=radius)


def box(lat: float, lon: float, half_m: float) -> list[list[float]]:
    projection = LocalProjection(lat, lon)
    lats, lons = projection.to_latlon([-half_m, half_m, half_m, -half_m, -half_m],
                                      [-half_m, -half_m, half_m, half_m, -half_m])
    return [[float(x), float(y)] for x, y in zip(lons, lats, strict=True)]


def polygon(ident: str, ring: list[list[float]]) -> dict[str, Any]:
    return feature(ident, {"type": "Polygon", "coordinates": [ring]})


def build(*features: dict[str, Any]) -> HotspotSet:
    return HotspotSet.from_features(list(features), CoverageDefaults(), UTC_ZONE)


# Points far apart in latitude, so the set's projection is far from some of them.
CENTRES = [(51.5072, -0.1276), (51.30, -0.40), (51.69, 0.20), (55.95, -3.19)]


@pytest.mark.parametrize("centre", CENTRES)
@pytest.mark.parametrize("bearing", [0, 45, 90, 135, 180, 225, 270, 315, 17.5])
def test_point_hotspot_edge(centre: tuple[float, float], bearing: float) -> None:
    hotspots = build(*(point(f"p{i}", *c, 150) for i, c in enumerate(CENTRES)))
    ident = f"p{CENTRES.index(centre)}"
    for metres, inside in [(0, True), (149, True), (149.95, True), (150.05, False),
                           (151, False)]:
        lat, lon = at_distance(*centre, bearing, metres)
        assert hotspots.containing(lat, lon) == ((ident,) if inside else ())
        assert hotspots.nearest_distance_m(ident, lat, lon) == pytest.approx(
            max(0.0, metres - 150), abs=0.01
        )


def test_polygon_inside_outside_and_edge() -> None:
    ring = [[-0.13, 51.51], [-0.12, 51.51], [-0.12, 51.52], [-0.13, 51.52], [-0.13, 51.51]]
    hotspots = build(polygon("square", ring))
    assert hotspots.containing(51.515, -0.125) == ("square",)
    assert hotspots.containing(51.5201, -0.125) == ()
    assert hotspots.containing(51.515, -0.1301) == ()
    assert hotspots.containing(51.52, -0.125) == ("square",)  # the edge counts as inside
    assert hotspots.containing(51.51, -0.13) == ("square",)  # and so does a corner
    assert hotspots.nearest_distance_m("square", 51.515, -0.125) == 0.0
    north = at_distance(51.52, -0.125, 0, 100)
    assert hotspots.nearest_distance_m("square", *north) == pytest.approx(100, abs=0.05)


def test_concave_polygon_excludes_its_notch() -> None:
    # An L-shape (a bent street): the inside corner of the L is outside.
    ring = [[0.0, 51.0], [0.002, 51.0], [0.002, 51.001], [0.001, 51.001], [0.001, 51.002],
            [0.0, 51.002], [0.0, 51.0]]
    hotspots = build(polygon("ell", ring))
    assert hotspots.containing(51.0015, 0.0005) == ("ell",)
    assert hotspots.containing(51.0015, 0.0015) == ()
    centroid = hotspots.by_id["ell"].centroid
    assert hotspots.containing(*centroid) == ("ell",)


def test_multipolygon_two_ends_of_a_street() -> None:
    west, east = box(51.5, -0.10, 60), box(51.5, -0.09, 60)
    hotspots = build(feature("ends", {"type": "MultiPolygon", "coordinates": [[west], [east]]}))
    assert hotspots.containing(51.5, -0.10) == ("ends",)
    assert hotspots.containing(51.5, -0.09) == ("ends",)
    assert hotspots.containing(51.5, -0.095) == ()  # between the two ends
    assert hotspots.containing(*hotspots.by_id["ends"].centroid) == ("ends",)
    assert hotspots.nearest_distance_m("ends", 51.5, -0.095) > 200


def test_overlapping_hotspots_are_all_returned_in_file_order() -> None:
    hotspots = build(point("station", 51.4626, -0.1146, 150),
                     polygon("square", box(51.4613, -0.1158, 60)),
                     point("far", 51.6, -0.1, 150))
    assert hotspots.containing(51.4616, -0.1152) == ("station", "square")
    assert hotspots.containing_many([51.4616, 51.6, 0.0], [-0.1152, -0.1, 0.0]) == [
        ("station", "square"), ("far",), (),
    ]


def test_containing_many_edge_inputs() -> None:
    hotspots = build(point("p", 51.5, -0.1, 150))
    assert hotspots.containing_many(np.array([]), np.array([])) == []
    assert hotspots.containing_many([np.nan, 51.5], [-0.1, -0.1]) == [(), ("p",)]
    with pytest.raises(ValueError, match="2 latitudes but 1 longitudes"):
        hotspots.containing_many([51.5, 51.5], [-0.1])
    empty = build()
    assert len(empty) == 0
    assert empty.containing_many([51.5, 51.6], [-0.1, -0.1]) == [(), ()]
    with pytest.raises(KeyError, match="unknown hotspot id 'nope'"):
        hotspots.nearest_distance_m("nope", 51.5, -0.1)


# ---------------------------------------------------------------- against a brute force


@cache
def random_hotspots() -> tuple[HotspotSet, list[dict[str, Any]]]:
    """Return 120 random hotspots over south-east England: polygons, multipolygons, circles."""
    rng = np.random.default_rng(20261128)
    projection = LocalProjection(51.5, -0.1)
    features: list[dict[str, Any]] = []
    for i in range(120):
        east, north = rng.uniform(-40_000, 40_000, 2)
        lat, lon = (float(v) for v in projection.to_latlon(east, north))
        kind = i % 3
        if kind == 0:
            features.append(point(f"c{i}", lat, lon, float(rng.uniform(20, 600))))
        elif kind == 1:
            local = LocalProjection(lat, lon)
            xy = rng.normal(0, 200, (8, 2))
            hull = shapely.convex_hull(shapely.multipoints(xy))
            lats, lons = local.to_latlon(*np.asarray(hull.exterior.coords).T)
            ring = [[float(x), float(y)] for x, y in zip(lons, lats, strict=True)]
            features.append(polygon(f"g{i}", ring))
        else:
            parts = [[box(lat, lon, 80)], [box(lat + 0.004, lon + 0.003, 50)]]
            features.append(feature(f"m{i}", {"type": "MultiPolygon", "coordinates": parts}))
    return build(*features), features


def brute_force(features: list[dict[str, Any]], lat: float, lon: float) -> tuple[str, ...] | None:
    """Return the ids containing a point one feature at a time; None if too near an edge."""
    found: list[str] = []
    for raw in features:
        props, geometry = raw["properties"], raw["geometry"]
        if geometry["type"] == "Point":
            c_lon, c_lat = geometry["coordinates"]
            distance = vincenty_m(c_lat, c_lon, lat, lon)
            if abs(distance - props["radius_m"]) < 0.01:
                return None  # within a centimetre of the edge: the oracle cannot decide
            inside = distance <= props["radius_m"]
        else:
            shape = shapely.geometry.shape(geometry)
            if shape.boundary.distance(Point(lon, lat)) < 1e-9:
                return None
            inside = shape.intersects(Point(lon, lat))
        if inside:
            found.append(props["id"])
    return tuple(found)


@st.composite
def probe_points(draw: st.DrawFn) -> tuple[float, float]:
    _, features = random_hotspots()
    raw = draw(st.sampled_from(features))
    coords = raw["geometry"]["coordinates"]
    while isinstance(coords[0], list):
        coords = coords[0]
    # Near a hotspot most of the time, so there are hits and edges to get wrong.
    return (coords[1] + draw(st.floats(-0.01, 0.01)), coords[0] + draw(st.floats(-0.015, 0.015)))


@settings(max_examples=60, deadline=None)
@given(st.lists(probe_points(), min_size=1, max_size=60))
def test_containing_many_equals_brute_force(points: list[tuple[float, float]]) -> None:
    hotspots, features = random_hotspots()
    lats = np.array([p[0] for p in points])
    lons = np.array([p[1] for p in points])
    result = hotspots.containing_many(lats, lons)
    assert len(result) == len(points)
    for (lat, lon), ids in zip(points, result, strict=True):
        expected = brute_force(features, lat, lon)
        if expected is not None:
            assert ids == expected
        assert hotspots.containing(lat, lon) == ids


def test_containing_many_on_a_large_batch_equals_brute_force() -> None:
    hotspots, features = random_hotspots()
    rng = np.random.default_rng(7)
    projection = LocalProjection(51.5, -0.1)
    lats, lons = projection.to_latlon(*rng.uniform(-41_000, 41_000, (2, 10_000)))
    result = hotspots.containing_many(lats, lons)
    p_idx, h_idx = hotspots.containing_indices(lats, lons)
    assert sum(map(len, result)) == p_idx.size > 0
    for i in rng.choice(10_000, 300, replace=False).tolist() + p_idx.tolist()[:300]:
        expected = brute_force(features, float(lats[i]), float(lons[i]))
        if expected is not None:
            assert result[i] == expected
    assert [hotspots.hotspots[h].id for h in h_idx[p_idx == p_idx[0]]] == list(result[p_idx[0]])


def test_a_circle_across_the_antimeridian() -> None:
    hotspots = build(point("fiji", -16.5, 179.9995, 150))
    assert hotspots.containing(-16.5, -179.9995) == ("fiji",)  # about 107 m east
    assert hotspots.containing(-16.5, -179.998) == ()
    assert hotspots.nearest_distance_m("fiji", -16.5, -179.998) == pytest.approx(
        vincenty_m(-16.5, 179.9995, -16.5, -179.998) - 150, abs=0.01
    )
