"""Hotspot areas: the validated model of ``config/hotspots.geojson`` and fast containment.

``Window`` and ``ScheduleRule`` live in ``schedule.py`` and are re-exported here. Schedules
are evaluated by the ``Hotspot.window_at`` / ``Hotspot.windows_between`` methods, also
offered as free functions ``window_at(hotspot, ...)`` / ``windows_between(hotspot, ...)``.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from patrolwatch.core import schedule
from patrolwatch.core.geo import AreaIndex, FloatArray, GeometryError, IntArray, parse_geometry
from patrolwatch.core.grid import GridIndex
from patrolwatch.core.schedule import ScheduleRule, Window
from patrolwatch.errors import ConfigError, problem

__all__ = [
    "CATEGORIES",
    "Category",
    "CoverageDefaults",
    "Hotspot",
    "HotspotSet",
    "ScheduleRule",
    "Window",
    "load_hotspots",
    "validate_hotspots",
    "window_at",
    "windows_between",
]

Category = Literal["night_time_economy", "school", "university", "transport", "other"]
CATEGORIES: tuple[Category, ...] = (
    "night_time_economy", "school", "university", "transport", "other",
)
HOTSPOT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # ids appear in API URLs
MAX_RADIUS_M = 5000.0
TARGET_KEYS = ("min_visit_minutes", "max_gap_minutes")
FILE_LABEL = "hotspots"  # the feature label of problems with the file as a whole
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _CoverageSettings(Protocol):
    min_visit_minutes: float
    max_gap_minutes: float
    max_gap_minutes_nte: float


@dataclass(frozen=True)
class CoverageDefaults:
    """Targets for hotspots whose file gives none (DOMAIN.md: M and T)."""

    min_visit_minutes: float = 10.0
    max_gap_minutes: float = 120.0
    max_gap_minutes_nte: float = 60.0

    @classmethod
    def from_settings(cls, settings: _CoverageSettings) -> CoverageDefaults:
        """Take the defaults from the settings (PATROL_MIN_VISIT_MINUTES, ...)."""
        return cls(
            float(settings.min_visit_minutes),
            float(settings.max_gap_minutes),
            float(settings.max_gap_minutes_nte),
        )

    def max_gap_for(self, category: Category) -> float:
        """Return T for a category: 60 min for the night-time economy, else 120 by default."""
        if category == "night_time_economy":
            return self.max_gap_minutes_nte
        return self.max_gap_minutes


@dataclass(frozen=True)
class Hotspot:
    """One validated hotspot with its defaults resolved."""

    id: str
    name: str
    category: Category
    priority: int  # 1 highest ... 3
    geometry: Any  # shapely geometry in lon/lat (a Point for point hotspots)
    radius_m: float | None  # set for point hotspots
    schedule: tuple[ScheduleRule, ...]  # empty: always active (daily windows 00:00-24:00)
    valid_from: date | None
    valid_to: date | None
    operation: str | None
    min_visit_minutes: float  # M, from target or settings
    max_gap_minutes: float  # T, from target, category default or settings
    centroid: tuple[float, float]  # (lat, lon); a point inside the hotspot, for taskings
    properties: dict[str, Any] = field(default_factory=dict)  # as in the file
    feature: dict[str, Any] = field(default_factory=dict)  # the GeoJSON feature as in the file

    def window_at(self, now: datetime, tz: tzinfo) -> Window | None:
        """Return the schedule window containing ``now`` (aware), or None if inactive."""
        return schedule.active_window(self.schedule, self.valid_from, self.valid_to, now, tz)

    def windows_between(self, start: datetime, end: datetime, tz: tzinfo) -> list[Window]:
        """Return the windows overlapping ``[start, end)``, sorted, as UTC datetimes."""
        return schedule.windows_between(
            self.schedule, self.valid_from, self.valid_to, start, end, tz
        )


def window_at(hotspot: Hotspot, now: datetime, tz: tzinfo) -> Window | None:
    """Return the hotspot's schedule window containing ``now`` (aware), or None."""
    return hotspot.window_at(now, tz)


def windows_between(
    hotspot: Hotspot, start: datetime, end: datetime, tz: tzinfo
) -> list[Window]:
    """Return the hotspot's windows overlapping ``[start, end)``, sorted, as UTC datetimes."""
    return hotspot.windows_between(start, end, tz)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _label(raw: Any, index: int) -> str:
    props = raw.get("properties") if isinstance(raw, dict) else None
    ident = props.get("id") if isinstance(props, dict) else None
    return ident if isinstance(ident, str) and ident.strip() else f"#{index}"


def _iso_date(props: dict[str, Any], key: str, reasons: list[str]) -> date | None:
    value = props.get(key)
    if value is None:
        return None
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    reasons.append(f"{key} {value!r} is not a date YYYY-MM-DD")
    return None


def _target(props: dict[str, Any], reasons: list[str]) -> dict[str, float]:
    raw = props.get("target")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        reasons.append(f"target must be an object with {' and/or '.join(TARGET_KEYS)}")
        return {}
    unknown = sorted(str(k) for k in raw if k not in TARGET_KEYS)
    if unknown:
        reasons.append(
            f"target has unknown key {', '.join(map(repr, unknown))} "
            f"(expected {', '.join(TARGET_KEYS)})"
        )
    found: dict[str, float] = {}
    for key in TARGET_KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if _number(value) and value > 0:
            found[key] = float(value)
        else:
            reasons.append(f"target.{key} must be a number of minutes > 0, not {value!r}")
    return found


def _schedule(props: dict[str, Any], reasons: list[str]) -> tuple[ScheduleRule, ...]:
    raw = props.get("schedule")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        reasons.append("schedule must be a list of {days, start, end} rules (omit it: always)")
        return ()
    rules: list[ScheduleRule] = []
    bad = False
    for i, item in enumerate(raw):
        try:
            rules.append(schedule.parse_rule(item))
        except ValueError as exc:
            reasons.append(f"schedule[{i}]: {exc}")
            bad = True
    if not bad:
        reasons.extend(schedule.overlap_problems(rules))
    return tuple(rules)


def _properties(
    props: dict[str, Any], is_point: bool, reasons: list[str]
) -> dict[str, Any]:
    """Check every property of one feature; return the parsed values (partial if bad)."""
    out: dict[str, Any] = {}
    ident = props.get("id")
    if ident is None:
        reasons.append("missing property id")
    elif not isinstance(ident, str) or not HOTSPOT_ID_RE.match(ident):
        reasons.append(
            f"id {ident!r} must be 1-64 letters, digits, '-' or '_' (it is used in URLs)"
        )
    name = props.get("name")
    if name is None:
        reasons.append("missing property name")
    elif not isinstance(name, str) or not name.strip():
        reasons.append(f"name {name!r} must be non-empty text")
    category = props.get("category")
    if category not in CATEGORIES:
        what = "missing property category" if category is None else f"category {category!r}"
        reasons.append(f"{what}: use one of {', '.join(CATEGORIES)}")
    priority = props.get("priority")
    if not (isinstance(priority, int) and not isinstance(priority, bool) and 1 <= priority <= 3):
        what = "missing property priority" if priority is None else f"priority {priority!r}"
        reasons.append(f"{what}: use an integer 1 (highest), 2 or 3")
    radius = props.get("radius_m")
    if is_point:
        if radius is None:
            reasons.append("a Point hotspot needs radius_m (metres, e.g. 150)")
        elif not (_number(radius) and 0 < radius <= MAX_RADIUS_M):
            reasons.append(f"radius_m {radius!r} must be a number of metres > 0 and <= 5000")
        else:
            out["radius_m"] = float(radius)
    elif radius is not None:
        reasons.append("radius_m applies only to Point geometries: remove it or use a Point")
    out["valid_from"] = _iso_date(props, "valid_from", reasons)
    out["valid_to"] = _iso_date(props, "valid_to", reasons)
    if out["valid_from"] and out["valid_to"] and out["valid_from"] > out["valid_to"]:
        reasons.append(f"valid_from {out['valid_from']} is after valid_to {out['valid_to']}")
    operation = props.get("operation")
    if operation is not None and not isinstance(operation, str):
        reasons.append(f"operation {operation!r} must be text")
    out["schedule"] = _schedule(props, reasons)
    out["target"] = _target(props, reasons)
    return out


def _inside_point(geometry: Any) -> tuple[float, float]:
    """Return (lat, lon) of the centroid, or of a surface point if the centroid is outside."""
    point = geometry.centroid
    if not geometry.covers(point):  # a bent street or a MultiPolygon of two ends
        point = geometry.point_on_surface()
    return float(point.y), float(point.x)


def _hotspot(raw: Any, defaults: CoverageDefaults, reasons: list[str]) -> Hotspot | None:
    """Validate one feature into a Hotspot, appending a reason for every problem."""
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        reasons.append('each feature must be an object with "type": "Feature"')
        return None
    props = raw.get("properties")
    if not isinstance(props, dict):
        reasons.append("missing properties object")
        props = {}
    if "id" not in props and "id" in raw:
        reasons.append("the id must be in properties (the top-level Feature id is not used)")
    geometry = None
    try:
        geometry = parse_geometry(raw.get("geometry"))
    except GeometryError as exc:
        reasons.append(str(exc))
    is_point = isinstance(raw.get("geometry"), dict) and raw["geometry"].get("type") == "Point"
    parsed = _properties(props, is_point, reasons)
    if reasons or geometry is None:
        return None
    category: Category = props["category"]
    target = parsed["target"]
    return Hotspot(
        id=props["id"],
        name=props["name"].strip(),
        category=category,
        priority=props["priority"],
        geometry=geometry,
        radius_m=parsed.get("radius_m"),
        schedule=parsed["schedule"],
        valid_from=parsed["valid_from"],
        valid_to=parsed["valid_to"],
        operation=props.get("operation"),
        min_visit_minutes=target.get("min_visit_minutes", defaults.min_visit_minutes),
        max_gap_minutes=target.get("max_gap_minutes", defaults.max_gap_for(category)),
        centroid=_inside_point(geometry),
        properties=copy.deepcopy(props),
        feature=copy.deepcopy(raw),
    )


def _parse_features(
    features: Sequence[Any], defaults: CoverageDefaults, source: str
) -> tuple[list[Hotspot], list[str]]:
    hotspots: list[Hotspot] = []
    problems: list[str] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(features):
        label = _label(raw, index)
        reasons: list[str] = []
        hotspot = _hotspot(raw, defaults, reasons)
        if label in first_index and not label.startswith("#"):
            reasons.append(f"duplicate id (also feature #{first_index[label]})")
            hotspot = None
        first_index.setdefault(label, index)
        problems.extend(problem(source, label, reason) for reason in reasons)
        if hotspot is not None:
            hotspots.append(hotspot)
    return hotspots, problems


def _collection(data: Any, source: str) -> list[Any]:
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ConfigError([problem(source, FILE_LABEL, 'expected a GeoJSON object with '
                                   '"type": "FeatureCollection"')])
    crs = json.dumps(data.get("crs", "CRS84"))
    if "CRS84" not in crs and "4326" not in crs:
        raise ConfigError([problem(source, FILE_LABEL, "coordinates must be WGS84 lon/lat "
                                   f"(RFC 7946); remove the crs member {crs}")])
    features = data.get("features")
    if not isinstance(features, list):
        raise ConfigError([problem(source, FILE_LABEL, 'missing "features" list')])
    return features


def _read_json(path: Path) -> Any:
    hint = "set PATROL_HOTSPOTS to the hotspot GeoJSON file"
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate the BOM some editors write
    except FileNotFoundError:
        raise ConfigError([problem(path, FILE_LABEL, f"file not found ({hint})")]) from None
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
        raise ConfigError([problem(path, FILE_LABEL, reason)]) from None
    except OSError as exc:
        raise ConfigError([problem(path, FILE_LABEL, f"cannot read: {exc.strerror}")]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([problem(
            path, FILE_LABEL, f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        )]) from None


def load_hotspots(path: Path, defaults: CoverageDefaults, tz: tzinfo) -> HotspotSet:
    """Load and validate the hotspot file; raise ConfigError naming every problem."""
    features = _collection(_read_json(path), str(path))
    return HotspotSet.from_features(features, defaults, tz, source=str(path))


def validate_hotspots(path: Path, defaults: CoverageDefaults, tz: tzinfo) -> list[str]:
    """Return every problem in the hotspot file as ``file:feature-id: reason`` (empty: fine)."""
    try:
        load_hotspots(path, defaults, tz)
    except ConfigError as exc:
        return exc.problems
    return []


class HotspotSet:
    """The hotspots of an operation, with vectorised point-in-hotspot queries."""

    def __init__(self, hotspots: Sequence[Hotspot], tz: tzinfo) -> None:
        self.hotspots: tuple[Hotspot, ...] = tuple(hotspots)
        self.by_id: dict[str, Hotspot] = {h.id: h for h in self.hotspots}
        if len(self.by_id) != len(self.hotspots):
            raise ValueError("hotspot ids must be unique")
        self.tz = tz
        self._ids = np.array([h.id for h in self.hotspots], dtype=object)
        self._index = {h.id: i for i, h in enumerate(self.hotspots)}
        self.areas = AreaIndex([(h.geometry, h.radius_m) for h in self.hotspots])
        # Containment of many points: numpy alone (core/grid.py), the same answers as areas'.
        self.grid = GridIndex([(h.geometry, h.radius_m) for h in self.hotspots])
        self._single = [(h.id,) for h in self.hotspots]

    @classmethod
    def from_features(
        cls,
        features: Sequence[Any],
        defaults: CoverageDefaults,
        tz: tzinfo,
        source: str = "<memory>",
    ) -> HotspotSet:
        """Validate GeoJSON features into a set; raise ConfigError naming every problem."""
        hotspots, problems = _parse_features(features, defaults, source)
        if problems:
            raise ConfigError(problems)
        return cls(hotspots, tz)

    def __len__(self) -> int:
        return len(self.hotspots)

    def __iter__(self) -> Iterator[Hotspot]:
        return iter(self.hotspots)

    def containing_indices(self, lats: Any, lons: Any) -> tuple[IntArray, IntArray]:
        """Return sorted (point index, index into ``hotspots``) pairs; edges count as inside."""
        return self.grid.containing_indices(lats, lons)

    def containing_many(self, lats: Any, lons: Any) -> list[tuple[str, ...]]:
        """Return, for each point, the ids of the hotspots containing it (file order)."""
        p_idx, h_idx = self.grid.containing_indices(lats, lons)
        result: list[tuple[str, ...]] = [()] * int(np.asarray(lats).size)
        if not p_idx.size:
            return result
        # Most points lie in one hotspot at most: those take a prepared one-id tuple.
        repeated = np.zeros(p_idx.size, bool)
        repeated[1:] = p_idx[1:] == p_idx[:-1]
        repeated[:-1] |= repeated[1:]
        single = self._single
        for p, h in zip(p_idx[~repeated].tolist(), h_idx[~repeated].tolist(), strict=True):
            result[p] = single[h]
        if repeated.any():
            ids = self._ids
            for p, h in zip(p_idx[repeated].tolist(), h_idx[repeated].tolist(), strict=True):
                result[p] += (ids[h],)
        return result

    def containing(self, lat: float, lon: float) -> tuple[str, ...]:
        """Return the ids of the hotspots containing one point."""
        return self.containing_many([lat], [lon])[0]

    def nearest_distances_m(self, hotspot_id: str, lats: Any, lons: Any) -> FloatArray:
        """Return metres from each point to a hotspot's edge (0 inside)."""
        return self.areas.distances_m(self._position(hotspot_id), lats, lons)

    def nearest_distance_m(self, hotspot_id: str, lat: float, lon: float) -> float:
        """Return metres from a point to a hotspot's edge (0 inside)."""
        return float(self.areas.distances_m(self._position(hotspot_id), lat, lon))

    def _position(self, hotspot_id: str) -> int:
        try:
            return self._index[hotspot_id]
        except KeyError:
            raise KeyError(f"unknown hotspot id {hotspot_id!r}") from None

    def to_geojson(self) -> dict[str, Any]:
        """Return the features as in the file; properties are fresh dicts callers may extend."""
        return {
            "type": "FeatureCollection",
            "features": [
                {**h.feature, "properties": dict(h.properties)} for h in self.hotspots
            ],
        }
