"""The HTTP API: pure serialisers, then every route through Flask's test client on real Redis."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from dashboard import api
from dashboard.app import create_app, create_app_from_settings
from dashboard.times import BadTimeError, parse_rfc3339
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet
from patrolwatch.core.model import Position, Status, StatusChange, UnitState
from patrolwatch.errors import ConfigError
from patrolwatch.roster import Roster, RosterUnit
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Stats, Store

LONDON = ZoneInfo("Europe/London")
NOW = 1_795_000_000.0
RFC3339_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$"

FEATURES = [
    {"type": "Feature",
     "geometry": {"type": "Polygon", "coordinates": [[[-0.134, 51.513], [-0.129, 51.513],
                                                      [-0.129, 51.514], [-0.134, 51.514],
                                                      [-0.134, 51.513]]]},
     "properties": {"id": "soho", "name": "Soho", "category": "night_time_economy",
                    "priority": 1, "borough": "Westminster"}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-0.1247, 51.5308]},
     "properties": {"id": "kx", "name": "King's Cross", "category": "transport", "priority": 2,
                    "radius_m": 150}},
]


def hotspots() -> HotspotSet:
    return HotspotSet.from_features(FEATURES, CoverageDefaults(), LONDON)


# --- serialisers -------------------------------------------------------------------------
def test_unit_json_has_the_contract_fields() -> None:
    u = UnitState(id="CW-401", callsign="CW401", team="Camden", kind="foot", registered=True,
                  lat=51.5, lon=-0.1, acc=8.0, ts=1_795_874_580.0, status=Status.AT_SCENE,
                  last_seen=1_795_874_580.0, stale=False, source="owntracks")
    assert api.unit_json(u) == {
        "id": "CW-401", "callsign": "CW401", "team": "Camden", "status": "AT_SCENE",
        "lat": 51.5, "lon": -0.1, "acc": 8.0, "ts": "2026-11-28T14:03:00Z", "stale": False,
        "source": "owntracks"}


def test_trail_json_oldest_first_as_given() -> None:
    points = [(1_795_874_580.0, 51.5, -0.1, 5.0), (1_795_874_581.5, 51.6, -0.2, None)]
    assert api.trail_json(points) == {"points": [
        {"ts": "2026-11-28T14:03:00Z", "lat": 51.5, "lon": -0.1},
        {"ts": "2026-11-28T14:03:01.500Z", "lat": 51.6, "lon": -0.2}]}


@pytest.mark.parametrize(("args", "expected"), [
    ({}, (NOW - 3600, NOW)),
    ({"since": "2026-11-18T10:00:00Z"}, (parse_rfc3339("2026-11-18T10:00:00Z", "s"), NOW)),
    ({"until": "2026-11-18T10:00:00Z"},
     (parse_rfc3339("2026-11-18T09:00:00Z", "s"), parse_rfc3339("2026-11-18T10:00:00Z", "u"))),
])
def test_time_window(args: dict[str, str], expected: tuple[float, float]) -> None:
    assert api.time_window(args, NOW, 3600, 86400, 31 * 86400.0) == expected


@pytest.mark.parametrize(("args", "says"), [
    ({"since": "soon"}, "since='soon' is not an RFC 3339"),
    ({"since": "2026-11-18T10:00:00"}, "add Z"),
    ({"since": "2026-11-18T10:00:00Z", "until": "2026-11-18T09:00:00Z"}, "after until"),
    ({"since": "2026-11-01T00:00:00Z", "until": "2026-11-18T00:00:00Z"}, "longer than 24 h"),
])
def test_time_window_rejects(args: dict[str, str], says: str) -> None:
    with pytest.raises(BadTimeError, match=says):
        api.time_window(args, NOW, 3600, 86400, 31 * 86400.0)


def test_hotspots_json_without_snapshot_is_no_data_and_keeps_the_file_properties() -> None:
    out = api.hotspots_json(hotspots().hotspots, None, NOW, 60)
    assert out["type"] == "FeatureCollection" and len(out["features"]) == 2
    soho = out["features"][0]["properties"]
    assert soho["borough"] == "Westminster" and soho["state"] == "no_data"
    assert soho["active"] is None and soho["last_visit_end"] is None
    assert soho["visits_in_window"] is None and soho["patrol_minutes_in_window"] is None
    assert out["features"][1]["geometry"] == FEATURES[1]["geometry"]
    assert "state" not in FEATURES[0]["properties"], "the loaded features are not changed"


@pytest.mark.parametrize(("redis_ok", "last", "status", "age"), [
    (True, NOW - 5, "ok", 5.0),
    (True, NOW - 500, "degraded", 500.0),
    (True, None, "degraded", None),
    (False, None, "degraded", None),
])
def test_health_json(redis_ok: bool, last: float | None, status: str, age: float | None) -> None:
    stats = Stats(accepted_total=10, rejected_total=2, duplicates_total=0,
                  rejected_by_reason={}, last_message_ts=last) if redis_ok else None
    out = api.health_json(redis_ok, stats, NOW, 180)
    assert out == {"status": status, "redis": redis_ok, "last_message_age_s": age,
                   "accepted_total": 10 if redis_ok else 0, "rejected_total": 2 if redis_ok else 0}


# --- routes on real Redis ----------------------------------------------------------------
def make_client(redis_url: str) -> tuple[FlaskClient, Store]:
    store = Store.from_url(redis_url)
    roster = Roster({"CW-401": RosterUnit(id="CW-401", callsign="CW401", team="Camden"),
                     "CW-409": RosterUnit(id="CW-409", callsign="CW409", team="Camden")}, {})
    app = create_app(Settings(redis_url=redis_url, open_access=True), store, roster, hotspots())
    return app.server.test_client(), store


@pytest.fixture
def client(redis_url: str) -> Iterator[tuple[FlaskClient, Store]]:
    yield make_client(redis_url)


def coverage(now: float) -> dict[str, Any]:
    return {
        "evaluated_at": now, "feed_fresh": True,
        "hotspots": {
            "soho": {"id": "soho", "active": True, "state": "gap", "last_visit_end": now - 5000,
                     "visits_in_window": 2, "patrol_minutes_in_window": 14.5},
            "kx": {"id": "kx", "active": False, "state": "inactive", "last_visit_end": None,
                   "visits_in_window": 0, "patrol_minutes_in_window": 0.0},
        },
        "gaps": [
            {"hotspot": "kx", "name": "King's Cross", "kind": "shortfall", "since": now - 600,
             "priority": 2, "overdue_minutes": 50, "lat": 51.53, "lon": -0.12,
             "suggested_units": []},
            {"hotspot": "soho", "name": "Soho", "kind": "presence_gap", "since": now - 5000,
             "priority": 1, "overdue_minutes": 23.3, "lat": 51.51, "lon": -0.13,
             "suggested_units": [{"id": "CW-401", "distance_m": 350.2, "eta_s": 250.1}]},
        ],
        "dosage": [], "predictability": [],
    }



@pytest.mark.integration
def test_healthz_ok_and_degraded_by_feed_age(client: tuple[FlaskClient, Store]) -> None:
    http, store = client
    body = http.get("/healthz").get_json()
    assert body == {"status": "degraded", "redis": True, "last_message_age_s": None,
                    "accepted_total": 0, "rejected_total": 0}
    now = time.time()
    store.write_batch(Batch(positions=[Position("CW-401", now - 1, 51.5, -0.1)]), now=now)
    body = http.get("/healthz").get_json()
    assert body["status"] == "ok" and body["redis"] is True and body["accepted_total"] == 1
    assert 0 <= body["last_message_age_s"] < 60
    assert "CW-401" not in json.dumps(body), "no personal data"


@pytest.mark.integration
def test_healthz_with_redis_down_is_degraded_not_500() -> None:
    http, _ = make_client("redis://127.0.0.1:9/0")
    response = http.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "degraded", "redis": False,
                                   "last_message_age_s": None, "accepted_total": 0,
                                   "rejected_total": 0}
    units = http.get("/api/units")
    assert units.status_code == 503
    assert "unreachable at 127.0.0.1:9" in units.get_json()["error"]


@pytest.mark.integration
def test_units(client: tuple[FlaskClient, Store]) -> None:
    http, store = client
    now = time.time()
    store.write_batch(Batch(
        positions=[Position("CW-401", now - 2, 51.5, -0.1, acc=7.0),
                   Position("X-9", now - 900, 51.4, -0.2, source="owntracks")],
        statuses=[StatusChange("CW-401", now - 3, Status.EMERGENCY)]), now=now)
    units = {u["id"]: u for u in http.get("/api/units").get_json()["units"]}
    assert set(units) == {"CW-401", "X-9"}, "CW-409 is on the roster but never reported"
    cw = units["CW-401"]
    assert set(cw) == {"id", "callsign", "team", "status", "lat", "lon", "acc", "ts", "stale",
                       "source"}
    assert (cw["callsign"], cw["team"], cw["status"], cw["stale"]) == (
        "CW401", "Camden", "EMERGENCY", False)
    assert cw["ts"].endswith("Z") and abs(parse_rfc3339(cw["ts"], "ts") - (now - 2)) < 0.001
    x9 = units["X-9"]
    assert (x9["team"], x9["status"], x9["stale"], x9["source"]) == (
        "unregistered", "ON_PATROL", True, "owntracks")


@pytest.mark.integration
def test_trail(client: tuple[FlaskClient, Store]) -> None:
    http, store = client
    now = time.time()
    store.write_batch(Batch(positions=[Position("CW-401", now - t, 51.5 + t / 1e4, -0.1)
                                       for t in (7200, 1800, 60, 10)]), now=now)
    points = http.get("/api/units/CW-401/trail").get_json()["points"]
    assert [p["lat"] for p in points] == [51.68, 51.506, 51.501], "last hour, oldest first"
    since = api.rfc3339(now - 8000)
    until = api.rfc3339(now - 1000)
    older = http.get(f"/api/units/CW-401/trail?since={since}&until={until}").get_json()
    assert [p["lat"] for p in older["points"]] == [52.22, 51.68]
    assert http.get("/api/units/CW-409/trail").get_json() == {
        "points": [], "total": 0, "truncated": False}, "roster, no points"


@pytest.mark.integration
@pytest.mark.parametrize(("url", "status", "says"), [
    ("/api/units/CW-401/trail?since=yesterday", 400, "not an RFC 3339"),
    ("/api/units/CW-401/trail?since=2026-11-28T10:00:00", 400, "add Z"),
    ("/api/units/bad%20id!/trail", 400, "invalid unit id"),
    ("/api/units/" + "x" * 33 + "/trail", 400, "invalid unit id"),
    ("/api/units/NOBODY/trail", 404, "unknown unit"),
    ("/api/hotspots/nowhere/visits", 404, "unknown hotspot"),
    ("/api/hotspots/soho/visits?since=tuesday", 400, "not an RFC 3339"),
    ("/api/nothing", 404, "no such API route"),
])
def test_bad_input_is_a_json_4xx(client: tuple[FlaskClient, Store], url: str, status: int,
                                 says: str) -> None:
    http, _ = client
    response = http.get(url)
    assert response.status_code == status
    assert says in response.get_json()["error"]


@pytest.mark.integration
def test_hotspots_with_snapshot(client: tuple[FlaskClient, Store]) -> None:
    http, store = client
    now = time.time()
    store.write_coverage(coverage(now))
    body = http.get("/api/hotspots").get_json()
    assert body["type"] == "FeatureCollection"
    props = {f["properties"]["id"]: f["properties"] for f in body["features"]}
    assert props["soho"]["state"] == "gap" and props["soho"]["active"] is True
    assert props["soho"]["visits_in_window"] == 2
    assert props["soho"]["patrol_minutes_in_window"] == 14.5
    assert props["soho"]["last_visit_end"].endswith("Z")
    assert props["kx"]["state"] == "inactive" and props["kx"]["last_visit_end"] is None
    assert props["kx"]["radius_m"] == 150
    store.write_coverage({**coverage(now), "evaluated_at": now - 3600})
    stale = http.get("/api/hotspots").get_json()
    assert {f["properties"]["state"] for f in stale["features"]} == {"no_data"}


@pytest.mark.integration
def test_gaps_most_urgent_first(client: tuple[FlaskClient, Store]) -> None:
    http, store = client
    missing = http.get("/api/gaps")
    assert missing.status_code == 503 and "never" in missing.get_json()["error"]
    now = time.time()
    store.write_coverage(coverage(now))
    gaps = http.get("/api/gaps").get_json()["gaps"]
    assert [g["hotspot"] for g in gaps] == ["soho", "kx"]
    assert gaps[0] == {"hotspot": "soho", "name": "Soho", "kind": "presence_gap",
                       "since": api.rfc3339(now - 5000), "priority": 1,
                       "suggested_units": [{"id": "CW-401", "distance_m": 350.2,
                                            "eta_s": 250.1}]}
    store.write_coverage({**coverage(now), "evaluated_at": now - 3600})
    assert http.get("/api/gaps").status_code == 503


@pytest.mark.integration
def test_visits(client: tuple[FlaskClient, Store]) -> None:
    http, store = client
    now = time.time()
    store.apply_visit_delta([], [
        {"unit": "CW-401", "hotspot": "soho", "start": now - 7200, "end": now - 6300, "pings": 15},
        {"unit": "CW-409", "hotspot": "soho", "start": now - 600, "end": now - 420, "pings": 4},
        {"unit": "CW-409", "hotspot": "soho", "start": now - 3 * 86400, "end": now - 3 * 86000,
         "pings": 4},
    ])
    visits = http.get("/api/hotspots/soho/visits").get_json()["visits"]
    assert [(v["unit"], v["minutes"], v["qualifying"]) for v in visits] == [
        ("CW-401", 15.0, True), ("CW-409", 3.0, False)]
    assert set(visits[0]) == {"unit", "start", "end", "minutes", "qualifying"}
    assert visits[0]["start"] == api.rfc3339(now - 7200)
    since = api.rfc3339(now - 4 * 86400)
    week = http.get(f"/api/hotspots/soho/visits?since={since}").get_json()["visits"]
    assert len(week) == 3
    assert http.get("/api/hotspots/kx/visits").get_json() == {"visits": []}


@pytest.mark.integration
def test_large_json_is_gzipped_for_clients_that_ask(client: tuple[FlaskClient, Store]) -> None:
    http, store = client
    now = time.time()
    store.write_batch(Batch(positions=[Position(f"U{i}", now, 51.5, -0.1) for i in range(50)]),
                      now=now)
    plain = http.get("/api/units")
    zipped = http.get("/api/units", headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(zipped.data)) == plain.get_json()


# --- start-up ----------------------------------------------------------------------------
def test_app_refuses_to_start_on_an_invalid_hotspot_file(tmp_path: Path) -> None:
    bad = tmp_path / "hotspots.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-0.1, 51.5]},
         "properties": {"id": "no-radius", "name": "X", "category": "other", "priority": 1}}]}))
    settings = Settings(hotspots=bad, units=tmp_path / "none.yaml")
    with pytest.raises(ConfigError) as info:
        create_app_from_settings(settings)
    assert all(p.startswith(f"{bad}:") for p in info.value.problems)
    assert any("no-radius" in p for p in info.value.problems)
    with pytest.raises(ConfigError, match="hotspots"):
        create_app_from_settings(Settings(hotspots=tmp_path / "missing.geojson"))


def test_app_starts_without_redis_and_serves_the_page(tmp_path: Path) -> None:
    spots = tmp_path / "hotspots.geojson"
    spots.write_text(json.dumps({"type": "FeatureCollection", "features": FEATURES}))
    settings = Settings(hotspots=spots, units=tmp_path / "none.yaml", open_access=True,
                        redis_url="redis://127.0.0.1:9/0")
    http = create_app_from_settings(settings).server.test_client()
    page = http.get("/")
    assert page.status_code == 200 and b"PatrolWatch" in page.data
    assert http.get("/healthz").get_json()["redis"] is False
