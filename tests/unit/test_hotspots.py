"""Hotspot file: validation problems as ``file:feature-id: reason``, and the shipped file."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from patrolwatch.core.hotspots import (
    CATEGORIES,
    CoverageDefaults,
    Hotspot,
    HotspotSet,
    ScheduleRule,
    Window,
    load_hotspots,
    validate_hotspots,
    window_at,
    windows_between,
)
from patrolwatch.errors import ConfigError
from patrolwatch.settings import Settings

LONDON = ZoneInfo("Europe/London")
SHIPPED = Path(__file__).resolve().parents[2] / "config" / "hotspots.geojson"
SOURCE = "test.geojson"
SQUARE = [[-0.134, 51.513], [-0.129, 51.513], [-0.129, 51.514], [-0.134, 51.514],
          [-0.134, 51.513]]
BOWTIE = [[0.0, 51.0], [0.001, 51.001], [0.001, 51.0], [0.0, 51.001], [0.0, 51.0]]


def good() -> dict[str, Any]:
    """Return a valid feature with every optional property."""
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
        "properties": {
            "id": "soho",
            "name": "Old Compton Street",
            "category": "night_time_economy",
            "priority": 1,
            "schedule": [{"days": ["thu", "fri", "sat"], "start": "20:00", "end": "04:00"}],
            "valid_from": "2026-11-23",
            "valid_to": "2027-01-31",
            "operation": "Operation Vigilant Week of Action",
            "target": {"min_visit_minutes": 12, "max_gap_minutes": 50},
            "borough": "Westminster",
        },
    }


def good_point() -> dict[str, Any]:
    feature = good()
    feature["geometry"] = {"type": "Point", "coordinates": [-0.1146, 51.4626]}
    feature["properties"]["radius_m"] = 150
    return feature


def problems_of(features: list[Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        HotspotSet.from_features(features, CoverageDefaults(), LONDON, source=SOURCE)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def geometry(kind: str, coordinates: Any) -> Callable[[dict[str, Any]], None]:
    def change(feature: dict[str, Any]) -> None:
        feature["geometry"] = {"type": kind, "coordinates": coordinates}

    return change


def prop(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(feature: dict[str, Any]) -> None:
        if value is DELETE:
            del feature["properties"][key]
        else:
            feature["properties"][key] = value

    return change


DELETE = object()
NOT_SUPPORTED = "(use Polygon, MultiPolygon, or Point with radius_m)"
ID_RULE = "must be 1-64 letters, digits, '-' or '_' (it is used in URLs)"
CATEGORY_RULE = "use one of night_time_economy, school, university, transport, other"
PRIORITY_RULE = "use an integer 1 (highest), 2 or 3"
WEST, EAST = (
    [[-0.10, 51.50], [-0.09, 51.50], [-0.09, 51.51], [-0.10, 51.51], [-0.10, 51.50]],
    [[-0.095, 51.505], [-0.08, 51.505], [-0.08, 51.52], [-0.095, 51.52], [-0.095, 51.505]],
)

BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], str | list[str], str]] = [
    # (what, change to a good feature, feature label, reason(s))
    ("no geometry", lambda f: f.update(geometry=None), "soho",
     f"missing geometry {NOT_SUPPORTED.replace('(use Polygon', '(use a Polygon')}"),
    ("a line", geometry("LineString", [[0, 51], [0.1, 51]]), "soho",
     f"geometry type 'LineString' is not supported {NOT_SUPPORTED}"),
    ("no coordinates", lambda f: f.update(geometry={"type": "Polygon"}), "soho",
     "geometry must be an object with `type` and `coordinates`"),
    ("open ring", geometry("Polygon", [[*SQUARE[:-1], [-0.134, 51.5135]]]), "soho",
     "exterior ring is not closed: its last position must repeat the first"),
    ("short ring", geometry("Polygon", [[[0, 51], [0.1, 51], [0, 51]]]), "soho",
     "exterior ring has 3 positions; a ring needs at least 4 (three corners and the first "
     "repeated)"),
    ("no rings", geometry("Polygon", []), "soho", "coordinates must be a non-empty list of rings"),
    ("ring not a list", geometry("Polygon", ["ring"]), "soho",
     "exterior ring must be a list of positions, not 'ring'"),
    ("longitude out of range", geometry("Polygon", [[[0, 51], [200, 51], [0, 52], [0, 51]]]),
     "soho", "exterior ring position 1: longitude 200.0 is outside -180..180 (positions are "
     "[lon, lat])"),
    ("latitude out of range", geometry("Polygon", [[[0, 51], [1, 91], [0, 52], [0, 51]]]),
     "soho", "exterior ring position 1: latitude 91.0 is outside -90..90 (positions are "
     "[lon, lat])"),
    ("position not numbers", geometry("Polygon", [[[0, 51], ["0.1", 51], [0, 52], [0, 51]]]),
     "soho", "exterior ring position 1: ['0.1', 51] is not a position [longitude, latitude]"),
    ("NaN position", geometry("Polygon", [[[0, 51], [float("nan"), 51], [0, 52], [0, 51]]]),
     "soho", "exterior ring position 1: [nan, 51] is not a position [longitude, latitude]"),
    ("self-intersection", geometry("Polygon", [BOWTIE]), "soho",
     "polygon is not valid: self-intersection near lon 0.000500, lat 51.000500"),
    ("hole outside", geometry("Polygon", [SQUARE, [[0, 51], [0.001, 51], [0, 51.001], [0, 51]]]),
     "soho", "polygon is not valid: hole lies outside shell near lon 0.000000, lat 51.000000"),
    ("bad hole", geometry("Polygon", [SQUARE, [[0, 51], [0.001, 51], [0, 51]]]), "soho",
     "hole 1 has 3 positions; a ring needs at least 4 (three corners and the first repeated)"),
    ("overlapping parts", geometry("MultiPolygon", [[WEST], [EAST]]), "soho",
     "multipolygon is not valid: self-intersection near lon -0.095000, lat 51.510000 (its "
     "polygons must not overlap or share an edge)"),
    ("invalid part", geometry("MultiPolygon", [[WEST], [BOWTIE]]), "soho",
     "polygon 1 is not valid: self-intersection near lon 0.000500, lat 51.000500"),
    ("open part", geometry("MultiPolygon", [[WEST], [WEST[:-1]]]), "soho",
     "polygon 1: exterior ring is not closed: its last position must repeat the first"),
    ("no parts", geometry("MultiPolygon", []), "soho",
     "MultiPolygon coordinates must be a non-empty list of polygons"),
    ("radius on a polygon", prop("radius_m", 150), "soho",
     "radius_m applies only to Point geometries: remove it or use a Point"),
    ("no id", prop("id", DELETE), "#0", "missing property id"),
    ("id with spaces", prop("id", "old compton st"), "old compton st", f"id 'old compton st' "
     f"{ID_RULE}"),
    ("id with a slash", prop("id", "soho/1"), "soho/1", f"id 'soho/1' {ID_RULE}"),
    ("id too long", prop("id", "x" * 65), "x" * 65, f"id '{'x' * 65}' {ID_RULE}"),
    ("empty id", prop("id", ""), "#0", f"id '' {ID_RULE}"),
    ("numeric id", prop("id", 7), "#0", f"id 7 {ID_RULE}"),
    ("no name", prop("name", DELETE), "soho", "missing property name"),
    ("blank name", prop("name", "  "), "soho", "name '  ' must be non-empty text"),
    ("numeric name", prop("name", 5), "soho", "name 5 must be non-empty text"),
    ("no category", prop("category", DELETE), "soho", f"missing property category: "
     f"{CATEGORY_RULE}"),
    ("unknown category", prop("category", "nightlife"), "soho",
     f"category 'nightlife': {CATEGORY_RULE}"),
    ("no priority", prop("priority", DELETE), "soho", f"missing property priority: "
     f"{PRIORITY_RULE}"),
    ("priority 0", prop("priority", 0), "soho", f"priority 0: {PRIORITY_RULE}"),
    ("priority 4", prop("priority", 4), "soho", f"priority 4: {PRIORITY_RULE}"),
    ("fractional priority", prop("priority", 1.5), "soho", f"priority 1.5: {PRIORITY_RULE}"),
    ("text priority", prop("priority", "1"), "soho", f"priority '1': {PRIORITY_RULE}"),
    ("boolean priority", prop("priority", True), "soho", f"priority True: {PRIORITY_RULE}"),
    ("schedule not a list", prop("schedule", "always"), "soho",
     "schedule must be a list of {days, start, end} rules (omit it: always)"),
    ("rule without end", prop("schedule", [{"days": ["fri"], "start": "22:00"}]), "soho",
     "schedule[0]: missing end"),
    ("bad day", prop("schedule", [{"days": ["fri"], "start": "22:00", "end": "03:00"},
                                  {"days": ["friday"], "start": "22:00", "end": "03:00"}]),
     "soho", "schedule[1]: unknown day 'friday' (use mon, tue, wed, thu, fri, sat, sun)"),
    ("overlapping rules", prop("schedule", [{"days": ["fri"], "start": "22:00", "end": "03:00"},
                                            {"days": ["sat"], "start": "02:00", "end": "05:00"}]),
     "soho", "schedule[0] (fri 22:00-03:00) and schedule[1] (sat 02:00-05:00) overlap on fri/sat:"
     " merge them into one rule"),
    ("UK date", prop("valid_from", "23/11/2026"), "soho",
     "valid_from '23/11/2026' is not a date YYYY-MM-DD"),
    ("no such date", prop("valid_to", "2027-02-30"), "soho",
     "valid_to '2027-02-30' is not a date YYYY-MM-DD"),
    ("compact date", prop("valid_to", "20270131"), "soho",
     "valid_to '20270131' is not a date YYYY-MM-DD"),
    ("dates reversed", prop("valid_from", "2027-02-01"), "soho",
     "valid_from 2027-02-01 is after valid_to 2027-01-31"),
    ("numeric operation", prop("operation", 5), "soho", "operation 5 must be text"),
    ("target not an object", prop("target", 45), "soho",
     "target must be an object with min_visit_minutes and/or max_gap_minutes"),
    ("zero gap", prop("target", {"max_gap_minutes": 0}), "soho",
     "target.max_gap_minutes must be a number of minutes > 0, not 0"),
    ("text visit", prop("target", {"min_visit_minutes": "10"}), "soho",
     "target.min_visit_minutes must be a number of minutes > 0, not '10'"),
    ("misspelt target", prop("target", {"max_gap": 30}), "soho",
     "target has unknown key 'max_gap' (expected min_visit_minutes, max_gap_minutes)"),
    ("not a Feature", lambda f: f.update(type="feature"), "soho",
     'each feature must be an object with "type": "Feature"'),
    ("top-level id only", lambda f: (f.update(id="soho"), f["properties"].pop("id")), "#0",
     ["the id must be in properties (the top-level Feature id is not used)",
      "missing property id"]),
    ("no properties", lambda f: f.pop("properties"), "#0",
     ["missing properties object", "missing property id", "missing property name",
      f"missing property category: {CATEGORY_RULE}", f"missing property priority: "
      f"{PRIORITY_RULE}"]),
]


@pytest.mark.parametrize(("what", "change", "label", "reasons"), BROKEN, ids=[b[0] for b in BROKEN])
def test_each_broken_feature_names_file_feature_and_reason(
    what: str, change: Callable[[dict[str, Any]], None], label: str, reasons: str | list[str]
) -> None:
    feature = good()
    change(feature)
    expected = [reasons] if isinstance(reasons, str) else reasons
    assert problems_of([feature]) == [f"{SOURCE}:{label}: {reason}" for reason in expected]


@pytest.mark.parametrize(
    ("radius", "reason"),
    [
        (None, "a Point hotspot needs radius_m (metres, e.g. 150)"),
        (0, "radius_m 0 must be a number of metres > 0 and <= 5000"),
        (-5, "radius_m -5 must be a number of metres > 0 and <= 5000"),
        (5000.5, "radius_m 5000.5 must be a number of metres > 0 and <= 5000"),
        ("150", "radius_m '150' must be a number of metres > 0 and <= 5000"),
        (True, "radius_m True must be a number of metres > 0 and <= 5000"),
    ],
)
def test_point_radius(radius: Any, reason: str) -> None:
    feature = good_point()
    if radius is None:
        del feature["properties"]["radius_m"]
    else:
        feature["properties"]["radius_m"] = radius
    assert problems_of([feature]) == [f"{SOURCE}:soho: {reason}"]


def test_every_problem_of_every_feature_is_listed() -> None:
    first, second, third = good(), good_point(), good()
    first["properties"].update(priority=9, category="pub")
    second["properties"].update(id="brixton", radius_m=0)
    third["properties"].update(id="fine")
    fourth = "not a feature"
    assert problems_of([first, second, third, fourth]) == [
        f"{SOURCE}:soho: category 'pub': {CATEGORY_RULE}",
        f"{SOURCE}:soho: priority 9: {PRIORITY_RULE}",
        f"{SOURCE}:brixton: radius_m 0 must be a number of metres > 0 and <= 5000",
        f'{SOURCE}:#3: each feature must be an object with "type": "Feature"',
    ]


def test_duplicate_ids() -> None:
    features = [good(), good_point(), good()]
    features[2]["properties"]["id"] = "other"
    assert problems_of(features) == [f"{SOURCE}:soho: duplicate id (also feature #0)"]


# ---------------------------------------------------------------- files


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotspots.geojson"
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_json_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "type": "FeatureCollection",\n  "features": [,]\n}\n')
    assert validate_hotspots(path, CoverageDefaults(), LONDON) == [
        f"{path}:hotspots: not valid JSON at line 3 column 16: Expecting value"
    ]


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], 'expected a GeoJSON object with "type": "FeatureCollection"'),
        ({"type": "Feature"}, 'expected a GeoJSON object with "type": "FeatureCollection"'),
        ({"type": "FeatureCollection"}, 'missing "features" list'),
        ({"type": "FeatureCollection", "features": {}}, 'missing "features" list'),
        ({"type": "FeatureCollection", "features": [],
          "crs": {"type": "name", "properties": {"name": "EPSG:27700"}}},
         "coordinates must be WGS84 lon/lat (RFC 7946); remove the crs member "
         '{"type": "name", "properties": {"name": "EPSG:27700"}}'),
    ],
)
def test_the_file_must_be_a_feature_collection(
    tmp_path: Path, document: Any, reason: str
) -> None:
    path = write(tmp_path, json.dumps(document))
    assert validate_hotspots(path, CoverageDefaults(), LONDON) == [f"{path}:hotspots: {reason}"]


def test_missing_file_says_which_setting(tmp_path: Path) -> None:
    path = tmp_path / "nope.geojson"
    with pytest.raises(ConfigError) as caught:
        load_hotspots(path, CoverageDefaults(), LONDON)
    assert caught.value.problems == [
        f"{path}:hotspots: file not found (set PATROL_HOTSPOTS to the hotspot GeoJSON file)"
    ]


def test_a_file_round_trips_with_problems_named_by_path(tmp_path: Path) -> None:
    broken = good()
    broken["properties"]["priority"] = 0
    path = write(tmp_path, json.dumps({"type": "FeatureCollection", "features": [broken]}))
    assert validate_hotspots(path, CoverageDefaults(), LONDON) == [
        f"{path}:soho: priority 0: {PRIORITY_RULE}"
    ]
    fine = write(tmp_path, json.dumps({"type": "FeatureCollection", "features": [good()],
                                       "crs": {"type": "name", "properties": {
                                           "name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}}))
    assert validate_hotspots(fine, CoverageDefaults(), LONDON) == []
    assert len(load_hotspots(fine, CoverageDefaults(), LONDON)) == 1


# ---------------------------------------------------------------- the model


def test_a_valid_feature_becomes_a_hotspot() -> None:
    hotspots = HotspotSet.from_features([good(), good_point() | {"properties": {
        **good_point()["properties"], "id": "brixton", "category": "transport",
        "target": {"min_visit_minutes": 15}}}], CoverageDefaults(), LONDON)
    soho, brixton = hotspots
    assert isinstance(soho, Hotspot)
    assert (soho.id, soho.name, soho.category, soho.priority) == (
        "soho", "Old Compton Street", "night_time_economy", 1)
    assert soho.radius_m is None and soho.geometry.geom_type == "Polygon"
    assert soho.schedule == (ScheduleRule(frozenset({3, 4, 5}), *_times("20:00", "04:00")),)
    assert (soho.valid_from, soho.valid_to) == (date(2026, 11, 23), date(2027, 1, 31))
    assert soho.operation == "Operation Vigilant Week of Action"
    assert (soho.min_visit_minutes, soho.max_gap_minutes) == (12.0, 50.0)
    assert soho.properties["borough"] == "Westminster"  # unknown properties are kept
    assert soho.centroid == pytest.approx((51.5135, -0.1315))
    assert brixton.radius_m == 150.0 and brixton.geometry.geom_type == "Point"
    assert brixton.centroid == (51.4626, -0.1146)
    # Unset targets come from the defaults: T = 120 min, except 60 for night-time economy.
    assert (brixton.min_visit_minutes, brixton.max_gap_minutes) == (15.0, 120.0)
    assert hotspots.by_id["brixton"] is brixton
    assert len(hotspots) == 2 and [h.id for h in hotspots] == ["soho", "brixton"]


def _times(start: str, end: str) -> tuple[Any, Any]:
    return tuple(datetime.strptime(t, "%H:%M").time() for t in (start, end))  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("category", "target", "expected"),
    [
        ("night_time_economy", None, (10.0, 60.0)),
        ("school", None, (10.0, 120.0)),
        ("night_time_economy", {"max_gap_minutes": 30}, (10.0, 30.0)),
        ("university", {"min_visit_minutes": 15.5}, (15.5, 120.0)),
    ],
)
def test_targets_resolve_from_file_then_category_then_defaults(
    category: str, target: dict[str, float] | None, expected: tuple[float, float]
) -> None:
    feature = good()
    feature["properties"].update(category=category, target=target)
    (hotspot,) = HotspotSet.from_features([feature], CoverageDefaults(), LONDON)
    assert (hotspot.min_visit_minutes, hotspot.max_gap_minutes) == expected


def test_coverage_defaults_come_from_settings() -> None:
    settings = Settings(min_visit_minutes=12, max_gap_minutes=90, max_gap_minutes_nte=45)
    defaults = CoverageDefaults.from_settings(settings)
    assert defaults == CoverageDefaults(12.0, 90.0, 45.0)
    assert CoverageDefaults.from_settings(Settings()) == CoverageDefaults()
    feature = good()
    del feature["properties"]["target"]
    (hotspot,) = HotspotSet.from_features([feature], defaults, LONDON)
    assert (hotspot.min_visit_minutes, hotspot.max_gap_minutes) == (12.0, 45.0)


def test_hotspot_windows_delegate_to_the_schedule() -> None:
    (hotspot,) = HotspotSet.from_features([good()], CoverageDefaults(), LONDON)
    saturday_night = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    window = Window(datetime(2026, 11, 28, 20, tzinfo=UTC), datetime(2026, 11, 29, 4, tzinfo=UTC))
    assert hotspot.window_at(saturday_night, LONDON) == window
    assert hotspot.window_at(saturday_night + timedelta(days=1), LONDON) is None  # Sunday
    assert hotspot.window_at(datetime(2026, 11, 20, 21, tzinfo=UTC), LONDON) is None  # before
    week = hotspot.windows_between(datetime(2026, 11, 23, tzinfo=UTC),
                                   datetime(2026, 11, 30, tzinfo=UTC), LONDON)
    assert len(week) == 3 and week[-1] == window
    assert window_at(hotspot, saturday_night, LONDON) == window
    assert windows_between(hotspot, datetime(2026, 11, 23, tzinfo=UTC),
                           datetime(2026, 11, 30, tzinfo=UTC), LONDON) == week


def test_empty_schedule_list_means_always_active() -> None:
    feature = good()
    feature["properties"].update(schedule=[], valid_from=None, valid_to=None)
    (hotspot,) = HotspotSet.from_features([feature], CoverageDefaults(), LONDON)
    assert hotspot.schedule == ()
    assert hotspot.window_at(datetime(2030, 6, 1, 12, tzinfo=UTC), LONDON) == Window(
        datetime(2030, 5, 31, 23, tzinfo=UTC), datetime(2030, 6, 1, 23, tzinfo=UTC))


def test_to_geojson_gives_the_features_as_in_the_file() -> None:
    features = [good(), good_point() | {"properties": {**good_point()["properties"], "id": "b"}}]
    original = copy.deepcopy(features)
    hotspots = HotspotSet.from_features(features, CoverageDefaults(), LONDON)
    features[0]["properties"]["name"] = "changed by the caller afterwards"
    collection = hotspots.to_geojson()
    assert collection == {"type": "FeatureCollection", "features": original}
    collection["features"][0]["properties"]["active"] = True  # the API adds state
    assert "active" not in hotspots.to_geojson()["features"][0]["properties"]
    assert json.loads(json.dumps(collection))["features"][1]["properties"]["radius_m"] == 150


# ---------------------------------------------------------------- the shipped file


@pytest.fixture(scope="module")
def shipped() -> HotspotSet:
    return load_hotspots(SHIPPED, CoverageDefaults.from_settings(Settings()), LONDON)


def test_shipped_file_has_no_problems() -> None:
    assert validate_hotspots(SHIPPED, CoverageDefaults(), LONDON) == []


def test_shipped_file_covers_the_week_of_action(shipped: HotspotSet) -> None:
    assert len(shipped) >= 30
    assert {h.category for h in shipped} == set(CATEGORIES)
    kinds = {h.geometry.geom_type for h in shipped}
    assert kinds == {"Polygon", "MultiPolygon", "Point"}
    assert all(h.radius_m == 150 for h in shipped if h.geometry.geom_type == "Point")
    assert {h.priority for h in shipped} == {1, 2, 3}
    assert 2 <= sum(1 for h in shipped if not h.schedule) <= 3
    assert all(h.operation == "Operation Vigilant Week of Action" for h in shipped)
    for hotspot in shipped:
        lat, lon = hotspot.centroid
        assert 51.28 < lat < 51.70 and -0.52 < lon < 0.34, hotspot.id  # Greater London
        assert shipped.containing(lat, lon).count(hotspot.id) == 1
        if hotspot.category == "night_time_economy":
            assert hotspot.max_gap_minutes == 60
        if hotspot.category == "school":
            assert (hotspot.min_visit_minutes, hotspot.max_gap_minutes) == (10, 45)


def test_shipped_file_is_active_on_demo_day(shipped: HotspotSet) -> None:
    saturday_evening = datetime(2026, 11, 28, 21, tzinfo=UTC)
    active = {h.category for h in shipped if h.window_at(saturday_evening, LONDON)}
    assert {"night_time_economy", "transport", "other"} <= active
    monday_morning = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
    active = {h.category for h in shipped if h.window_at(monday_morning, LONDON)}
    assert {"school", "transport"} <= active
