"""Sign-in, sessions, roles on every API route and on the Dash callbacks (real Redis).

A forged callback request is built exactly as the browser would send it, from the app's
own callback map, and sent with a signed-in user's session cookie.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from dashboard import ids, login
from dashboard.app import create_app
from dashboard.publisher import Publisher
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet, load_hotspots
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.errors import ConfigError
from patrolwatch.roster import load_roster
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from patrolwatch.users import User, hash_password, save_users

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
CREW_UNIT = "CW-401"
USERS = (("viewer", "viewer", None), ("sup", "supervisor", None), ("crew1", "crew", CREW_UNIT),
         ("admin", "admin", None), ("unitless", "crew", "CW-402"))


def write_users(path: Path, rows: tuple[tuple[str, Any, str | None], ...] = USERS) -> Path:
    save_users(path, {name: User(name, role, hash_password(PASSWORD, rounds=4), unit)
                      for name, role, unit in rows})
    return path


def hotspot_set() -> HotspotSet:
    return load_hotspots(ROOT / "config/hotspots.geojson", CoverageDefaults(),
                         Settings().zone)


def make_app(redis_url: str, users: Path, mqtt_url: str = "mqtt://127.0.0.1:9",
             **extra: Any) -> Any:
    settings = Settings(redis_url=redis_url, users=users, mqtt_url=mqtt_url,  # type: ignore[arg-type]
                        hotspots=ROOT / "config/hotspots.geojson",
                        units=ROOT / "config/units.yaml", **extra)
    # No broker listens on the discard port: a supervisor's action fails fast and says so.
    return create_app(settings, Store.from_url(redis_url), load_roster(settings.units),
                      hotspot_set(), Publisher(mqtt_url, connect_timeout_s=0.5))


@pytest.fixture
def app(redis_url: str, tmp_path: Path) -> Iterator[Any]:
    dash_app = make_app(redis_url, write_users(tmp_path / "users.yaml"))
    yield dash_app
    dash_app.server.extensions["patrolwatch"].publisher.close()


def basic(name: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def sign_in(http: FlaskClient, name: str, password: str = PASSWORD,
            next_path: str = "") -> Any:
    page = http.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token, page
    return http.post("/login", data={"name": name, "password": password,
                                     "csrf": token.group(1), "next": next_path})


def callback_request(app: Any, input_id: str, value: Any,
                     states: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the body the browser posts to /_dash-update-component for this input."""
    states = states or {}
    for key, cb in app.callback_map.items():
        if not any(i["id"] == input_id or f'"type":"{input_id}"' in i["id"]
                   for i in cb["inputs"]):
            continue
        outputs = [{"id": o.split(".")[0], "property": o.split(".")[1].split("@")[0]}
                   for o in key.strip(".").split("...")]
        inputs = [{"id": i["id"], "property": i["property"],
                   "value": value if i["id"] == input_id else None} for i in cb["inputs"]]
        state = [{"id": s["id"], "property": s["property"], "value": states.get(s["id"])}
                 for s in cb["state"]]
        return {"output": key, "outputs": outputs if len(outputs) > 1 else outputs[0],
                "inputs": inputs, "state": state,
                "changedPropIds": [f"{input_id}.{inputs[0]['property']}"]}
    raise AssertionError(f"no callback takes {input_id}")


def post_callback(http: FlaskClient, body: dict[str, Any]) -> Any:
    return http.post("/_dash-update-component", json=body)


# --- pure rules ------------------------------------------------------------------------------
CREW = User("c", "crew", "$2b$x", CREW_UNIT)
SUP = User("s", "supervisor", "$2b$x")


@pytest.mark.parametrize(("raw", "user", "expected"), [
    (None, SUP, "/"), ("", SUP, "/"), ("/", SUP, "/"), ("/api/gaps", SUP, "/api/gaps"),
    ("/?tab=x", SUP, "/?tab=x"), ("//evil.example/", SUP, "/"), ("/\\evil.example", SUP, "/"),
    ("https://evil.example/", SUP, "/"), ("javascript:alert(1)", SUP, "/"),
    ("/login?next=/", SUP, "/"), ("/logout", SUP, "/"), ("/ok\r\nSet-Cookie:x", SUP, "/"),
    (None, CREW, "/crew"), ("/", CREW, "/crew"), ("/api/units", CREW, "/crew"),
    ("/crew", CREW, "/crew"),
])
def test_next_is_followed_only_to_local_pages_the_user_may_open(
        raw: str | None, user: User, expected: str) -> None:
    assert login.safe_next(raw, user) == expected


# --- open install ----------------------------------------------------------------------------
@pytest.mark.integration
@pytest.mark.parametrize("content", [None, "", "users: []\n"])
def test_without_users_the_dashboard_refuses_to_start(redis_url: str, tmp_path: Path,
                                                       content: str | None) -> None:
    users = tmp_path / "users.yaml"
    if content is not None:
        users.write_text(content)
    with pytest.raises(ConfigError) as refused:
        make_app(redis_url, users)
    message = str(refused.value)
    assert "patrolwatch user add NAME --role admin" in message
    assert "PATROL_OPEN_ACCESS=true" in message


@pytest.mark.integration
def test_open_access_is_an_explicit_opt_in(redis_url: str, tmp_path: Path) -> None:
    dash_app = make_app(redis_url, tmp_path / "none.yaml", open_access=True)
    http = dash_app.server.test_client()
    assert http.get("/api/units").status_code == 200
    assert http.get("/api/taskings").get_json() == {"taskings": []}
    assert http.get("/").status_code == 200
    assert "Sign-in is off" in http.get("/login").get_data(as_text=True)
    dash_app.server.extensions["patrolwatch_open_access"].set()


@pytest.mark.integration
def test_an_emptied_users_file_locks_everyone_out(app: Any, tmp_path: Path) -> None:
    http = app.server.test_client()
    assert http.get("/api/units", headers=basic("viewer")).status_code == 200
    users = tmp_path / "users.yaml"
    users.write_text("users: []\n")
    stat = users.stat()
    os.utime(users, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert http.get("/api/units").status_code == 401
    assert http.post("/api/taskings", json={"unit": CREW_UNIT, "hotspot": "x"}).status_code == 401


# --- the API -----------------------------------------------------------------------------------
@pytest.mark.integration
@pytest.mark.parametrize("route", ["/api/units", "/api/hotspots", "/api/taskings",
                                   "/api/units/CW-401/trail", "/api/nothing"])
def test_api_needs_a_user_once_users_exist(app: Any, route: str) -> None:
    http = app.server.test_client()
    response = http.get(route)
    assert response.status_code == 401
    assert "sign in" in response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert http.get(route, headers=basic("viewer", "wrong password")).status_code == 401
    assert http.get(route, headers=basic("nobody")).status_code == 401


@pytest.mark.integration
@pytest.mark.parametrize(("user", "status"), [("viewer", 200), ("sup", 200), ("admin", 200),
                                              ("crew1", 403)])
def test_api_roles_with_http_basic(app: Any, user: str, status: int) -> None:
    http = app.server.test_client()
    for route in ("/api/units", "/api/hotspots", "/api/taskings"):
        response = http.get(route, headers=basic(user))
        assert response.status_code == status, route
        if status == 403:
            assert "role 'crew' may not" in response.get_json()["error"]


@pytest.mark.integration
def test_viewer_may_not_post_a_tasking_and_nothing_is_recorded(app: Any, redis_url: str) -> None:
    http = app.server.test_client()
    response = http.post("/api/taskings", headers=basic("viewer"),
                         json={"unit": CREW_UNIT, "hotspot": "nte-soho-old-compton-st"})
    assert response.status_code == 403
    assert "needs supervisor" in response.get_json()["error"]
    crew = http.post("/api/taskings", headers=basic("crew1"),
                     json={"unit": CREW_UNIT, "hotspot": "nte-soho-old-compton-st"})
    assert crew.status_code == 403
    assert Store.from_url(redis_url).taskings() == []


@pytest.mark.integration
def test_healthz_and_login_stay_public(app: Any) -> None:
    http = app.server.test_client()
    assert http.get("/healthz").status_code == 200
    page = http.get("/login")
    assert page.status_code == 200 and b"Sign in" in page.data
    assert http.get("/").headers["Location"] == "/login?next=/"


# --- sign-in and sessions --------------------------------------------------------------------
@pytest.mark.integration
def test_sign_in_sets_a_safe_session_cookie_and_lands_by_role(app: Any) -> None:
    http = app.server.test_client()
    response = sign_in(http, "viewer", next_path="/api/units")
    assert response.status_code == 302 and response.headers["Location"] == "/api/units"
    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith("patrolwatch_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert http.get("/api/units").status_code == 200, "the session cookie signs API calls too"
    assert http.get("/").status_code == 200

    crew = app.server.test_client()
    landed = sign_in(crew, "crew1", next_path="//evil.example/")
    assert landed.headers["Location"] == "/crew"
    assert crew.get("/").headers["Location"] == "/crew", "crew may not open the control room"
    assert crew.get("/api/units").status_code == 403
    assert crew.get("/crew").status_code == 200


@pytest.mark.integration
def test_wrong_password_is_refused_on_the_page(app: Any) -> None:
    http = app.server.test_client()
    response = sign_in(http, "sup", "not the password")
    assert response.status_code == 401
    assert "Wrong user name or password" in response.get_data(as_text=True)
    assert http.get("/api/units").status_code == 401


@pytest.mark.integration
def test_a_forged_login_without_the_form_token_is_refused(app: Any) -> None:
    http = app.server.test_client()
    response = http.post("/login", data={"name": "sup", "password": PASSWORD, "csrf": "x"})
    assert response.status_code == 400 and "expired" in response.get_data(as_text=True)
    assert http.get("/api/units").status_code == 401


def kept_cookie(http: FlaskClient) -> str:
    """Return the session id the browser holds, as someone who copied it would."""
    found = http.get_cookie(login.SESSION_COOKIE)
    assert found is not None, "no session cookie"
    return found.value


def replayed(app: Any, sid: str) -> FlaskClient:
    """Return a client that sends a kept copy of a session cookie."""
    http = app.server.test_client()
    http.set_cookie(login.SESSION_COOKIE, sid)
    return http


@pytest.mark.integration
def test_sign_out_and_password_change_end_the_session(app: Any, tmp_path: Path) -> None:
    # The copy of the cookie is replayed after each: the browser dropping its cookie proves
    # nothing, only the server forgetting the session does.
    http = app.server.test_client()
    sign_in(http, "sup")
    sid = kept_cookie(http)
    assert http.get("/api/units").status_code == 200
    page = http.get("/logout")  # GET shows a button and changes nothing
    assert page.status_code == 200 and 'method="post" action="/logout"' in page.get_data(
        as_text=True)
    assert replayed(app, sid).get("/api/units").status_code == 200
    assert http.post("/logout").headers["Location"] == "/login"
    assert replayed(app, sid).get("/api/units").status_code == 401

    sign_in(http, "sup")
    sid = kept_cookie(http)
    assert replayed(app, sid).get("/api/units").status_code == 200
    users = tmp_path / "users.yaml"
    write_users(users)  # every password hash is new: old sessions no longer match
    stat = users.stat()
    os.utime(users, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert replayed(app, sid).get("/api/units").status_code == 401


@pytest.mark.integration
def test_another_sites_link_or_form_cannot_sign_a_screen_out(app: Any) -> None:
    http = app.server.test_client()
    sign_in(http, "sup")
    sid = kept_cookie(http)
    assert http.get("/logout").status_code == 200  # a link: a page, no sign-out
    forged = http.post("/logout", headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403
    assert replayed(app, sid).get("/api/units").status_code == 200


# --- Dash callbacks --------------------------------------------------------------------------
def pending(unit: str = CREW_UNIT) -> dict[str, Any]:
    return {ids.TASK_PENDING: {"unit": unit, "hotspot": "nte-soho-old-compton-st"},
            ids.TASK_NOTE: "forged"}


@pytest.mark.integration
def test_callbacks_need_a_signed_in_user(app: Any) -> None:
    http = app.server.test_client()
    response = post_callback(http, callback_request(app, ids.TICK, 1))
    assert response.status_code == 401


@pytest.mark.integration
def test_a_viewer_forging_the_task_callback_gets_403_and_nothing_happens(
        app: Any, redis_url: str) -> None:
    http = app.server.test_client()
    sign_in(http, "viewer")
    body = callback_request(app, ids.TASK_CONFIRM, 1, pending())
    response = post_callback(http, body)
    assert response.status_code == 403
    assert "needs supervisor" in response.get_json()["error"]
    for forged in (callback_request(app, ids.OPTIMISE, 1),
                   callback_request(app, ids.PLAN_CONFIRM, 1,
                                    {ids.PLAN: [{"unit": CREW_UNIT,
                                                 "hotspot": "nte-soho-old-compton-st"}]})):
        assert post_callback(http, forged).status_code == 403
    assert Store.from_url(redis_url).taskings() == []
    assert Store.from_url(redis_url).audit_log() == []


@pytest.mark.integration
def test_the_same_forged_request_from_a_supervisor_reaches_the_handler(app: Any) -> None:
    # The broker in this app is unreachable: the supervisor's request gets as far as trying
    # to send, and the dialog says so. The viewer's identical request never got that far.
    http = app.server.test_client()
    sign_in(http, "sup")
    response = post_callback(http, callback_request(app, ids.TASK_CONFIRM, 1, pending()))
    assert response.status_code == 200
    text = json.dumps(response.get_json())
    assert "Not sent: cannot reach the MQTT broker" in text


@pytest.mark.integration
def test_a_viewer_may_not_acknowledge_an_emergency(app: Any, redis_url: str) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    store.write_batch(Batch(positions=[Position(CREW_UNIT, now, 51.5, -0.13)],
                            statuses=[StatusChange(CREW_UNIT, now, Status.EMERGENCY)]), now=now)
    http = app.server.test_client()
    sign_in(http, "viewer")
    body = callback_request(app, ids.ACK_ITEM, 1)
    button = {"type": ids.ACK_ITEM, "alarm": f"{CREW_UNIT}@{now:.3f}"}
    body["inputs"] = [[{"id": button, "property": "n_clicks", "value": 1}]]
    body["changedPropIds"] = [json.dumps(button, separators=(",", ":"), sort_keys=True)
                              + ".n_clicks"]
    response = post_callback(http, body)
    assert response.status_code == 403
    assert store.emergency_acks() == {}

    supervisor = app.server.test_client()
    sign_in(supervisor, "sup")
    answer = post_callback(supervisor, body)
    assert answer.status_code == 200
    assert CREW_UNIT in store.emergency_acks(), answer.get_json()
    ack = store.emergency_acks()[CREW_UNIT]
    assert ack["by"] == "sup" and ack["status_ts"] == pytest.approx(now)
    audit = store.audit_log()
    assert [(e["kind"], e["actor"]) for e in audit] == [("emergency_ack", "sup")]


@pytest.mark.integration
@pytest.mark.parametrize(("user", "status"), [("crew1", 403), ("viewer", 200)])
def test_control_room_reads_are_for_control_room_roles(app: Any, user: str, status: int) -> None:
    http = app.server.test_client()
    sign_in(http, user)
    response = post_callback(http, callback_request(app, ids.TICK, 1, {ids.DIGESTS: {}}))
    assert response.status_code == status


@pytest.mark.integration
@pytest.mark.parametrize(("user", "status"), [("viewer", 403), ("sup", 403), ("crew1", 200)])
def test_crew_callbacks_are_for_crew_users(app: Any, user: str, status: int) -> None:
    http = app.server.test_client()
    sign_in(http, user)
    response = post_callback(http, callback_request(app, ids.CREW_TICK, 1))
    assert response.status_code == status
    if status == 200:
        assert "No tasking for you now" in response.get_data(as_text=True)


@pytest.mark.integration
def test_an_admin_without_a_unit_cannot_act_as_a_unit(app: Any) -> None:
    http = app.server.test_client()
    sign_in(http, "admin")
    response = post_callback(http, callback_request(app, ids.CREW_TICK, 1))
    assert response.status_code == 403
    assert "crew user with a unit" in response.get_json()["error"]


@pytest.mark.integration
@pytest.mark.parametrize(("user", "shows", "hides"), [
    ("viewer", ["Taskings", "Audit", "viewer"], [ids.OPTIMISE, ids.TASK_DIALOG, ids.TOAST]),
    ("sup", [ids.OPTIMISE, ids.TASK_DIALOG, ids.PLAN_DIALOG, "Sign out"], [ids.CREW_EMERGENCY]),
    ("crew1", [ids.CREW_EMERGENCY, "CW401"], [ids.OPTIMISE, ids.MAP]),
])
def test_each_role_gets_its_page(app: Any, user: str, shows: list[str],
                                 hides: list[str]) -> None:
    http = app.server.test_client()
    sign_in(http, user)
    response = post_callback(http, callback_request(app, ids.URL, "/"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for wanted in shows:
        assert f'"{wanted}"' in page, wanted  # a component id or a whole text, not a word
    for unwanted in hides:
        assert f'"{unwanted}"' not in page, unwanted
