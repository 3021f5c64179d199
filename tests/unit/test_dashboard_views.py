"""The control-room views as plain functions: no browser, no server (except where marked)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dash import no_update
from hypothesis import given
from hypothesis import strategies as st
from plotly.io.json import to_json_plotly

from dashboard import changes, ids
from dashboard.control_room import components as control_room_components
from dashboard.control_room import view as control_room_view
from dashboard.coverage import actions as coverage_actions
from dashboard.coverage import components as coverage_components
from dashboard.coverage import view as coverage_view
from dashboard.deps import Deps
from dashboard.palette import HOTSPOT_LOOK, HOTSPOT_STATES, STATUS_LOOK, hotspot_styles
from dashboard.times import BadTimeError, ago, duration_text, local_clock, parse_rfc3339, rfc3339
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet
from patrolwatch.core.model import Status, UnitState
from patrolwatch.live import unit_states
from patrolwatch.roster import Roster, RosterUnit
from patrolwatch.settings import Settings
from patrolwatch.store import LiveRows, Store

LONDON = ZoneInfo("Europe/London")


def dumps(component: Any) -> str:
    """Serialise Dash components the way Dash sends them to the browser."""
    return str(to_json_plotly(component))
NOW = 1_795_000_000.0  # 2026-11-18T11:06:40Z, a Wednesday (GMT)


def unit(uid: str, status: Status = Status.ON_PATROL, *, lat: float | None = 51.5,
         lon: float | None = -0.12, last_seen: float | None = NOW - 5, stale: bool = False,
         lwt_ts: float | None = None, callsign: str | None = None,
         status_ts: float | None = NOW - 60) -> UnitState:
    return UnitState(id=uid, callsign=callsign or uid, team="Team A", kind="foot",
                     registered=True, lat=lat, lon=lon, ts=last_seen, status=status,
                     status_ts=status_ts, last_seen=last_seen, lwt_ts=lwt_ts, stale=stale)


SQUARE = [[[-0.134, 51.513], [-0.129, 51.513], [-0.129, 51.514], [-0.134, 51.514],
           [-0.134, 51.513]]]


def hotspots() -> HotspotSet:
    features = [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": SQUARE},
         "properties": {"id": "soho", "name": "Soho", "category": "night_time_economy",
                        "priority": 1}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-0.1247, 51.5308]},
         "properties": {"id": "kx", "name": "King's Cross", "category": "transport",
                        "priority": 2, "radius_m": 150}},
    ]
    return HotspotSet.from_features(features, CoverageDefaults(), LONDON)


# --- times -------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-28T14:03:00Z", 1_795_874_580.0),
    ("2026-11-28T14:03:00z", 1_795_874_580.0),
    ("2026-11-28T15:03:00+01:00", 1_795_874_580.0),
    ("2026-11-28T14:03:00.5Z", 1_795_874_580.5),
])
def test_parse_rfc3339(text: str, expected: float) -> None:
    assert parse_rfc3339(text, "since") == expected


@pytest.mark.parametrize(("text", "says"), [
    ("", "empty"), ("yesterday", "not an RFC 3339"), ("2026-11-28T14:03:00", "zone"),
    ("2026-11-28", "zone"), ("1795874580", "not an RFC 3339"), ("2026-13-01T00:00:00Z", "RFC"),
])
def test_parse_rfc3339_rejects_with_a_reason(text: str, says: str) -> None:
    with pytest.raises(BadTimeError, match=says):
        parse_rfc3339(text, "since")


@pytest.mark.parametrize(("ts", "expected"), [
    (1_795_874_580.0, "2026-11-28T14:03:00Z"), (1_795_874_580.25, "2026-11-28T14:03:00.250Z"),
    (None, None), (float("nan"), None),
])
def test_rfc3339(ts: float | None, expected: str | None) -> None:
    assert rfc3339(ts) == expected


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_rfc3339_round_trips_to_the_millisecond(ts: float) -> None:
    text = rfc3339(ts)
    assert text is not None and text.endswith("Z")
    assert abs(parse_rfc3339(text, "t") - ts) < 0.001


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (45.9, "45 s"), (60, "1 min"), (12 * 60 + 59, "12 min"), (3600, "1 h"),
    (72 * 60, "1 h 12 min"), (49 * 3600, "2 d 1 h"), (-5, "0 s"),
])
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_ago_and_local_clock_use_the_zone() -> None:
    assert ago(NOW - 130, NOW) == "2 min ago"
    assert ago(NOW - 3, NOW) == "just now"
    assert ago(None, NOW) == "never"
    summer = 1_782_900_000.0  # 2026-07-01T10:00:00Z, BST
    assert local_clock(summer, LONDON) == "11:00"
    assert local_clock(NOW, LONDON) == "11:06"


# --- units on the map --------------------------------------------------------------------
@pytest.mark.parametrize("status", list(Status))
def test_unit_feature_codes_every_status(status: Status) -> None:
    feature = control_room_view.unit_feature(unit("CW-401", status, lat=51.123456789,
                                                  lon=-0.987654321))
    assert feature["geometry"]["coordinates"] == [-0.98765, 51.12346]
    assert feature["properties"] == {"id": "CW-401", "s": STATUS_LOOK[status].code}


def test_status_codes_are_distinct_and_colours_differ() -> None:
    codes = [look.code for look in STATUS_LOOK.values()]
    colours = [look.colour for look in STATUS_LOOK.values()]
    assert len(set(codes)) == len(codes) == len(Status)
    assert len(set(colours)) == len(colours)


def test_stale_unit_is_flagged_lost() -> None:
    assert control_room_view.unit_feature(unit("A", stale=True))["properties"]["l"] == 1
    assert "l" not in control_room_view.unit_feature(unit("A"))["properties"]


def test_units_geojson_skips_off_duty_and_unplaced_and_draws_emergency_last() -> None:
    units = [unit("E1", Status.EMERGENCY), unit("A1"), unit("OFF", Status.OFF_DUTY),
             unit("NOPOS", lat=None, lon=None), unit("A2", Status.AVAILABLE)]
    features = control_room_view.units_geojson(units)["features"]
    assert [f["properties"]["id"] for f in features] == ["A1", "A2", "E1"]


def test_payload_for_2000_units_is_lean() -> None:
    rng = random.Random(1)
    units = [unit(f"TSG-U{i:04d}", rng.choice(list(Status)), lat=51.3 + rng.random() * 0.4,
                  lon=-0.4 + rng.random() * 0.6, stale=rng.random() < 0.05)
             for i in range(2000)]
    data = control_room_view.units_geojson(units)
    size = control_room_view.payload_bytes(data)
    assert size < 2000 * 110, f"{size} bytes for 2,000 units"
    zipped = len(gzip.compress(json.dumps(data, separators=(",", ":")).encode(), 5))
    assert zipped < 2000 * 15, f"{zipped} gzipped bytes for 2,000 units"
    roster = Roster({"TSG-U0001": RosterUnit(id="TSG-U0001", callsign="U1 Alpha", team="TSG")}, {})
    assert control_room_view.units_hideout(roster)["cs"] == {"TSG-U0001": "U1 Alpha"}


def test_hotspot_layer_data_adds_one_pin_per_hotspot() -> None:
    data = control_room_view.hotspot_layer_data(hotspots())
    pins = [f for f in data["features"] if f["properties"].get("pin")]
    assert [p["properties"]["id"] for p in pins] == ["soho", "kx"]
    assert len(data["features"]) == 4
    kx = next(f for f in pins if f["properties"]["id"] == "kx")
    assert kx["geometry"]["coordinates"] == [-0.1247, 51.5308]


def test_viewport_flies_to_the_point() -> None:
    vp = control_room_view.viewport(51.5, -0.1)
    assert vp["center"] == [51.5, -0.1] and vp["zoom"] == control_room_view.HOTSPOT_ZOOM
    assert vp["transition"] == "flyTo"


# --- counts, lists, banners --------------------------------------------------------------
def test_counts() -> None:
    units = [unit("E", Status.EMERGENCY), unit("P1"), unit("P2", stale=True),
             unit("OFF", Status.OFF_DUTY, stale=True), unit("AV", Status.AVAILABLE),
             unit("NEVER", last_seen=None, stale=True)]
    c = control_room_view.count_units(units)
    assert c.total == 5 and c.not_reporting == 1
    assert c.emergencies == 1
    assert c.lost == 1, "off duty and never-heard units are not lost contact"
    assert c.by_status[Status.ON_PATROL] == 2 and c.by_status[Status.AVAILABLE] == 1
    assert sum(c.by_status.values()) == c.total


def test_counts_from_live_rows_with_roster_and_last_will() -> None:
    roster = Roster({"CW-401": RosterUnit(id="CW-401", callsign="CW401", team="Camden"),
                     "CW-402": RosterUnit(id="CW-402", callsign="CW402", team="Camden")}, {})
    units = unit_states(LiveRows(
        positions={"CW-401": {"ts": NOW - 5, "lat": 51.5, "lon": -0.1},
                   "X-1": {"ts": NOW - 1000, "lat": 51.4, "lon": -0.2},
                   "OT-1": {"ts": NOW - 5, "lat": 51.4, "lon": -0.2, "source": "owntracks"}},
        statuses={"CW-401": {"status": "EMERGENCY", "ts": NOW - 30}},
        seen={"CW-401": NOW - 5, "X-1": NOW - 1000, "OT-1": NOW - 5},
        lwt={"OT-1": NOW - 2}), roster=roster, now=NOW, stale_after_s=180)
    c = control_room_view.count_units(units)
    assert (c.total, c.emergencies, c.lost, c.not_reporting) == (3, 1, 2, 1)
    x1 = next(u for u in units if u.id == "X-1")
    assert x1.team == "unregistered"
    lost = control_room_view.lost_rows(units, LONDON)
    assert [r.id for r in lost] == ["OT-1", "X-1"], "most recent loss first"
    assert lost[0].why.startswith("device went offline")
    assert lost[1].last_seen == NOW - 1000 and lost[1].at == "10:50"


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["E1", "LOST", "A1", "B2"]),
    ("b2", ["B2"]),
    ("team a", ["E1", "LOST", "A1", "B2"]),
    ("emergency", ["E1"]),
    ("lost", ["LOST"]),
    ("available", ["B2"]),
    ("patrol a1", ["A1"]),
    ("nobody", []),
])
def test_unit_search(query: str, expected: list[str]) -> None:
    units = [unit("B2", Status.AVAILABLE), unit("A1"), unit("LOST", stale=True),
             unit("E1", Status.EMERGENCY)]
    rows, more = control_room_view.unit_rows(units, query)
    assert [r.id for r in rows] == expected and more == 0


def test_unit_list_is_capped_and_says_how_many_more() -> None:
    units = [unit(f"U{i:03d}") for i in range(130)]
    rows, more = control_room_view.unit_rows(units, "", limit=100)
    assert len(rows) == 100 and more == 30
    rendered = control_room_components.render_units(rows, more)
    assert "and 30 more" in dumps(rendered[-1])
    first = dumps(rendered[0])
    assert f'"data-ts":"{NOW - 5:.3f}"' in first, "the browser writes '2 min ago' from data-ts"


def test_alarms_name_the_unit_earliest_first() -> None:
    units = [unit("E2", Status.EMERGENCY, status_ts=NOW - 10, callsign="U12"),
             unit("E1", Status.EMERGENCY, status_ts=NOW - 300, callsign="U11", stale=True),
             unit("P")]
    alarms = control_room_view.alarms(units, LONDON)
    assert [a.callsign for a in alarms] == ["U11", "U12"]
    assert alarms[0].lost and alarms[0].since == NOW - 300 and alarms[0].since_clock == "11:01"
    children, cls = control_room_components.render_alarms(alarms)
    assert "pw-hidden" not in cls
    text = dumps(children)
    assert "U11" in text and "LOST CONTACT" in text
    assert "pw-hidden" in control_room_components.render_alarms([])[1]


# --- coverage ----------------------------------------------------------------------------
def snapshot(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "evaluated_at": NOW - 2, "feed_fresh": True,
        "hotspots": {"soho": {"id": "soho", "state": "gap", "active": True},
                     "kx": {"id": "kx", "state": "covered", "active": True}},
        "gaps": [], "dosage": [], "predictability": [],
    }
    base.update(extra)
    return base


@pytest.mark.parametrize(("snap", "expected"), [
    (None, {"soho": "no_data", "kx": "no_data"}),
    (snapshot(), {"soho": "gap", "kx": "covered"}),
    (snapshot(evaluated_at=NOW - 600), {"soho": "no_data", "kx": "no_data"}),
    (snapshot(hotspots={"soho": {"state": "present"}}), {"soho": "present", "kx": "no_data"}),
])
def test_hotspot_states(snap: dict[str, Any] | None, expected: dict[str, str]) -> None:
    assert coverage_view.hotspot_states(snap, ["soho", "kx"], NOW, max_age_s=60) == expected


def test_every_state_has_a_style_and_inactive_is_outline_only() -> None:
    styles = hotspot_styles()
    assert set(styles) == set(HOTSPOT_STATES) == {
        "present", "covered", "due", "gap", "inactive", "no_data"}
    assert styles["inactive"]["fillOpacity"] == 0
    assert styles["gap"]["color"] == HOTSPOT_LOOK["gap"].colour == "#dc2626"
    assert styles["gap"]["weight"] > styles["covered"]["weight"]
    assert "dashArray" in styles["no_data"]


def gap(hotspot: str, priority: int, overdue: float, kind: str = "presence_gap",
        since: float | None = None) -> dict[str, Any]:
    return {"hotspot": hotspot, "name": hotspot.title(), "kind": kind,
            "since": NOW - overdue * 60 if since is None else since,
            "priority": priority, "overdue_minutes": overdue, "lat": 51.5, "lon": -0.1,
            "suggested_units": [{"id": "CW-401", "distance_m": 1234.0, "eta_s": 881.0},
                                {"id": "X", "distance_m": 80.0, "eta_s": 57.0}]}


def test_gap_rows_most_urgent_first_with_readable_text() -> None:
    snap = snapshot(gaps=[gap("b", 2, 90), gap("a", 1, 5), gap("c", 1, 12),
                          gap("s", 1, 1, kind="shortfall")],
                    hotspots={"c": {"state": "gap", "reference": NOW - 72 * 60},
                              "s": {"state": "gap", "window_end": NOW + 540}})
    rows = coverage_view.gap_rows(snap, NOW, LONDON, {"CW-401": "CW401"})
    assert [r.hotspot for r in rows] == ["c", "a", "s", "b"]
    assert rows[0].headline == "no presence since 09:54", "counted from the reference"
    assert rows[0].absent_since == NOW - 72 * 60 and rows[0].overdue_since == NOW - 12 * 60
    assert rows[1].headline == "gap since 11:01", "no reference: say when the gap opened"
    assert rows[2].headline == "no qualifying visit this window"
    assert rows[2].detail == "window ends 11:15"
    # By ETA in whole minutes: 57 s is "1 min"; distances to the nearest 100 m.
    assert [(s.callsign, s.eta, s.distance) for s in rows[0].suggestions] == [
        ("X", "1 min", "100 m"), ("CW401", "15 min", "1.2 km")]
    text = dumps(coverage_components.render_gaps(rows[:1]))
    assert '"data-form":"for"' in text and '"data-form":"overdue"' in text


def jitter(snap: dict[str, Any], n: int, now: float) -> dict[str, Any]:
    out = json.loads(json.dumps(snap))
    out["evaluated_at"] = now
    for g in out["gaps"]:
        g["overdue_minutes"] = (now - g["since"]) / 60
        for s in g["suggested_units"]:
            s["distance_m"] -= 4 * n
            s["eta_s"] -= 3 * n
    return out


def test_gap_rows_do_not_change_with_the_clock_or_a_few_metres() -> None:
    """The evaluator's next pass (later, units a little nearer) is the same list on screen."""
    base = snapshot(gaps=[gap("a", 1, 5), gap("c", 1, 12), gap("b", 2, 90)],
                    hotspots={"c": {"state": "gap", "reference": NOW - 72 * 60}})
    first = coverage_view.gap_rows(base, NOW, LONDON, {})
    for n in range(1, 6):
        later = NOW + 7 * n
        again = coverage_view.gap_rows(jitter(base, n, later), later, LONDON, {})
        assert changes.digest(again) == changes.digest(first), n


@pytest.mark.parametrize("overdue", [(5, 12), (12, 5), (7, 7)])
def test_gap_order_ties_and_equal_priorities_are_stable(overdue: tuple[int, int]) -> None:
    """Equal priority: the longest open first; equal since: by hotspot id, in any input order."""
    a, c = gap("a", 1, overdue[0]), gap("c", 1, overdue[1])
    for order in ([a, c], [c, a]):
        rows = coverage_view.gap_rows(snapshot(gaps=order), NOW, LONDON, {})
        expected = ["a", "c"] if overdue[0] >= overdue[1] else ["c", "a"]
        assert [r.hotspot for r in rows] == expected


def test_gap_list_buttons_carry_the_hotspot_id() -> None:
    rows = coverage_view.gap_rows(snapshot(gaps=[gap("soho", 1, 3)]), NOW, LONDON, {})
    button = coverage_components.render_gaps(rows)[0]
    assert button.id == {"type": ids.GAP_ITEM, "hotspot": "soho"}
    assert "No gaps" in dumps(coverage_components.render_gaps([]))


def test_hotspot_detail_lines() -> None:
    entry = {"state": "covered", "window_start": NOW - 3600, "window_end": NOW + 7200,
             "last_visit_end": NOW - 1800, "visits_in_window": 4,
             "qualifying_visits_in_window": 2, "patrol_minutes_in_window": 31.5,
             "officer_minutes_in_window": 48.0, "present_units": ["CW-401"],
             "target_minutes": 10, "max_gap_minutes": 60, "overdue_minutes": 0}
    soho = hotspots().by_id["soho"]
    detail = coverage_view.hotspot_detail(soho, entry, "covered", now=NOW, zone=LONDON,
                                  callsigns={"CW-401": "CW401"})
    lines = dict(detail.lines)
    assert lines["Active window"] == "10:06–13:06"
    assert lines["Present now"] == "CW401"
    assert lines["Last qualifying visit"] == "ended 10:36 (30 min ago)"
    assert lines["Visits this window"] == "4 (2 of ≥ 10 min)"
    assert lines["Patrol-minutes"] == "32 min (officer-minutes 48)"
    assert "Overdue by" not in lines
    empty = coverage_view.hotspot_detail(soho, None, "no_data", now=NOW, zone=LONDON, callsigns={})
    assert dict(empty.lines)["Coverage"] == "no evaluation yet"


def test_timeline_figure_has_one_bar_per_visit_in_local_time() -> None:
    visits = [{"unit": "CW-401", "start": NOW - 7200, "end": NOW - 6300, "minutes": 15.0,
               "qualifying": True},
              {"unit": "X", "start": NOW - 600, "end": NOW - 300, "minutes": 5.0,
               "qualifying": False}]
    fig = coverage_components.timeline_figure(visits, NOW - 86400, NOW, LONDON, {"CW-401": "CW401"})
    bars = {trace.name: trace for trace in fig.data}
    assert list(bars["qualifying visit"].y) == ["CW401"]
    assert bars["qualifying visit"].base[0] == "2026-11-18 09:06:40"
    assert bars["qualifying visit"].x[0] == 900_000
    assert list(bars["shorter visit"].y) == ["X"]
    empty = coverage_components.timeline_figure([], NOW - 86400, NOW, LONDON, {})
    assert not empty.data and "No presence" in empty.layout.annotations[0].text


def test_dosage_rows_and_csv() -> None:
    snap = snapshot(dosage=[{"hotspot": "soho", "name": "Soho", "category": "night_time_economy",
                             "windows": 3, "qualifying_visits": 5, "planned_visits": 6,
                             "patrol_minutes": 81.26, "officer_minutes": 120.0,
                             "compliance": 5 / 6},
                            {"hotspot": "kx", "name": "King's Cross, \"KX\"",
                             "category": "transport", "windows": 1, "qualifying_visits": 0,
                             "planned_visits": 4, "patrol_minutes": 0,
                             "officer_minutes": 0, "compliance": None}])
    rows = coverage_view.dosage_rows(snap)
    assert rows[0]["compliance_pct"] == 83 and rows[0]["patrol_minutes"] == 81.3
    assert rows[0]["category"] == "night time economy"
    assert rows[1]["compliance_pct"] is None
    parsed = list(csv.reader(io.StringIO(coverage_view.dosage_csv(rows))))
    assert parsed[0][:3] == ["hotspot_id", "Hotspot", "Category"]
    assert parsed[2][1] == 'King\'s Cross, "KX"' and parsed[2][-1] == ""
    assert coverage_view.dosage_rows(None) == []


def dose(hid: str, priority: int, compliance: float | None, **extra: Any) -> dict[str, Any]:
    return {"hotspot": hid, "name": hid.title(), "category": "night_time_economy",
            "priority": priority, "windows": 2, "qualifying_visits": 3, "delivered_visits": 3,
            "planned_visits": 4, "patrol_minutes": 41.26, "officer_minutes": 60.0,
            "window_minutes": 480.0, "compliance": compliance, **extra}


def test_dosage_view_shows_shift_and_week_and_observed_time_when_reported() -> None:
    from dashboard.coverage.dosage import dosage_view

    snap = snapshot(dosage=[dose("soho", 2, 0.75), dose("kx", 1, 0.95, observed_minutes=300.0,
                                                        mostly_unobserved=False)],
                    dosage_shift=[dose("soho", 2, None, observed_minutes=100.0,
                                       mostly_unobserved=True)],
                    dosage_periods={"week": [NOW - 86400, NOW], "shift": [NOW - 3600, NOW]})
    view = dosage_view(snap, LONDON)
    assert [line.hotspot for line in view.lines] == ["kx", "soho"], "priority 1 first"
    kx, soho = view.lines
    assert kx.week is not None and kx.week.level == "good" and kx.week.observed_minutes == 300
    assert kx.shift is None, "no shift row: shown as no window"
    assert soho.week is not None and soho.week.level == "fair"
    assert soho.week.observed_minutes is None, "older evaluators send no observed time"
    assert soho.shift is not None and soho.shift.mostly_unobserved
    assert soho.shift.level == "none", "a mostly unobserved window is not a failure"
    text = dumps(coverage_components.render_dosage(view))
    assert "mostly unobserved" in text and "observed 300 of 480 min" in text
    assert "This shift" in text and "Operation week" in text and "3 of 4 visits" in text
    rows = coverage_view.dosage_rows(snap)
    assert rows[1]["observed_minutes"] == 300 and rows[0]["shift_compliance_pct"] is None
    header = coverage_view.dosage_csv(rows).splitlines()[0].split(",")
    assert header[:9] == ["hotspot_id", "Hotspot", "Category", "Windows", "Qualifying visits",
                          "Planned", "Patrol-min", "Officer-min", "Compliance %"]
    assert "Observed-min" in header and "Shift compliance %" in header


def test_predictability_warning_only_when_flagged() -> None:
    assert coverage_view.predictability_lines(snapshot()) == []
    assert "pw-hidden" in coverage_components.render_predictability([])[1]
    lines = coverage_view.predictability_lines(snapshot(predictability=[
        {"hotspot": "soho", "name": "Soho", "days": ["2026-11-16", "2026-11-17", "2026-11-18"],
         "typical_time": "22:10"}]))
    assert lines == ["Soho: first visit around 22:10 on 2026-11-16, 2026-11-17, 2026-11-18"]
    assert "pw-hidden" not in coverage_components.render_predictability(lines)[1]


def test_digest_is_stable_and_sensitive() -> None:
    a = [control_room_view.UnitRow("A", "A", "T", "On patrol", "#000", False, NOW)]
    b = [control_room_view.UnitRow("A", "A", "T", "Available", "#000", False, NOW)]
    assert changes.digest(a) == changes.digest(list(a))
    assert changes.digest(a) != changes.digest(b)


# --- handlers without a browser ----------------------------------------------------------
def deps_for(store: Store, **settings: Any) -> Deps:
    return Deps(settings=Settings(**settings), store=store, roster=Roster.empty(),
                         hotspots=hotspots())


@pytest.mark.parametrize(("trigger", "picked", "clicked", "expected_pick", "flies"), [
    ({"type": ids.GAP_ITEM, "hotspot": "kx"}, None, None, "kx", True),
    (ids.HOTSPOT_PICK, "soho", None, "soho", True),
    (ids.HOTSPOTS, None, {"properties": {"id": "kx", "pin": 1}}, "kx", False),
    ({"type": ids.GAP_ITEM, "hotspot": "gone"}, None, None, no_update, False),
    (None, None, None, no_update, False),
])
def test_select_hotspot(trigger: Any, picked: str | None, clicked: dict[str, Any] | None,
                        expected_pick: Any, flies: bool) -> None:
    deps = deps_for(Store.from_url("redis://127.0.0.1:9/0"))
    pick, vp, _tab = coverage_actions.select_hotspot(deps, trigger, picked, clicked)
    assert pick == expected_pick
    assert (vp is not no_update) == flies
    if flies:
        assert vp["center"] == list(deps.hotspots.by_id[expected_pick].centroid)


def test_a_window_ending_at_midnight_reads_24_00() -> None:
    midnight = datetime(2026, 12, 1, tzinfo=LONDON).timestamp()
    entry = {"state": "covered", "window_start": midnight, "window_end": midnight + 86_400}
    soho = hotspots().by_id["soho"]
    detail = coverage_view.hotspot_detail(soho, entry, "covered", now=midnight + 600, zone=LONDON,
                                  callsigns={})
    assert dict(detail.lines)["Active window"] == "00:00–24:00"  # always active, not 00:00–00:00


def test_a_gap_with_brief_visits_does_not_say_no_presence() -> None:
    """Visits shorter than M since the reference are presence: the headline says so."""
    ref = NOW - 3 * 3600
    snapshot = {"hotspots": {"soho": {"reference": ref}},
                "gaps": [{"hotspot": "soho", "name": "Soho", "kind": "presence_gap",
                          "since": ref + 7200, "priority": 1, "visits_in_window": 3,
                          "last_presence_end": NOW - 600, "suggested_units": []}]}
    row = coverage_view.gap_rows(snapshot, NOW, LONDON, {})[0]
    assert row.headline.startswith("no qualifying visit since"), row.headline
    assert "last brief presence" in row.detail, row.detail
    snapshot["gaps"][0]["last_presence_end"] = ref - 60  # nothing since: no presence at all
    assert coverage_view.gap_rows(snapshot, NOW, LONDON, {})[0].headline.startswith(
        "no presence since")
