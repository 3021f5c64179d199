"""Who was here: every unit with a presence ping in an area over a period, with visit minutes.

Presence and visits are DOMAIN.md's (``patrolwatch.core.visits``): eligible status at the
ping, inside the area, accuracy within the limit; visits are chained with G and E. The
archive's unit-hour index names the unit-hours whose box meets the area's; only those and
the hours either side are read (a visit's chain never spans an unread hour: G is minutes),
and DuckDB hands back only the points in the box, each with its rank in its unit's trail,
so an outside ping that decides whether a visit goes on (E) is known without reading it.
What a query will read is counted from the index before it runs (``plan``): over the
budget it is refused at once, saying how to narrow it.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from patrolwatch.archive.reader import NearHour
from patrolwatch.archive.tiers import History
from patrolwatch.core.geo import AreaIndex, GeometryError, parse_geometry
from patrolwatch.core.model import StatusChange
from patrolwatch.core.visit_chains import chain_visits
from patrolwatch.core.visits import VisitParams, eligible_status

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


class OverBudgetError(ValueError):
    """A query that would read more than one history request may: the message says how to
    narrow it (HTTP 413)."""


@dataclass(frozen=True)
class Plan:
    """What a polygon query will read, known from the indexes before it runs."""

    want: list[tuple[str, int]]  # archived unit-hours (unit, epoch hour) to read
    archived_points: int  # points in them (from the unit-hour index)
    hot_points: int  # Redis points in the period, all units (there is no spatial index there)
    box: tuple[float, float, float, float] | None = None  # every wanted unit-hour inside it

    @property
    def points(self) -> int:
        """Return every point the query reads."""
        return self.archived_points + self.hot_points


def plan(history: History, area: Area, since: float, until: float, max_points: int) -> Plan:
    """Return the query's plan; raise OverBudgetError at once if it reads over max_points."""
    bbox = area.bbox()
    b = history.boundary()
    hot = (history.store.trail_counts_between(history.store.seen_units(), max(since, b), until)
           if until > b else 0)
    # Over even before the hours either side are counted: refused without listing them.
    lower = hot + (history.reader.points_near(since, until, bbox) if since < b else 0)
    if lower > max_points:
        raise OverBudgetError(_too_much(lower, max_points, since, until, b, hot))
    near: list[NearHour] = (history.reader.unit_hours_near(since, until, bbox)
                            if since < b else [])
    # Each unit-hour's points prorated to the part of it the period covers.
    archived = sum(n * max(0.0, min(until, (h + 1) * 3600.0) - max(since, h * 3600.0)) / 3600.0
                   for _, h, n, _ in near)
    box = ((min(b[0] for *_, b in near), min(b[1] for *_, b in near),
            max(b[2] for *_, b in near), max(b[3] for *_, b in near)) if near else None)
    found = Plan([(u, h) for u, h, _, _ in near], math.ceil(archived), hot, box)
    if found.points > max_points:
        raise OverBudgetError(_too_much(found.points, max_points, since, until, b, hot))
    return found


def _too_much(points: int, max_points: int, since: float, until: float, b: float,
              hot: int) -> str:
    """Return the refusal: how much the query would read, and how to narrow it."""
    days = (until - since) / 86_400.0
    return (f"this area over {days:.3g} days means reading {points:,} positions or more, "
            f"over the {max_points:,} one history request may read: narrow it with a "
            "shorter period (since/until), a smaller polygon, or one hotspot (hotspot=ID, "
            "answered from stored visits)"
            + (f"; the last {(until - max(since, b)) / 3600:.3g} h are in Redis, which has no "
               "spatial index: a period ending before the archive mark "
               f"({_iso(b)}) reads only the area's own hours" if hot else ""))


def presence(history: History, area: Area, since: float, until: float, params: VisitParams,
             retention_s: float, max_points: int | None = None) -> list[dict[str, Any]]:
    """Return one row per unit present in the area: unit, first, last, minutes (epoch seconds).

    Reads only the unit-hours whose box meets the area's (and the hours either side), ranks
    their points in DuckDB and brings into numpy only the points in the box, each with its
    rank and the time of the point before it: ``core.visit_chains`` links them as
    ``visits_from_history`` does over whole trails.
    """
    found = plan(history, area, since, until, max_points or 2**62)
    bbox = area.bbox()
    hot = history.hot_points_in_bbox(since, until, bbox) if found.hot_points else {}
    late = {u: p for u, p in history.store_points(sorted({u for u, _ in found.want} - set(hot)),
                                                  since, until).items() if p}
    hot.update(late)
    rows = history.reader.area_rows(since, until, found.want, _hot_table(hot), bbox, found.box)
    if rows.num_rows == 0:
        return []
    unit = rows.column("unit").to_numpy(zero_copy_only=False)
    t = rows.column("us").to_numpy().astype(float) / 1e6
    lat, lon = rows.column("lat").to_numpy(), rows.column("lon").to_numpy()
    acc = rows.column("acc").to_numpy(zero_copy_only=False).astype(float)
    ok = np.zeros(len(t), bool)
    ok[AreaIndex([(area.geometry, area.radius_m)]).containing_indices(lat, lon)[0]] = True
    ok &= np.isnan(acc) | (acc <= params.max_acc_m)
    ok &= _eligible(unit, t, history.status_changes(sorted(set(unit.tolist())), since, until,
                                                    retention_s))
    prev = rows.column("prev_us").to_numpy(zero_copy_only=False).astype(float) / 1e6
    who, start, end, _ = chain_visits(unit, rows.column("i").to_numpy(), t, prev, ok,
                                          params.gap_s, params.grace_s)
    out: dict[str, dict[str, Any]] = {}
    for u, a, b in zip(who.tolist(), start.tolist(), end.tolist(), strict=True):
        row = out.setdefault(u, {"unit": u, "first": a, "last": b, "minutes": 0.0,
                                 "visits": 0})
        row["first"], row["last"] = min(row["first"], a), max(row["last"], b)
        row["minutes"] += (b - a) / 60.0
        row["visits"] += 1
    return sorted(out.values(), key=lambda r: (r["first"], r["unit"]))


def _eligible(unit: Any, t: Any, statuses: list[StatusChange]) -> Any:
    """Return, per row, whether the unit's status at its time lets it count (DOMAIN.md)."""
    out = np.ones(len(t), bool)
    by_unit: dict[str, dict[float, bool]] = {}
    for c in statuses:
        merged = by_unit.setdefault(c.unit, {})
        merged[c.ts] = merged.get(c.ts, True) and eligible_status(c)
    bounds = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1], True])
    for lo, hi in itertools.pairwise(bounds.tolist()):
        changes = by_unit.get(str(unit[lo]))
        if not changes:
            continue
        times = np.array(sorted(changes))
        flags = np.array([changes[x] for x in sorted(changes)])
        k = np.searchsorted(times, t[lo:hi], side="right") - 1
        out[lo:hi] = np.where(k >= 0, flags[np.maximum(k, 0)], True)
    return out


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hot_table(points: dict[str, list[tuple[float, float, float, float | None]]]) -> pa.Table:
    units, us, lats, lons, accs = [], [], [], [], []
    for unit, pts in points.items():
        for ts, lat, lon, acc in pts:
            units.append(unit)
            us.append(round(ts * 1e6))
            lats.append(lat)
            lons.append(lon)
            accs.append(acc)
    return pa.table({"unit": pa.array(units, pa.string()), "us": pa.array(us, pa.int64()),
                     "lat": pa.array(lats, pa.float64()), "lon": pa.array(lons, pa.float64()),
                     "acc": pa.array(accs, pa.float64())})
