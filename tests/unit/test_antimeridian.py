"""Polygons at the antimeridian: touching ±180, and a box across it (core.geo, no server).

A lat 50-53 band from -180 to 180 found none of 32 London units (the +180 edge folded onto
-180 in the projection); a 2° box across the antimeridian found all of them (its edges were
read the long way round, across Greenwich).
"""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import MultiPolygon

from patrolwatch.archive.presence import polygon_area
from patrolwatch.core.geo import AreaIndex, GeometryError, parse_geometry

LONDON = [(51.5074 + i * 0.001, -0.1278 + i * 0.002) for i in range(32)]
BAND = {"type": "Polygon", "coordinates": [[[-180, 50], [180, 50], [180, 53], [-180, 53],
                                            [-180, 50]]]}
ACROSS = {"type": "Polygon", "coordinates": [[[179, 50], [-179, 50], [-179, 53], [179, 53],
                                              [179, 50]]]}


def _inside(geometry: dict[str, object], points: list[tuple[float, float]]) -> int:
    index = AreaIndex([(parse_geometry(geometry), None)])
    lats, lons = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    return len(set(index.containing_indices(lats, lons)[0].tolist()))


def test_a_band_touching_both_edges_holds_every_london_unit() -> None:
    assert _inside(BAND, LONDON) == len(LONDON)


def test_a_box_across_the_antimeridian_holds_none_of_london() -> None:
    assert _inside(ACROSS, LONDON) == 0


@pytest.mark.parametrize(("lat", "lon", "inside"), [
    (51.0, 179.5, True), (51.0, -179.5, True), (51.0, 180.0, True), (51.0, -180.0, True),
    (51.0, 178.5, False), (51.0, -178.5, False), (51.0, 0.0, False), (54.0, 179.5, False)])
def test_the_box_across_holds_what_lies_either_side_of_180(lat: float, lon: float,
                                                           inside: bool) -> None:
    assert (_inside(ACROSS, [(lat, lon)]) == 1) is inside


def test_the_box_across_becomes_two_parts_of_two_degrees() -> None:
    shape = parse_geometry(ACROSS)
    assert isinstance(shape, MultiPolygon) and len(shape.geoms) == 2
    assert shape.area == pytest.approx(2 * 3)
    assert shape.bounds == (-180.0, 50.0, 180.0, 53.0)


def test_the_presence_route_reads_the_box_across_the_same_way() -> None:
    area = polygon_area('{"type": "Polygon", "coordinates": [[[179, 50], [-179, 50], '
                        '[-179, 53], [179, 53], [179, 50]]]}')
    assert isinstance(area.geometry, MultiPolygon)


def test_a_ring_round_a_pole_is_refused_with_a_reason() -> None:
    polar = {"type": "Polygon", "coordinates": [[[0, 80], [120, 80], [-120, 80], [0, 80]]]}
    with pytest.raises(GeometryError, match="pole"):
        parse_geometry(polar)
