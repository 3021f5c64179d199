"""Experiment mode, pure parts: design checks, allocation, freezing, rings, measures, inference."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from patrolwatch.core.coverage import evaluate_hotspot
from patrolwatch.core.geo import LocalProjection
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet
from patrolwatch.core.observed import ALWAYS_OBSERVED
from patrolwatch.core.visits import Ping, VisitParams, visits_from_history
from patrolwatch.errors import ConfigError
from patrolwatch.experiments.allocation import (
    Allocation,
    FrozenDayError,
    allocate,
    day_bounds,
    decide,
)
from patrolwatch.experiments.design import Experiment, load_experiment, parse_experiment
from patrolwatch.experiments.inference import mean_difference, permutation_interval
from patrolwatch.experiments.measures import day_dose
from patrolwatch.experiments.outcomes import Crime, read_crimes, tally
from patrolwatch.experiments.panel import (
    CSV_COLUMNS,
    PanelRow,
    build_rows,
    classify,
    day_doses,
    panel_csv,
)
from patrolwatch.experiments.report import summary_html
from patrolwatch.experiments.rings import in_rings, ring_id, ring_shape
from patrolwatch.experiments.targets import arm_plan
from patrolwatch.experiments.waypoints import command_topic, set_waypoints

TZ = ZoneInfo("Europe/London")
LAT, LON = 51.5, -0.12
ROOT = Path(__file__).resolve().parents[2]


def design(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "t1", "name": "Trial", "start": "2026-03-02", "end": "2026-03-31",
        "blocks": {"north": {"hotspots": ["a", "b", "c", "d"], "per_day": 2},
                   "south": {"hotspots": ["e", "f", "g"], "per_day": 1}},
        "dose": {"visits": 2, "minutes": 15, "window": {"start": "10:00", "end": "22:00"}},
        "seed": 42,
    }
    base.update(over)
    return base


def exp_of(**over: Any) -> Experiment:
    return parse_experiment(design(**over), "exp.yaml", known=set("abcdefg"))


# --- the file ----------------------------------------------------------------------------
@pytest.mark.parametrize(("over", "field", "words"), [
    ({"blocks": None, "pool": ["a", "zz"], "per_day": 1}, "pool", "unknown hotspot 'zz'"),
    ({"blocks": None, "pool": ["a", "b"], "per_day": 3}, "per_day", "more than the pool"),
    ({"blocks": {"x": {"hotspots": ["a", "b"], "per_day": 1},
                 "y": {"hotspots": ["b", "c"], "per_day": 1}}}, "blocks.y", "must not overlap"),
    ({"blocks": {"x": {"hotspots": ["a"], "per_day": 2}}}, "blocks.x.per_day", "more than"),
    ({"end": "2026-03-01"}, "end", "before start"),
    ({"dose": {"visits": 5, "minutes": 30, "window": {"start": "10:00", "end": "11:00"}}},
     "dose", "do not fit"),
    ({"dose": {"visits": 1, "minutes": 10, "window": {"start": "22:00", "end": "02:00"}}},
     "dose.window", "must be after start"),
    ({"per_day": 2}, "per_day", "one of the two"),
    ({"colour": "red"}, "colour", "Extra inputs"),
])
def test_file_problems_name_file_field_and_reason(over: dict[str, Any], field: str,
                                                  words: str) -> None:
    data = {k: v for k, v in design(**over).items() if v is not None}
    with pytest.raises(ConfigError) as err:
        parse_experiment(data, "exp.yaml", known=set("abcdefg"))
    assert any(p.startswith(f"exp.yaml:{field}: ") and words in p for p in err.value.problems), \
        err.value.problems


def test_shipped_demo_experiment_is_valid_against_the_shipped_hotspots() -> None:
    hotspots = HotspotSet.from_features(
        json.loads((ROOT / "config/hotspots.geojson").read_text())["features"],
        CoverageDefaults(), TZ)
    exp = load_experiment(ROOT / "config/experiment.demo.yaml", set(hotspots.by_id))
    assert len(exp.places()) == 10 and exp.buffer_m == 100


# --- allocation --------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.dates(date(2026, 3, 2), date(2026, 3, 31)), st.integers(0, 2**31))
def test_allocation_is_reproducible_balanced_and_a_partition(day: date, seed: int) -> None:
    exp = exp_of(seed=seed)
    a = allocate(exp, day)
    assert a == allocate(exp_of(seed=seed), day)  # same file, same date: same lists
    assert sorted(a.treatment + a.control) == sorted(exp.places())  # each place once
    assert not set(a.treatment) & set(a.control)
    for name, block in exp.design_blocks().items():  # balanced per block
        assert sum(1 for h in a.treatment if h in block.hotspots) == block.per_day, name


def test_allocation_varies_by_date_and_seed_and_ignores_global_random() -> None:
    import random

    exp = exp_of()
    days = [date(2026, 3, 2) + timedelta(days=i) for i in range(20)]
    lists = {allocate(exp, d).treatment for d in days}
    assert len(lists) > 5
    random.seed(1)
    first = allocate(exp, days[0])
    random.seed(2)
    assert allocate(exp, days[0]) == first
    assert allocate(exp, days[0], seed=7) != first or allocate(exp, days[1], seed=7) != \
        allocate(exp, days[1])


def test_a_whole_pool_design_has_one_block() -> None:
    exp = parse_experiment(design(blocks=None, pool=list("abcdefg"), per_day=3), "x",
                           set("abcdefg"))
    a = allocate(exp, date(2026, 3, 5))
    assert len(a.treatment) == 3 and len(a.control) == 4


def test_frozen_day_cannot_change_but_a_day_not_started_can() -> None:
    day = date(2026, 3, 5)
    old, new = exp_of(), exp_of(seed=43)
    start = day_bounds(old, day, TZ)[0]
    stored, write = decide(None, allocate(old, day), now=start - 3600, freeze_at=start)
    assert write and stored.allocated_at == start - 3600 and not stored.frozen(start - 1)
    # Before the window starts a changed file may replace the lists.
    replaced, write = decide(stored, allocate(new, day), now=start - 60, freeze_at=start)
    assert write and replaced.digest == new.digest()
    # Once it has started: refused, and said so.
    with pytest.raises(FrozenDayError, match="frozen"):
        decide(replaced, allocate(old, day), now=start + 1, freeze_at=start)
    # The same design again changes nothing.
    kept, write = decide(replaced, allocate(new, day), now=start + 1, freeze_at=start)
    assert not write and kept == replaced
    assert Allocation.from_json(json.loads(json.dumps(kept.to_json()))) == kept


def test_digest_ignores_the_name_but_not_the_design() -> None:
    assert exp_of(name="other").digest() == exp_of().digest()
    assert exp_of(buffer_m=50).digest() != exp_of().digest()


# --- rings -------------------------------------------------------------------------------
def places() -> HotspotSet:
    proj = LocalProjection(LAT, LON)
    xs, ys = np.array([-50.0, 50, 50, -50, -50]) + 1000, np.array([-50.0, -50, 50, 50, -50])
    lats, lons = proj.to_latlon(xs, ys)
    square = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [
        [[float(lo), float(la)] for la, lo in zip(lats, lons, strict=True)]]},
        "properties": {"id": "sq", "name": "Square", "category": "other", "priority": 1}}
    circle = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [LON, LAT]},
              "properties": {"id": "c", "name": "Circle", "category": "other", "priority": 1,
                             "radius_m": 50}}
    return HotspotSet.from_features([circle, square], CoverageDefaults(), TZ)


def at(x: float, y: float) -> tuple[float, float]:
    lat, lon = LocalProjection(LAT, LON).to_latlon(x, y)
    return float(lat), float(lon)


@pytest.mark.parametrize(("x", "y", "ring"), [
    (0, 30, ()),  # inside the circle: the place, not its ring
    (0, 120, ("c~ring",)),  # 70 m beyond the edge
    (0, 149, ("c~ring",)),
    (0, 160, ()),  # 110 m beyond: outside the ring
    (1000, 0, ()),  # inside the square
    (1000, 140, ("sq~ring",)),  # 90 m north of its edge
    (1140, 140, ()),  # diagonally 127 m from the corner: the ring is rounded there
    (1120, 120, ("sq~ring",)),  # diagonally 99 m from the corner
])
def test_ring_membership(x: float, y: float, ring: tuple[str, ...]) -> None:
    lat, lon = at(x, y)
    assert in_rings(places(), ["c", "sq"], [lat], [lon], 100.0)[0] == ring


def test_ring_shape_area_and_hole() -> None:
    hs = places()
    for hid, area in (("c", math.pi * (150**2 - 50**2)),
                      ("sq", 4 * 100 * 100 + math.pi * 100**2)):
        shape = ring_shape(hs.by_id[hid], 100.0)
        proj = LocalProjection(shape.centroid.y, shape.centroid.x)
        assert proj.project(shape).area == pytest.approx(area, rel=0.01)
        c = hs.by_id[hid].geometry.centroid
        assert not shape.contains(c)  # the place itself is the ring's hole


# --- measures ----------------------------------------------------------------------------
A = 1_772_000_000.0  # a window start (epoch seconds)
MIN = 60.0


def pings(unit: str, where: str, start_min: float, end_min: float, every_s: float = 60.0
          ) -> list[Ping]:
    n = int((end_min - start_min) * 60 / every_s)
    return [Ping(unit, A + start_min * MIN + i * every_s, frozenset({where}))
            for i in range(n + 1)]


def test_day_measures_against_hand_computed_visits() -> None:
    trail = (pings("U1", "h", 10, 30) + pings("U2", "h", 20, 25) + pings("U1", "h", 100, 105)
             + pings("U3", ring_id("h"), 40, 52))
    visits = visits_from_history(trail, [], VisitParams())
    by: dict[str, list[Any]] = {}
    for v in visits:
        by.setdefault(v.hotspot, []).append(v)
    # Visits at h: U1 10-30 (20 min), U2 20-25 (5), U1 100-105 (5); ring: U3 40-52 (12).
    observed = [(A, A + 90 * MIN)]  # 90 of the 120 window minutes observed
    d = day_dose(by["h"], by[ring_id("h")], A, A + 120 * MIN, observed, 15.0, planned=2)
    assert (d.visits, d.qualifying_visits) == (3, 1)
    assert d.patrol_minutes == pytest.approx(25.0)  # 10-30 and 100-105
    assert d.officer_minutes == pytest.approx(30.0)
    assert d.mean_visit_minutes == pytest.approx(10.0)
    assert (d.first_visit, d.last_visit) == (A + 10 * MIN, A + 105 * MIN)
    assert d.observed_minutes == pytest.approx(90.0) and not d.mostly_unobserved
    assert d.compliance == pytest.approx(0.5)
    assert (d.buffer_visits, d.buffer_patrol_minutes) == (1, pytest.approx(12.0))
    # Mostly unobserved: marked, compliance not judged (blank), never 0.
    d2 = day_dose([], [], A, A + 120 * MIN, [(A, A + 30 * MIN)], 15.0, planned=2)
    assert d2.mostly_unobserved and d2.compliance is None
    # Controls have no plan and no compliance; compliance caps at 1.
    assert day_dose(by["h"], [], A, A + 120 * MIN, None, 15.0, None).compliance is None
    assert day_dose(by["h"], [], A, A + 120 * MIN, None, 4.0, 2).compliance == 1.0


def test_panel_rows_and_csv_columns() -> None:
    exp = exp_of()
    day = date(2026, 3, 5)
    alloc = allocate(exp, day)
    a, b = day_bounds(exp, day, TZ)
    t = alloc.treatment[0]
    visits = {t: visits_from_history(
        [Ping("U1", a + i * 60, frozenset({t})) for i in range(16)], [], VisitParams())}
    rows = build_rows(exp, day, alloc, day_doses(exp, alloc, visits, None, a, b), {t: 1}, None)
    assert len(rows) == 7 and {r.arm for r in rows} == {"treatment", "control"}
    row = next(r for r in rows if r.hotspot == t)
    assert (row.qualifying_visits, row.planned_visits, row.compliance) == (1, 2, 0.5)
    assert all(r.planned_visits is None and r.compliance is None for r in rows
               if r.arm == "control")
    text = panel_csv([*rows, PanelRow(**{**row.__dict__, "hotspot": "=cmd()"})])
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert tuple(parsed[0]) == CSV_COLUMNS
    assert parsed[-1]["hotspot"] == "'=cmd()"
    assert next(p for p in parsed if p["hotspot"] == t)["compliance"] == "0.500"


def test_classify_tags_places_and_rings() -> None:
    hs = places()
    lat_in, lon_in = at(0, 0)
    lat_ring, lon_ring = at(0, 100)
    got = classify({"U": [(1.0, lat_in, lon_in, None), (2.0, lat_ring, lon_ring, 5.0)]},
                   hs, ["c", "sq"], 100.0)
    assert [p.inside for p in got] == [frozenset({"c"}), frozenset({"c~ring"})]


# --- inference ---------------------------------------------------------------------------
def test_permutation_interval_recovers_a_known_effect() -> None:
    exp = exp_of()
    days = [date(2026, 3, 2) + timedelta(days=i) for i in range(20)]
    rng = np.random.default_rng(3)
    base = {h: rng.normal(20, 3) for h in exp.places()}
    treated, values = {}, {}
    for d in days:
        a = allocate(exp, d)
        for h in exp.places():
            k = (h, d)
            treated[k] = h in a.treatment
            values[k] = base[h] + rng.normal(0, 2) + (5.0 if treated[k] else 0.0)
    alternatives = []
    for s in range(1, 201):
        alt = {}
        for d in days:
            a = allocate(exp, d, seed=1000 + s)
            alt.update({(h, d): h in a.treatment for h in exp.places()})
        alternatives.append(alt)
    diff = permutation_interval(values, treated, alternatives)
    assert diff.estimate == pytest.approx(mean_difference(values, treated))
    assert diff.low is not None and diff.high is not None and diff.p_value is not None
    assert diff.low < 5.0 < diff.high  # the true effect is inside
    assert diff.low > 0.0  # and no effect is not
    assert diff.p_value < 0.05 and diff.draws == 200
    # With no effect the interval covers 0.
    null = {k: v - (5.0 if treated[k] else 0.0) for k, v in values.items()}
    d0 = permutation_interval(null, treated, alternatives)
    assert d0.low is not None and d0.high is not None and d0.low < 0.0 < d0.high


# --- targets, waypoints, outcomes, report ------------------------------------------------
def test_treated_carry_the_dose_and_controls_never_gap() -> None:
    hs = places()
    exp = parse_experiment(design(blocks=None, pool=["c", "sq"], per_day=1), "x", {"c", "sq"})
    day = date(2026, 3, 5)
    alloc = allocate(exp, day)
    plan = arm_plan(exp, alloc, hs.by_id)
    (t,), (c,) = alloc.treatment, alloc.control
    dosed = plan.hotspot(hs.by_id[t])
    assert (dosed.min_visit_minutes, dosed.max_gap_minutes) == (15.0, 360.0)  # 720 min / 2
    a, b = day_bounds(exp, day, TZ)
    w = dosed.window_at(datetime.fromtimestamp(a + 1, TZ), TZ)
    assert w is not None and (w.start.timestamp(), w.end.timestamp()) == (a, b)
    assert dosed.window_at(datetime.fromtimestamp(a - 1, TZ), TZ) is None
    # A control hotspot long overdue by its own target: no gap, no due, no target.
    ctrl = plan.hotspot(hs.by_id[c])
    assert ctrl is hs.by_id[c]
    window = ctrl.window_at(datetime.fromtimestamp(a + 1, TZ), TZ)
    cov = evaluate_hotspot(ctrl, window, [], (), b - 1, ALWAYS_OBSERVED)
    assert cov.state == "gap"
    assert plan.coverage(cov).state == "inactive" and plan.coverage(cov).gap_kind is None
    present = evaluate_hotspot(ctrl, window, [], ("U1",), b - 1, ALWAYS_OBSERVED)
    assert plan.coverage(present).state == "present"
    row = plan.annotate({"hotspot": c, "target_minutes": 10, "max_gap_minutes": 120})
    assert row["arm"] == "control" and row["target_minutes"] is None
    assert plan.annotate({"hotspot": t})["arm"] == "treatment"


def test_set_waypoints_is_the_owntracks_command() -> None:
    hs = places()
    msg = json.loads(set_waypoints(["c", "sq"], hs.by_id))
    assert msg["_type"] == "cmd" and msg["action"] == "setWaypoints"
    assert msg["waypoints"]["_type"] == "waypoints"
    wps = msg["waypoints"]["waypoints"]
    assert [w["_type"] for w in wps] == ["waypoint", "waypoint"]
    assert wps[0]["rad"] == 50 and 70 <= wps[1]["rad"] <= 72  # half the square's diagonal
    assert {"desc", "lat", "lon", "rad", "tst"} <= set(wps[0])
    assert json.loads(set_waypoints(["c"], hs.by_id))["waypoints"]["waypoints"][0]["tst"] == \
        wps[0]["tst"]  # a place keeps its region identity
    assert command_topic("alice/phone") == "owntracks/alice/phone/cmd"


def test_crimes_counted_inside_and_in_the_ring(tmp_path: Path) -> None:
    path = tmp_path / "crimes.csv"
    lat_in, lon_in = at(0, 0)
    lat_r, lon_r = at(0, 100)
    path.write_text("time,lat,lon,category,harm\n"
                    f"2026-03-05T12:00:00,{lat_in},{lon_in},robbery,365\n"
                    f"2026-03-05T13:00:00Z,{lat_r},{lon_r},theft,10\n"
                    f"2026-03-06T01:00:00+00:00,{lat_in},{lon_in},theft,\n")
    crimes = read_crimes(path, TZ)
    assert crimes[2].harm == 1.0
    got = tally(crimes, places(), ["c", "sq"], 100.0, TZ)
    assert got[("c", date(2026, 3, 5))].events == 1
    assert got[("c", date(2026, 3, 5))].harm == 365
    assert got[("c", date(2026, 3, 5))].buffer_harm == 10
    assert got[("c", date(2026, 3, 6))].events == 1
    path.write_text("time,lat,lon\nnot a time,1,2\n")
    with pytest.raises(ConfigError, match="line 2"):
        read_crimes(path, TZ)
    assert tally([Crime(0.0, 0.0, 0.0, "", 1.0)], places(), ["c"], 100.0, TZ) == {}


def test_summary_html_has_every_section_and_escapes() -> None:
    exp = exp_of(name="<b>Trial</b>")
    rows = []
    for i in range(6):
        day = date(2026, 3, 2) + timedelta(days=i)
        alloc = allocate(exp, day)
        a, b = day_bounds(exp, day, TZ)
        rows += [r.__class__(**{**r.__dict__, "events": 1, "harm": 2.0, "buffer_events": 0,
                                "buffer_harm": 0.0})
                 for r in build_rows(exp, day, alloc, day_doses(exp, alloc, {}, None, a, b), {},
                                    None)]
    page = summary_html(exp, rows, draws=20)
    hs = places()
    pool = {h: hs.by_id["c"] for h in exp.places()}  # every place a circle: priority 1, other
    with_places = summary_html(exp, rows, draws=20, hotspots=pool)
    assert "mean priority" in with_places and "100 %" in with_places
    for title in ("Dose delivered by arm", "Balance of the pool", "Compliance over time",
                  "Treated minus control: dose", "an analysis aid, not a finding"):
        assert title in page
    assert "<b>Trial" not in page and "&lt;b&gt;Trial" in page


def test_window_time_is_local() -> None:
    exp = exp_of()
    a, b = day_bounds(exp, date(2026, 7, 1), TZ)  # BST: 10:00 local is 09:00 UTC
    assert (b - a) == 12 * 3600 and int(a) % 86400 == 9 * 3600
    assert exp.dose.window is not None and exp.dose.window.start == time(10, 0)
    assert yaml.safe_load((ROOT / "config/experiment.demo.yaml").read_text())["buffer_m"] == 100


def test_a_window_not_reached_yet_is_not_judged() -> None:
    d = day_dose([], [], A, A, None, 15.0, planned=2)
    assert d.mostly_unobserved and d.compliance is None and d.window_minutes == 0


def test_the_docs_duckdb_example_runs_on_a_panel(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "docs/experiments.md").read_text()
    code = text.split("<!-- example: tests/unit/test_experiments.py runs this block",
                      1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    exp = exp_of()
    rows = []
    for i in range(3):
        day = date(2026, 3, 2) + timedelta(days=i)
        a, b = day_bounds(exp, day, TZ)
        observed = [] if i == 0 else None  # the first day unobserved: compliance blank
        alloc = allocate(exp, day)
        rows += build_rows(exp, day, alloc, day_doses(exp, alloc, {}, observed, a, b), {}, None)
    (tmp_path / "demo-stations-panel.csv").write_text(panel_csv(rows))
    monkeypatch.chdir(tmp_path)
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/experiments.md", "exec"), scope)
    got = scope["by_arm"].fetchall()
    assert [r[0] for r in got] == ["control", "treatment"]
    assert [r[1] for r in got] == [8, 6]  # the unobserved day is left out
    assert [r[4] for r in got] == [None, 0.0]


def test_the_map_names_say_each_pool_place_arm_and_day() -> None:
    from dashboard.control_room.view import hotspot_layer_data
    from dashboard.experiments.view import arm_lines, label_arms

    hs = places()
    exp = parse_experiment(design(blocks=None, pool=["c", "sq"], per_day=1), "x", {"c", "sq"})
    alloc = allocate(exp, date(2026, 3, 5))
    layer = label_arms(hotspot_layer_data(hs), alloc)
    names = {f["properties"]["id"]: f["properties"]["name"] for f in layer["features"]}
    (t,), (c,) = alloc.treatment, alloc.control
    assert names[t] == f"{hs.by_id[t].name} · treated 2026-03-05"
    assert names[c] == f"{hs.by_id[c].name} · control 2026-03-05"
    assert hs.by_id[t].properties.get("name") != names[t]  # the hotspot set is untouched
    assert arm_lines({"arm": "treatment", "experiment": "t1"}) == [
        ("Experiment", "t1: treated today: the dose is this hotspot's target")]
    assert arm_lines({}) == [] and arm_lines(None) == []


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 8), min_size=1, max_size=5), st.data(),
       st.dates(date(2026, 1, 1), date(2030, 12, 31)), st.integers(0, 2**40))
def test_any_block_design_gives_a_balanced_partition(sizes: list[int], data: st.DataObject,
                                                     day: date, seed: int) -> None:
    blocks, n = {}, 0
    for b, size in enumerate(sizes):
        names = [f"p{n + i}" for i in range(size)]
        n += size
        blocks[f"b{b}"] = {"hotspots": names, "per_day": data.draw(st.integers(1, size))}
    exp = parse_experiment({**design(start="2026-01-01", end="2030-12-31", seed=seed),
                            "blocks": blocks}, "x", None)
    a = allocate(exp, day)
    assert sorted(a.treatment + a.control) == sorted(exp.places())
    assert len(set(a.treatment + a.control)) == n
    for block in exp.design_blocks().values():
        assert len(set(a.treatment) & set(block.hotspots)) == block.per_day
    assert a == allocate(exp, day)
