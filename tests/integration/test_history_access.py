"""History reads are logged once per scope, bounded to retention, and readable by admins.

Real Redis; the app is called as the browser and API clients call it (HTTP Basic).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard import ids
from dashboard.replay import actions as replay
from dashboard.times import rfc3339
from patrolwatch.store import Store
from tests.unit.test_auth import basic, make_app, write_users

pytestmark = pytest.mark.integration
SOHO = "nte-soho-old-compton-st"
USERS = (("viewer", "viewer", None), ("sup", "supervisor", None), ("admin", "admin", None),
         (" =HYPERLINK(\"evil.example\")", "supervisor", None))


@pytest.fixture
def app(redis_url: str, tmp_path: Path) -> Iterator[Any]:
    dash_app = make_app(redis_url, write_users(tmp_path / "users.yaml", USERS))
    yield dash_app
    dash_app.server.extensions["patrolwatch"].publisher.close()


def whats(redis_url: str) -> list[str]:
    return [e["what"] for e in Store.from_url(redis_url).access_log(1000)]


@pytest.mark.parametrize("path", [
    "/api/reports/operation?since=0001-01-01T00:00:00Z&until=0001-01-02T00:00:00Z",
    "/api/reports/operation?since=9999-12-30T00:00:00Z&until=9999-12-31T00:00:00Z",
    "/api/reports/operation?format=csv&since=2025-01-01T00:00:00Z&until=2025-01-02T00:00:00Z",
    "/api/presence?hotspot=" + SOHO + "&since=0001-01-01T00:00:00Z&until=0001-01-02T00:00:00Z",
    "/api/presence?hotspot=" + SOHO + "&since=9999-12-30T00:00:00Z&until=9999-12-31T00:00:00Z",
    "/api/units/CW-401/trail?since=0001-01-01T00:00:00Z&until=0001-01-01T01:00:00Z",
    "/api/replay/frame?at=9999-12-31T00:00:00Z",
    "/api/hotspots/" + SOHO + "/visits?since=0001-01-01T00:00:00Z",
])
def test_periods_outside_retention_answer_400_with_a_reason(app: Any, path: str) -> None:
    answer = app.server.test_client().get(path, headers=basic("sup"))
    assert answer.status_code == 400, (path, answer.status_code, answer.get_data(as_text=True))
    assert any(w in answer.get_json()["error"] for w in ("retention", "future")), answer.get_json()


def _active_window(redis_url: str, start: float) -> None:
    Store.from_url(redis_url).write_coverage(
        {"ts": time.time(), "hotspots": {SOHO: {"window_start": start, "active": True}}})


def test_viewers_see_the_current_window_and_older_visits_are_logged_history(
        app: Any, redis_url: str) -> None:
    now = time.time()
    _active_window(redis_url, now - 1800)
    http = app.server.test_client()
    assert http.get(f"/api/hotspots/{SOHO}/visits", headers=basic("viewer")).status_code == 200
    in_window = f"/api/hotspots/{SOHO}/visits?since={rfc3339(now - 600)}"
    assert http.get(in_window, headers=basic("viewer")).status_code == 200
    assert whats(redis_url) == []  # the live picture is no history
    older = f"/api/hotspots/{SOHO}/visits?since={rfc3339(now - 5 * 86_400)}"
    refused = http.get(older, headers=basic("viewer"))
    assert refused.status_code == 403 and "current active window" in refused.get_json()["error"]
    assert whats(redis_url) == []
    assert http.get(older, headers=basic("sup")).status_code == 200
    [entry] = Store.from_url(redis_url).access_log()
    assert (entry["what"], entry["user"], entry["hotspot"]) == ("visits", "sup", SOHO)


def test_the_hotspot_panel_shows_viewers_the_window_and_logs_supervisors_once(
        app: Any, redis_url: str) -> None:
    from dashboard.coverage import actions as coverage

    deps = app.server.extensions["patrolwatch"]
    now = time.time()
    _active_window(redis_url, now - 1800)
    with app.server.test_request_context():
        for _ in range(5):  # the panel refreshes every few seconds
            coverage.hotspot_panel(deps, SOHO, time.time(), can_task=False, user="viewer",
                                   history=False)
        assert whats(redis_url) == []
        for _ in range(5):
            coverage.hotspot_panel(deps, SOHO, time.time(), can_task=True, user="sup",
                                   history=True)
    assert whats(redis_url) == ["hotspot_panel"]


def _clock(now: float, **extra: Any) -> dict[str, Any]:
    return {"start": now - 3600, "end": now, "at": now - 3600, "playing": True, "speed": 60,
            "follow": None, **extra}


def test_a_replay_session_logs_one_entry_per_period_not_per_frame(
        app: Any, redis_url: str) -> None:
    deps = app.server.extensions["patrolwatch"]
    now = time.time()
    clock = _clock(now)
    for _ in range(30):  # thirty frames of playback
        out = replay.on_control(deps, "sup", ids.REPLAY_TICK, clock, None, None, None, None,
                                None, now)
        clock = out["clock"]
    follow = replay.on_control(deps, "sup", ids.REPLAY_UNITS, clock, None, None,
                               {"properties": {"id": "CW-401"}}, None, None, now)["clock"]
    for _ in range(10):
        follow = replay.on_control(deps, "sup", ids.REPLAY_TICK, follow, None, None, None,
                                   None, None, now)["clock"]
    assert sorted(whats(redis_url)) == ["replay", "replay_follow"]


@pytest.mark.parametrize("forged", [
    {"follow": "A" * 2025}, {"follow": "not-a-unit-anywhere"}, {"at": 1e300},
    {"start": -62135596800.0}, {"at": float("nan")}, {"end": 253402214400.0}, {"start": "x"}])
def test_a_forged_replay_clock_is_refused_and_never_logged(
        app: Any, redis_url: str, forged: dict[str, Any]) -> None:
    deps = app.server.extensions["patrolwatch"]
    now = time.time()
    out = replay.on_control(deps, "sup", ids.REPLAY_TICK, _clock(now, **forged), None, None,
                            None, None, None, now)
    assert out["message"].startswith("Replay restarted"), out["message"]
    log = Store.from_url(redis_url).access_log()
    assert all(len(str(e)) < 400 and "A" * 50 not in str(e) for e in log), log


def test_admins_page_through_the_access_log_and_filter_and_export_it(
        app: Any, redis_url: str) -> None:
    store = Store.from_url(redis_url)
    base = float(int(time.time()) - 1000)  # whole seconds: RFC 3339 filters hit exactly
    for i in range(250):
        store.log_access({"ts": base + i, "user": "sup" if i % 2 else "other",
                          "what": "replay", "since": rfc3339(base), "until": rfc3339(base + 60)})
    http = app.server.test_client()
    assert http.get("/api/access-log", headers=basic("sup")).status_code == 403
    seen: list[float] = []
    before = ""
    while True:
        got = http.get(f"/api/access-log?limit=100{before}", headers=basic("admin")).get_json()
        seen.extend(e["ts"] for e in got["entries"])
        if got["next_before"] is None:
            break
        before = f"&before={got['next_before']}"
    assert len(seen) == 250 and seen == sorted(seen, reverse=True) and len(set(seen)) == 250
    mine = http.get("/api/access-log?user=sup&limit=1000", headers=basic("admin")).get_json()
    assert len(mine["entries"]) == 125 and {e["user"] for e in mine["entries"]} == {"sup"}
    window = (f"/api/access-log?since={rfc3339(base + 100)}&until={rfc3339(base + 149)}"
              "&limit=1000")
    assert len(http.get(window, headers=basic("admin")).get_json()["entries"]) == 50
    for bad in ("format=xml", "since=0001-01-01T00:00:00Z", "before=nan", "limit=0"):
        assert http.get(f"/api/access-log?{bad}", headers=basic("admin")).status_code == 400


def test_the_access_log_csv_escapes_a_hostile_user_name(app: Any, redis_url: str) -> None:
    http = app.server.test_client()
    now = time.time()
    hostile = USERS[3][0]
    path = f"/api/units/CW-401/trail?since={rfc3339(now - 600)}"
    http.get(path, headers=basic(hostile))
    answer = http.get("/api/access-log?format=csv", headers=basic("admin"))
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    cells = [c for row in csv.reader(io.StringIO(answer.get_data(as_text=True))) for c in row]
    assert any(hostile in c for c in cells)
    assert all(not c.lstrip().startswith(("=", "+", "-", "@")) for c in cells), cells
