"""The dashboard's edge on every route: body limit, JSON shape, Origin, framing, notes, CSV.

Each test reproduces what main let through: a 200 MB Dash POST read whole, a 2,000-deep body
answered with 500, a cross-site POST acted on, no framing headers, NUL and U+202E in a
tasking note, a formula in the dosage CSV.
"""

from __future__ import annotations

import contextlib
import csv
import http.client
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from dashboard import ids
from dashboard.coverage import view as views
from patrolwatch.store import Store
from tests.unit.test_auth import CREW_UNIT, basic, callback_request, make_app, sign_in, write_users

pytestmark = pytest.mark.integration
HOTSPOT = "nte-soho-old-compton-st"
DASH = "/_dash-update-component"
BODY_MAX = 64 * 1024  # CONTRACT.md section 4 (dashboard.hardening.BODY_MAX)


@pytest.fixture
def app(redis_url: str, tmp_path: Path) -> Iterator[Any]:
    dash_app = make_app(redis_url, write_users(tmp_path / "users.yaml"))
    yield dash_app
    dash_app.server.extensions["patrolwatch"].publisher.close()


@pytest.fixture
def served(app: Any) -> Iterator[int]:
    """The app on a real HTTP server (werkzeug's, threaded) on a free port."""
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    thread.join(10)


# --- body size ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/taskings", DASH, "/login", "/api/nothing", "/"])
def test_a_declared_oversize_body_gets_413_on_every_route(app: Any, path: str) -> None:
    http = app.server.test_client()
    body = b"{" + b" " * (BODY_MAX + 1) + b"}"
    response = http.post(path, data=body, content_type="application/json",
                         headers=basic("viewer"))
    assert response.status_code == 413
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_body_at_the_limit_is_read(app: Any) -> None:
    http = app.server.test_client()
    sign_in(http, "viewer")
    body = json.dumps(callback_request(app, ids.TICK, 1, {ids.DIGESTS: {}})).encode()
    response = http.post(DASH, data=body + b" " * (BODY_MAX - len(body)),
                         content_type="application/json")
    assert response.status_code == 200


def _chunked_post(port: int, path: str, total: int, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def chunks() -> Iterator[bytes]:
        sent = 0
        while sent < total:
            piece = b" " * min(1 << 20, total - sent)
            sent += len(piece)
            yield piece

    # The server may answer and close before the client has finished sending.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        conn.request("POST", path, body=chunks(), encode_chunked=True,
                     headers={"Content-Type": "application/json", **headers})
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.mark.parametrize("path", [DASH, "/api/taskings"])
def test_a_chunked_body_without_length_is_cut_at_the_limit(app: Any, served: int,
                                                           path: str) -> None:
    sid_client = app.server.test_client()
    sign_in(sid_client, "viewer")
    cookie = sid_client.get_cookie("patrolwatch_session")
    assert cookie is not None
    status = _chunked_post(served, path, 8 * (1 << 20),
                           {"Cookie": f"patrolwatch_session={cookie.value}"})
    assert status == 413


# --- JSON ----------------------------------------------------------------------------------
DEEP = b"[" * 2000 + b"]" * 2000


@pytest.mark.parametrize("body", [DEEP, b'{"output": ' + DEEP + b"}", b"{oops", b"\xff",
                                  b"[]", b"{}", b'{"output": "nope"}', b"null",
                                  b'{"output": "page-content.children", "inputs": 5}'])
def test_bad_json_to_dash_gets_400_never_500(app: Any, body: bytes) -> None:
    http = app.server.test_client()
    sign_in(http, "viewer")
    response = http.post(DASH, data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "error" in response.get_json()


def test_a_real_callback_still_runs(app: Any) -> None:
    http = app.server.test_client()
    sign_in(http, "viewer")
    response = http.post(DASH, json=callback_request(app, ids.TICK, 1, {ids.DIGESTS: {}}))
    assert response.status_code == 200


@pytest.mark.parametrize("body", [DEEP, b"{oops", b'{"unit": ' + b"[" * 100 + b"]" * 100 + b"}"])
def test_bad_json_to_the_api_gets_400(app: Any, body: bytes) -> None:
    http = app.server.test_client()
    response = http.post("/api/taskings", data=body, content_type="application/json",
                         headers=basic("sup"))
    assert response.status_code == 400


# --- Origin --------------------------------------------------------------------------------
@pytest.mark.parametrize("origin", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                    {"Referer": "https://evil.example/page"}])
def test_a_cross_site_post_gets_403_and_does_nothing(app: Any, redis_url: str,
                                                     origin: dict[str, str]) -> None:
    http = app.server.test_client()
    sign_in(http, "sup")
    response = http.post("/api/taskings", json={"unit": CREW_UNIT, "hotspot": HOTSPOT},
                         headers=origin)
    assert response.status_code == 403 and "another site" in response.get_json()["error"]
    body = callback_request(app, ids.TASK_CONFIRM, 1, {
        ids.TASK_PENDING: {"unit": CREW_UNIT, "hotspot": HOTSPOT}, ids.TASK_NOTE: ""})
    assert http.post(DASH, json=body, headers=origin).status_code == 403
    assert Store.from_url(redis_url).taskings() == []
    assert Store.from_url(redis_url).audit_log() == []


def test_a_same_site_post_passes_the_origin_check(app: Any) -> None:
    http = app.server.test_client()
    sign_in(http, "sup")
    response = http.post("/api/taskings", json={"unit": CREW_UNIT, "hotspot": HOTSPOT},
                         headers={"Origin": "http://localhost"})
    # It reaches the handler: the test app's broker is unreachable, so 503, not 403.
    assert response.status_code == 503
    assert http.get("/api/units", headers={"Origin": "https://evil.example"}).status_code == 200


# --- framing -------------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "method"), [
    ("/", "get"), ("/login", "get"), ("/healthz", "get"), ("/api/units", "get"),
    ("/api/nothing", "get"), ("/assets/patrolwatch.css", "get"), (DASH, "post"),
    ("/metrics", "get"),
])
def test_every_response_forbids_framing(app: Any, path: str, method: str) -> None:
    response = getattr(app.server.test_client(), method)(path)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


# --- tasking notes -------------------------------------------------------------------------
@pytest.fixture
def app_with_broker(redis_url: str, mqtt_url: str, tmp_path: Path) -> Iterator[Any]:
    dash_app = make_app(redis_url, write_users(tmp_path / "users.yaml"), mqtt_url=mqtt_url)
    yield dash_app
    dash_app.server.extensions["patrolwatch"].publisher.close()


@pytest.mark.parametrize("note", ["stop\x00here", "abc\u202egnp.exe", "x" * 201, "\x1b[31m"])
def test_a_tasking_note_is_validated_like_a_device_note(app_with_broker: Any, redis_url: str,
                                                        note: str) -> None:
    store = Store.from_url(redis_url)
    http = app_with_broker.server.test_client()
    response = http.post("/api/taskings",
                         json={"unit": CREW_UNIT, "hotspot": HOTSPOT, "note": note},
                         headers=basic("sup"))
    assert response.status_code == 400
    assert "`note`" in response.get_json()["error"]
    assert store.taskings() == []
    # The same tasking with a plain note goes out: the broker and the unit are fine.
    sent = http.post("/api/taskings", json={"unit": CREW_UNIT, "hotspot": HOTSPOT,
                                            "note": "Disorder outside No. 12"},
                     headers=basic("sup"))
    assert sent.status_code == 201
    assert [t["note"] for t in store.taskings()] == ["Disorder outside No. 12"]


# --- CSV -----------------------------------------------------------------------------------
def test_the_dosage_csv_never_starts_a_cell_with_a_formula() -> None:
    snapshot = {"dosage": [
        {"hotspot": "h1", "name": "=HYPERLINK(\"http://evil.example\",\"Soho\")",
         "category": "other", "windows": 1, "qualifying_visits": -1, "planned_visits": 2},
        {"hotspot": "@h2", "name": "+cmd", "category": "-x", "windows": 1}]}
    text = views.dosage_csv(views.dosage_rows(snapshot))
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert "'=HYPERLINK(\"http://evil.example\",\"Soho\")" in cells
    assert "-1" in cells  # a number stays a number
    assert not any(c and (c[0] in "=+@" or (c[0] == "-" and not c[1:].isdigit())) for c in cells)


# --- callbacks fit the limit -------------------------------------------------------------------
def test_clicking_a_unit_sends_no_fleet_to_the_server(app: Any) -> None:
    # The map's unit data was State of this callback: one click carried the whole fleet
    # (108 KB at 500 units), which the 64 KiB limit would refuse. The browser holds every
    # unit's place (assets/live.js), so flying to a clicked unit runs there, with no request.
    spec = next(cb for key, cb in app.callback_map.items()
                if f"{ids.MAP}.viewport" in key and any(ids.UNIT_ITEM in str(i["id"])
                                                       for i in cb["inputs"]))
    assert "callback" not in spec, "no server function: the fly-to runs in the browser"
    assert spec["state"] == [{"id": ids.UNITS_HIDEOUT, "property": "data"}]
