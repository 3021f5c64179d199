"""Replay frames, presence, the report and trails over HTTP: the same answer hot or archived.

Real Redis, real Parquet files, real DuckDB; PATROL_HOT_HOURS is 1 so the archiver moves the
data of a few hours ago while the test watches.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from dashboard.app import create_app
from patrolwatch.archive.archiver import Archiver
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.roster import load_roster
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from patrolwatch.users import User, hash_password, save_users

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
SOHO = "nte-soho-old-compton-st"
SOHO_POLYGON = {"type": "Polygon", "coordinates": [[
    [-0.13356, 51.513789], [-0.133804, 51.513087], [-0.12954, 51.512511],
    [-0.129296, 51.513213], [-0.13356, 51.513789]]]}
T0 = math.floor(1_764_000_000 / 3600) * 3600.0  # replaced per test by a recent hour


def basic(name: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()}


@pytest.fixture
def world(redis_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    users = tmp_path / "users.yaml"
    save_users(users, {n: User(n, r, hash_password(PASSWORD, rounds=4), None) for n, r in (
        ("sgt", "supervisor"), ("viewer", "viewer"), ("root", "admin"))})
    settings = Settings(redis_url=redis_url, users=users, archive=str(tmp_path / "archive"),
                        hot_hours=1, hotspots=ROOT / "config/hotspots.geojson",
                        units=ROOT / "config/units.yaml", trail_max_points=50)
    store = Store.from_url(redis_url)
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults(), settings.zone)
    app = create_app(settings, store, load_roster(settings.units), hotspots)
    import time

    now = time.time()
    t0 = math.floor(now / 3600) * 3600.0 - 4 * 3600  # four whole hours ago
    # CW-401 walks east along Old Compton Street for 30 minutes, every 10 s; CW-402 stands
    # at Trafalgar Square; CW-403 walks through Soho while on a refreshment break.
    positions = []
    for i in range(180):
        frac = i / 179
        positions.append(Position("CW-401", t0 + 600 + i * 10.0, 51.51315 - 0.0004 * frac,
                                  -0.1332 + 0.0035 * frac, acc=8.0))
        positions.append(Position("CW-402", t0 + 600 + i * 10.0, 51.5080, -0.1281))
        positions.append(Position("CW-403", t0 + 600 + i * 10.0, 51.51300, -0.1320 + 1e-5 * i))
    statuses = [StatusChange("CW-401", t0, Status.ON_PATROL),
                StatusChange("CW-403", t0, Status.REFRESHMENT),
                StatusChange("CW-402", t0 + 900, Status.EMERGENCY)]
    store.write_batch(Batch(positions=positions, statuses=statuses), now=now)
    for ts in range(int(t0) + 500, int(t0) + 2800, 60):  # as the evaluator: once a minute
        state = "gap" if ts < t0 + 600 else "present" if ts < t0 + 2400 else "covered"
        store.record_hotspot_states(ts, {SOHO: state}, True)
    store.acknowledge_emergency("CW-402", "sgt", t0 + 900, t0 + 960)
    # The evaluator's stored visit at Soho (what hotspot= answers from).
    store.apply_visit_delta([], [{"unit": "CW-401", "hotspot": SOHO, "start": t0 + 600,
                                  "end": t0 + 2390, "pings": 180}])
    yield {"app": app, "http": app.server.test_client(), "store": store, "t0": t0,
           "now": now, "settings": settings}
    app.server.extensions["patrolwatch"].publisher.close()


def answers(world: dict[str, Any]) -> dict[str, Any]:
    """Ask every history route the same questions; return the answers."""
    http, t0 = world["http"], world["t0"]
    iso = lambda ts: __import__("dashboard.times", fromlist=["rfc3339"]).rfc3339(ts)  # noqa: E731
    since, until = quote(iso(t0)), quote(iso(t0 + 3 * 3600))
    out: dict[str, Any] = {}
    for name, at in (("before", t0 + 590), ("moving", t0 + 1200), ("after", t0 + 2600)):
        r = http.get(f"/api/replay/frame?at={quote(iso(at))}", headers=basic("sgt"))
        assert r.status_code == 200, r.get_json()
        out[f"frame_{name}"] = r.get_json()
    poly = quote(json.dumps(SOHO_POLYGON))
    r = http.get(f"/api/presence?since={since}&until={until}&polygon={poly}",
                 headers=basic("sgt"))
    assert r.status_code == 200, r.get_json()
    out["presence_polygon"] = r.get_json()
    r = http.get(f"/api/presence?since={since}&until={until}&hotspot={SOHO}",
                 headers=basic("sgt"))
    out["presence_hotspot"] = r.get_json()
    r = http.get(f"/api/units/CW-401/trail?since={since}&until={until}", headers=basic("sgt"))
    out["trail"] = r.get_json()
    out["report_csv"] = ""
    for table in ("shifts", "gaps", "taskings", "emergencies", "daily"):
        r = http.get(f"/api/reports/operation?since={since}&until={until}&format=csv"
                     f"&table={table}", headers=basic("root"))
        assert r.status_code == 200
        out["report_csv"] += r.get_data(as_text=True)
    return out


def test_frame_presence_trail_and_report_are_the_same_hot_or_archived(
        world: dict[str, Any], tmp_path: Path) -> None:
    hot = answers(world)
    frame = hot["frame_moving"]
    units = {u["id"]: u for u in frame["units"]}
    assert units["CW-401"]["status"] == "ON_PATROL" and not units["CW-401"]["stale"]
    assert units["CW-402"]["status"] == "EMERGENCY"
    assert {"id": SOHO, "state": "present"} in frame["hotspots"]
    assert {"id": SOHO, "state": "gap"} in hot["frame_before"]["hotspots"]
    # CW-401 moved between frames; before its first fix it is not on the frame at all.
    assert "CW-401" not in {u["id"] for u in hot["frame_before"]["units"]}
    after = {u["id"]: u for u in hot["frame_after"]["units"]}
    assert after["CW-401"]["lon"] > units["CW-401"]["lon"] and after["CW-401"]["stale"]
    # Who was in Soho: CW-401 (not CW-403, on refreshment; not CW-402, elsewhere).
    rows = hot["presence_polygon"]["units"]
    assert [r["id"] for r in rows] == ["CW-401"] and rows[0]["minutes"] > 10
    assert [r["id"] for r in hot["presence_hotspot"]["units"]] == ["CW-401"]
    assert hot["trail"]["total"] == 180 and hot["trail"]["truncated"]
    assert len(hot["trail"]["points"]) == 50
    assert "CW-402" in hot["report_csv"]

    store = world["store"]
    result = Archiver(world["settings"], store).run_once(world["now"])
    assert result.points == 540 and result.states == 39
    assert store.trail_count("CW-401") == 0
    assert answers(world) == hot


def test_history_routes_check_roles_inputs_and_log_every_read(world: dict[str, Any]) -> None:
    http, store = world["http"], world["store"]
    for path in ("/api/replay/frame", "/api/presence?hotspot=" + SOHO,
                 "/api/reports/operation"):
        assert http.get(path, headers=basic("viewer")).status_code == 403
        assert http.get(path).status_code == 401
    bad = {
        "/api/replay/frame?at=yesterday": "RFC 3339",
        "/api/replay/frame?at=2001-01-01T00:00:00Z": "retention",
        "/api/presence": "exactly one",
        "/api/presence?hotspot=nowhere": "unknown hotspot",
        "/api/presence?polygon=%7B": "not JSON",
        "/api/presence?polygon=" + quote(json.dumps({"type": "Point", "coordinates": [0, 0]})):
            "Polygon",
        "/api/presence?hotspot=" + SOHO + "&since=2026-01-01T00:00:00Z&until=2026-03-01T00:00:00Z":
            "retention",
        "/api/reports/operation?format=pdf": "html or csv",
    }
    for path, reason in bad.items():
        r = http.get(path, headers=basic("sgt"))
        assert r.status_code == 400, (path, r.status_code)
        assert reason in r.get_json()["error"], (path, r.get_json())
    before = len(store.access_log())
    assert http.get("/api/replay/frame", headers=basic("sgt")).status_code == 200
    assert http.get("/api/presence?hotspot=" + SOHO, headers=basic("root")).status_code == 200
    r = http.get("/api/reports/operation", headers=basic("sgt"))
    assert r.status_code == 200 and "<svg" in r.get_data(as_text=True)
    log = store.access_log()
    assert len(log) == before + 3
    assert [(e["user"], e["what"]) for e in log[:3]] == [
        ("sgt", "report"), ("root", "presence"), ("sgt", "replay_frame")]
    assert log[1]["hotspot"] == SOHO
