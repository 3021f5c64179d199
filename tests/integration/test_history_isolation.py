"""History work cannot take the live screens with it: it runs in the history pool (other,
low-priority processes); a polygon query over its budget is refused at once with a message
saying how to narrow it, and a full pool at once with 503, while ``/api/units`` keeps
answering. Real Redis, real Parquet, DuckDB, the app's own Flask server."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from dashboard.app import create_app
from dashboard.history_api import POOL_EXTENSION
from dashboard.times import rfc3339
from patrolwatch.archive.archiver import Archiver
from patrolwatch.archive.pool import NICE, HistoryPool
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.core.model import Position
from patrolwatch.roster import load_roster
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from patrolwatch.users import User, hash_password, save_users
from tests.integration.test_history_api import PASSWORD, ROOT, SOHO_POLYGON, basic

pytestmark = pytest.mark.integration
BOROUGH = {"type": "Polygon", "coordinates": [[[-0.20, 51.48], [-0.05, 51.48], [-0.05, 51.54],
                                               [-0.20, 51.54], [-0.20, 51.48]]]}


@pytest.fixture
def app_world(redis_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    users = tmp_path / "users.yaml"
    save_users(users, {"sgt": User("sgt", "supervisor", hash_password(PASSWORD, rounds=4),
                                   None)})
    settings = Settings(redis_url=redis_url, users=users, archive=str(tmp_path / "archive"),
                        hot_hours=1, hotspots=ROOT / "config/hotspots.geojson",
                        units=ROOT / "config/units.yaml", history_max_points=500,
                        history_workers=1, history_queue=0)
    store = Store.from_url(redis_url)
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults(), settings.zone)
    app = create_app(settings, store, load_roster(settings.units), hotspots)
    now = time.time()
    t0 = math.floor(now / 3600) * 3600.0 - 4 * 3600
    # Twenty units walking across Soho for an hour, every 10 s: 7,200 points, archived.
    store.write_batch(Batch(positions=[
        Position(f"CW-{u:03d}", t0 + i * 10.0, 51.5131 + 0.00001 * u, -0.1335 + 0.00001 * i)
        for u in range(20) for i in range(360)]), now=now)
    Archiver(settings, store).run_once(now)
    yield {"app": app, "t0": t0, "store": store}
    pool = app.server.extensions[POOL_EXTENSION]
    assert isinstance(pool, HistoryPool)
    pool.close()
    app.server.extensions["patrolwatch"].publisher.close()


def _keep_asking_units(app: Any, stop: threading.Event, answers: list[Any]) -> None:
    http = app.server.test_client()
    while not stop.is_set():
        r = http.get("/api/units", headers=basic("sgt"))
        answers.append((r.status_code, r.get_json()))


def test_over_budget_and_busy_are_refused_at_once_while_live_screens_answer(
        app_world: dict[str, Any]) -> None:
    app, t0 = app_world["app"], app_world["t0"]
    http = app.server.test_client()
    since, until = quote(rfc3339(t0)), quote(rfc3339(t0 + 3 * 3600))
    stop, answers = threading.Event(), []  # type: ignore[var-annotated]
    screen = threading.Thread(target=_keep_asking_units, args=(app, stop, answers))
    screen.start()
    try:
        # A borough over the period reads every unit-hour: over the budget of 500 points.
        r = http.get(f"/api/presence?since={since}&until={until}"
                     f"&polygon={quote(json.dumps(BOROUGH))}", headers=basic("sgt"))
        assert r.status_code == 413
        message = r.get_json()["error"]
        assert "7,200 positions" in message and "over the 500" in message
        assert "shorter period" in message and "smaller polygon" in message
        assert "hotspot=ID" in message
        pool = app.server.extensions[POOL_EXTENSION]
        assert pool._executor is None  # refused before anything was submitted
        # A frame runs in the pool: another process, at low priority.
        r = http.get(f"/api/replay/frame?at={quote(rfc3339(t0 + 1800))}",
                     headers=basic("sgt"))
        assert r.status_code == 200 and len(r.get_json()["units"]) == 20
        pids = list(pool._executor._processes)
        assert pids and os.getpid() not in pids
        assert all(os.getpriority(os.PRIO_PROCESS, pid) >= NICE for pid in pids)
        # Every place taken (one worker, no queue): the next history request is a 503 now.
        assert pool.places.acquire(blocking=False)
        try:
            r = http.get(f"/api/replay/frame?at={quote(rfc3339(t0 + 1800))}",
                         headers=basic("sgt"))
            assert r.status_code == 503 and "busy" in r.get_json()["error"]
        finally:
            pool.places.release()
        deadline = time.monotonic() + 30
        while len(answers) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        stop.set()
        screen.join()
    assert answers and all(code == 200 and "units" in body for code, body in answers)


def test_a_small_area_within_budget_is_answered_in_the_pool(app_world: dict[str, Any]) -> None:
    app, t0 = app_world["app"], app_world["t0"]
    http = app.server.test_client()
    r = http.get(f"/api/presence?since={quote(rfc3339(t0))}&until="
                 f"{quote(rfc3339(t0 + 100))}&polygon={quote(json.dumps(SOHO_POLYGON))}",
                 headers=basic("sgt"))
    # Ten minutes of twenty units: within the budget, answered (who was there).
    assert r.status_code == 200, r.get_json()
    assert {u["id"] for u in r.get_json()["units"]} <= {f"CW-{u:03d}" for u in range(20)}


def test_a_full_pool_leaves_the_replay_page_working_and_says_so(
        app_world: dict[str, Any]) -> None:
    from dash import no_update

    from dashboard import ids
    from dashboard.replay import actions as replay
    from dashboard.replay.callbacks import CONTROL_TARGETS

    app, t0 = app_world["app"], app_world["t0"]
    deps = app.server.extensions["patrolwatch"]
    pool = app.server.extensions[POOL_EXTENSION]
    now = time.time()
    clock = {"start": t0, "end": t0 + 3 * 3600, "at": t0 + 1800, "playing": True,
             "speed": 60, "follow": None}
    with app.server.test_request_context():
        # Every place taken (one worker, no queue), as while another history request runs.
        assert pool.places.acquire(blocking=False)
        try:
            out = replay.on_control(deps, "sgt", ids.REPLAY_TICK, clock, None, None, None,
                                    None, None, now)
        finally:
            pool.places.release()
        assert set(out) == set(CONTROL_TARGETS)  # every output answered: no callback error
        assert "History is busy" in out["message"] and "Try again in a moment" in out["message"]
        assert all(out[k] is no_update for k in out if k != "message")  # nothing moved
        # The next tick asks again: the frame comes and the message goes.
        out = replay.on_control(deps, "sgt", ids.REPLAY_TICK, clock, None, None, None,
                                None, None, now)
    assert out["message"] == ""
    assert len(out["units"]["features"]) == 20 and out["clock"]["at"] > clock["at"]
