"""Which hotspots contain each of many points, in numpy alone: a grid of candidates, then exact.

The coverage tick classifies every fresh position (10,000 a tick at force scale). Through
shapely that was point objects, an STRtree query and a lexsort per tick; here it is array
arithmetic: each area is listed in the grid cells its bounding box touches; a point's cell
gives its candidates; circles are kept by their true distance (``local_distance_m``, as
``geo.AreaIndex``), polygons by the even-odd crossing rule over all their rings' edges in
the same local projection, a point on an edge counting as inside. The answers equal
``geo.AreaIndex.containing_indices`` (the unit tests hold them together).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from shapely.geometry.base import BaseGeometry

from patrolwatch.core.geo import FloatArray, IntArray, LocalProjection, local_distance_m

MAX_CELLS = 1 << 22  # a grid over a whole country stays within ~50 MB of cell offsets
EDGE_EPS_M = 1e-6  # a point this close to an edge is on it (shapely: intersects)


def _rings(geometry: BaseGeometry) -> list[FloatArray]:
    """Return every ring (exterior and holes) of a Polygon or MultiPolygon, as (n, 2) arrays."""
    parts = getattr(geometry, "geoms", None) or [geometry]
    out: list[FloatArray] = []
    for part in parts:
        out.append(np.asarray(part.exterior.coords, float)[:, :2])
        out.extend(np.asarray(ring.coords, float)[:, :2] for ring in part.interiors)
    return out


class GridIndex:
    """Areas (polygons, or points with a radius in metres) by grid cell, for many points at once."""

    def __init__(self, areas: Sequence[tuple[BaseGeometry, float | None]]) -> None:
        n = len(areas)
        self._radius = np.array([np.nan if r is None else r for _, r in areas], float)
        self._lat = np.array([np.nan if r is None else g.y for g, r in areas], float)
        self._lon = np.array([np.nan if r is None else g.x for g, r in areas], float)
        bounds = np.array([g.bounds for g, _ in areas] or [(0.0, 0.0, 0.0, 0.0)], float)
        # The same projection as geo.AreaIndex: about the middle of every area.
        self.projection = LocalProjection((bounds[:, 1].min() + bounds[:, 3].max()) / 2,
                                          (bounds[:, 0].min() + bounds[:, 2].max()) / 2)
        boxes = np.empty((n, 4), float)  # x0, y0, x1, y1 in metres
        edges: list[FloatArray] = []
        counts = np.zeros(n, np.intp)
        for i, (geometry, radius) in enumerate(areas):
            if radius is None:
                shape = self.projection.project(geometry)
                boxes[i] = shape.bounds
                rings = [np.column_stack([r[:-1], r[1:]]) for r in _rings(shape)]
                ring_edges = np.concatenate(rings) if rings else np.empty((0, 4))
                edges.append(ring_edges)
                counts[i] = len(ring_edges)
            else:
                x, y = self.projection.to_xy(geometry.y, geometry.x)
                # Circumscribe the circle under the worst-axis scale: candidates only.
                reach = radius * max(self.projection.scale_at(geometry.y)) * 1.001 + 0.01
                boxes[i] = (float(x) - reach, float(y) - reach, float(x) + reach, float(y) + reach)
        self._edges = np.concatenate(edges) if edges else np.empty((0, 4))
        self._edge_count = counts
        self._edge_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
        self._grid(boxes)

    def _grid(self, boxes: FloatArray) -> None:
        """List each area in every cell its box touches (CSR: cell -> sorted area indices)."""
        n = len(boxes)
        if n == 0:
            self._origin, self._cell, self._shape = (0.0, 0.0), 1.0, (1, 1)
            self._cell_start = np.zeros(2, np.intp)
            self._cell_areas = np.empty(0, np.intp)
            return
        x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
        width = max(boxes[:, 2].max() - x0, 1.0)
        height = max(boxes[:, 3].max() - y0, 1.0)
        sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        cell = max(float(np.median(sizes)), math.sqrt(width * height / MAX_CELLS), 1.0)
        nx, ny = int(width // cell) + 1, int(height // cell) + 1
        self._origin, self._cell, self._shape = (float(x0), float(y0)), cell, (nx, ny)
        ix0 = ((boxes[:, 0] - x0) // cell).astype(np.intp)
        iy0 = ((boxes[:, 1] - y0) // cell).astype(np.intp)
        ix1 = np.minimum(((boxes[:, 2] - x0) // cell).astype(np.intp), nx - 1)
        iy1 = np.minimum(((boxes[:, 3] - y0) // cell).astype(np.intp), ny - 1)
        cells: list[IntArray] = []
        owners: list[IntArray] = []
        for i in range(n):
            gx, gy = np.meshgrid(np.arange(ix0[i], ix1[i] + 1), np.arange(iy0[i], iy1[i] + 1))
            ids = (gy * nx + gx).ravel()
            cells.append(ids)
            owners.append(np.full(ids.size, i, np.intp))
        cell_of = np.concatenate(cells)
        area_of = np.concatenate(owners)
        order = np.lexsort((area_of, cell_of))
        self._cell_areas = area_of[order]
        self._cell_start = np.searchsorted(cell_of[order], np.arange(nx * ny + 1)).astype(np.intp)

    def containing_indices(self, lats: Any, lons: Any) -> tuple[IntArray, IntArray]:
        """Return (point index, area index) pairs with the point inside, sorted; edges count."""
        lat = np.asarray(lats, float).ravel()
        lon = np.asarray(lons, float).ravel()
        if lat.shape != lon.shape:
            raise ValueError(f"{lat.size} latitudes but {lon.size} longitudes")
        empty = np.empty(0, np.intp)
        if lat.size == 0 or self._radius.size == 0:
            return empty, empty
        x, y = self.projection.to_xy(lat, lon)
        nx, ny = self._shape
        fx = (x - self._origin[0]) / self._cell
        fy = (y - self._origin[1]) / self._cell
        inside = (fx >= 0) & (fy >= 0) & (fx < nx) & (fy < ny)
        points = np.flatnonzero(inside)
        cell = fy[points].astype(np.intp) * nx + fx[points].astype(np.intp)
        start = self._cell_start[cell]
        count = self._cell_start[cell + 1] - start
        has = count > 0
        points, start, count = points[has], start[has], count[has]
        if points.size == 0:
            return empty, empty
        # Every (point, candidate) pair, in point order then area order.
        p_idx = np.repeat(points, count)
        offsets = np.arange(p_idx.size) - np.repeat(np.cumsum(count) - count, count)
        a_idx = self._cell_areas[np.repeat(start, count) + offsets]
        keep = np.zeros(p_idx.size, bool)
        circle = ~np.isnan(self._radius[a_idx])
        if circle.any():
            pc, ac = p_idx[circle], a_idx[circle]
            keep[circle] = local_distance_m(self._lat[ac], self._lon[ac], lat[pc], lon[pc]) <= (
                self._radius[ac])
        polygon = np.flatnonzero(~circle)
        if polygon.size:
            keep[polygon] = self._in_polygons(x[p_idx[polygon]], y[p_idx[polygon]],
                                              a_idx[polygon])
        return p_idx[keep], a_idx[keep]

    def _in_polygons(self, px: FloatArray, py: FloatArray, area: IntArray) -> Any:
        """Tell for each (point, polygon) pair whether the point is inside or on an edge."""
        counts = self._edge_count[area]
        pair = np.repeat(np.arange(area.size), counts)
        first = np.repeat(self._edge_start[area], counts)
        edge = self._edges[first + np.arange(pair.size) - np.repeat(np.cumsum(counts) - counts,
                                                                        counts)]
        x1, y1, x2, y2 = edge[:, 0], edge[:, 1], edge[:, 2], edge[:, 3]
        qx, qy = px[pair], py[pair]
        # Even-odd rule: a horizontal ray to the right crosses this edge.
        spans = (y1 > qy) != (y2 > qy)
        with np.errstate(divide="ignore", invalid="ignore"):
            at_x = x1 + (qy - y1) * (x2 - x1) / (y2 - y1)
        crosses = spans & (qx < at_x)
        odd = np.bincount(pair[crosses], minlength=area.size) % 2 == 1
        # On an edge: within EDGE_EPS_M of the segment.
        dx, dy = x2 - x1, y2 - y1
        length2 = dx * dx + dy * dy
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.clip(((qx - x1) * dx + (qy - y1) * dy) / length2, 0.0, 1.0)
        t = np.where(length2 > 0, t, 0.0)
        near = (qx - x1 - t * dx) ** 2 + (qy - y1 - t * dy) ** 2 <= EDGE_EPS_M ** 2
        on_edge = np.bincount(pair[near], minlength=area.size) > 0
        return odd | on_edge
