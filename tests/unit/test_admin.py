"""The admin page: who read whose history, and recent rejections, for admins only.

The trail route records its reads through ``record_read``; the Dash callback behind the page
answers an admin's cookie and refuses a viewer's or a supervisor's with 403.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dashboard import ids
from patrolwatch.core.messages import Reason, Rejection
from patrolwatch.core.model import Position
from patrolwatch.store import Batch, Store
from tests.unit.test_auth import (
    CREW_UNIT,
    basic,
    callback_request,
    make_app,
    post_callback,
    sign_in,
    write_users,
)

LONDON = ZoneInfo("Europe/London")


# --- view models (pure) ----------------------------------------------------------------------
def test_access_rows_newest_first_with_whose_and_period() -> None:
    from dashboard.admin import view

    entries = [
        {"ts": 1_780_000_000.0, "user": "sup", "what": "trail", "unit": "CW-401",
         "since": 1_779_996_400.0, "until": 1_780_000_000.0},
        {"ts": 1_780_000_100.0, "user": "admin", "what": "replay_frame",
         "at": "2026-05-28T21:30:00Z"},
        {"ts": 1_780_000_050.0, "user": "x" * 500, "what": "presence", "hotspot": "h1"},
    ]
    rows = view.access_rows(entries, LONDON)
    assert [r.what for r in rows] == ["replay frame", "who was here", "trail"]
    assert rows[0].period.startswith("at Thu 28 May 22:30")
    assert rows[2].whose == "unit CW-401" and " – " in rows[2].period
    assert rows[1].whose == "hotspot h1" and rows[1].period == "—"
    assert len(rows[1].user) == view.TEXT_SHOWN
    named = view.access_rows(entries, LONDON, hotspots={"h1": "Soho, Old Compton St"},
                             callsigns={"CW-401": "CN401"})
    assert named[1].whose == "hotspot Soho, Old Compton St"
    assert named[2].whose == "unit CN401 (CW-401)"


def test_a_drawn_area_is_said_in_words_never_as_geojson() -> None:
    from dashboard.admin import view

    square = {"type": "Polygon", "coordinates": [[[-0.135, 51.51], [-0.125, 51.51],
                                                   [-0.125, 51.515], [-0.135, 51.515],
                                                   [-0.135, 51.51]]]}
    old = {"ts": 1.0, "user": "sup", "what": "presence", "polygon": json.dumps(square)}
    [row] = view.access_rows([old], LONDON)
    assert row.whose.startswith("drawn area ≈ 0.39 km² near 51.5125, -0.1300"), row.whose
    assert "coordinates" not in row.whose and "{" not in row.whose
    cut = {**old, "polygon": json.dumps(square)[:40]}  # older entries kept 500 characters
    assert view.access_rows([cut], LONDON)[0].whose == "a drawn area"


@pytest.mark.integration
def test_the_admin_page_pages_through_the_access_log(app: Any, redis_url: str) -> None:
    from dashboard.admin.actions import admin_tables

    store = Store.from_url(redis_url)
    base = time.time() - 10_000
    for i in range(230):
        store.log_access({"ts": base + i, "user": "sup", "what": "replay", "n": i})
    store.log_access({"ts": base - 5, "user": "sup", "what": "trail", "unit": "CW-402"})
    deps = app.server.extensions["patrolwatch"]
    cursor: Any = None
    pages = []
    for trigger in [None, *[ids.ADMIN_OLDER] * 5]:
        table, _, cursor, said, last = admin_tables(deps, trigger, cursor)
        pages.append((json.dumps(table.to_plotly_json(), default=str), said, last))
    assert pages[0][1] == "Newest reads" and not pages[0][2]
    assert "CW-402" in pages[4][0] and pages[4][2]  # the trail read under 230 replay reads
    assert "CW-402" not in "".join(p[0] for p in pages[:4])
    _, _, cursor, said, _ = admin_tables(deps, ids.ADMIN_NEWEST, cursor)
    assert said == "Newest reads" and cursor["before"] is None


def test_rejection_rows_cut_hostile_text() -> None:
    from dashboard.admin import view

    rows = view.rejection_rows([{"ts": 1.0, "reason": "invalid_json", "topic": "patrol/a/x",
                                 "detail": "d", "payload": "{" * 1000}], LONDON)
    assert rows[0].reason == "invalid_json" and len(rows[0].payload) == view.TEXT_SHOWN


# --- the app ---------------------------------------------------------------------------------
@pytest.fixture
def app(redis_url: str, tmp_path: Path) -> Iterator[Any]:
    dash_app = make_app(redis_url, write_users(tmp_path / "users.yaml"))
    yield dash_app
    dash_app.server.extensions["patrolwatch"].publisher.close()


@pytest.mark.integration
def test_a_trail_read_is_in_the_access_log(app: Any, redis_url: str) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    store.write_batch(Batch(positions=[Position(CREW_UNIT, now - 60, 51.5, -0.13)]), now=now)
    response = app.server.test_client().get(f"/api/units/{CREW_UNIT}/trail",
                                            headers=basic("viewer"))
    assert response.status_code == 200 and len(response.get_json()["points"]) == 1
    [entry] = store.access_log()
    assert (entry["user"], entry["what"], entry["unit"]) == ("viewer", "trail", CREW_UNIT)
    assert entry["until"] - entry["since"] == pytest.approx(3600.0)
    assert abs(entry["ts"] - now) < 60


@pytest.mark.integration
@pytest.mark.parametrize(("user", "status"), [("admin", 200), ("viewer", 403), ("sup", 403),
                                              ("crew1", 403)])
def test_only_an_admin_gets_the_access_log(app: Any, redis_url: str, user: str,
                                           status: int) -> None:
    store = Store.from_url(redis_url)
    store.log_access({"ts": time.time(), "user": "sup", "what": "trail", "unit": "CW-402",
                      "since": time.time() - 3600, "until": time.time()})
    store.write_batch(Batch(rejections=[Rejection(Reason.INVALID_JSON, "not JSON at 1",
                                                  "patrol/CW-402/position", b"{oops")]))
    http = app.server.test_client()
    sign_in(http, user)
    response = post_callback(http, callback_request(app, ids.ADMIN_TICK, 1))
    assert response.status_code == status
    text = json.dumps(response.get_json())
    if status == 200:
        assert "CW-402" in text and "trail" in text
        assert "invalid_json" in text and "patrol/CW-402/position" in text and "{oops" in text
    else:
        assert "CW-402" not in text


@pytest.mark.integration
@pytest.mark.parametrize(("user", "shown"), [("admin", True), ("viewer", False), ("sup", False)])
def test_the_admin_page_and_link_are_for_admins(app: Any, user: str, shown: bool) -> None:
    http = app.server.test_client()
    sign_in(http, user)
    page = json.dumps(post_callback(http, callback_request(app, ids.URL, "/admin")).get_json())
    assert (ids.ADMIN_ACCESS in page) is shown
    assert ("Admins only" in page) is not shown
    home = json.dumps(post_callback(http, callback_request(app, ids.URL, "/")).get_json())
    assert (ids.ADMIN_LINK in home) is shown
