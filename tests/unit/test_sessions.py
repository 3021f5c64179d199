"""Server-side sessions and sign-in throttling against a real Redis (two apps = two workers).

On the old signed-cookie sessions every "replayed cookie" test here passed the cookie
through: signing out only told the one browser to forget it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from patrolwatch.store import Store
from patrolwatch.users import User, hash_password, load_users, save_users
from tests.services import wait_until
from tests.unit.test_auth import PASSWORD, basic, make_app, sign_in, write_users

pytestmark = pytest.mark.integration
SESSION_COOKIE = "patrolwatch_session"  # dashboard.auth.SESSION_COOKIE
SESSION_MAX_S = 12 * 3600  # CONTRACT.md: a session lasts at most 12 h


@pytest.fixture
def users(tmp_path: Path) -> Path:
    return write_users(tmp_path / "users.yaml")


@pytest.fixture
def apps(redis_url: str, users: Path) -> Iterator[tuple[Any, Any]]:
    """Two apps on one Redis and one users file, as two gunicorn workers are."""
    made = (make_app(redis_url, users), make_app(redis_url, users))
    yield made
    for app in made:
        app.server.extensions["patrolwatch"].publisher.close()


def cookie_of(http: FlaskClient) -> str:
    found = http.get_cookie(SESSION_COOKIE)
    assert found is not None, "no session cookie"
    return found.value


def client_with(app: Any, sid: str) -> FlaskClient:
    http = app.server.test_client()
    http.set_cookie(SESSION_COOKIE, sid)
    return http


def bump(path: Path) -> None:
    """Make the users file look changed even within the file system's mtime resolution."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


# --- sessions ------------------------------------------------------------------------------
def test_the_cookie_is_an_opaque_id_and_redis_keeps_only_its_hash(
        apps: tuple[Any, Any], redis_url: str) -> None:
    from patrolwatch.store.keys import k_session
    from patrolwatch.store.sessions import sid_hash

    http = apps[0].server.test_client()
    response = sign_in(http, "sup")
    sid = cookie_of(http)
    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert f"Max-Age={SESSION_MAX_S}" in cookie
    assert len(sid) >= 40 and "sup" not in sid and "." not in sid  # not a signed payload
    client = redis.Redis.from_url(redis_url)
    assert client.hget(k_session(sid_hash(sid)), "user") == b"sup"
    for key in client.scan_iter("pw:{sess}:*"):
        kind = client.type(key)
        values = (list(client.hgetall(key).values()) if kind == b"hash"
                  else client.zrange(key, 0, -1))
        assert all(sid.encode() not in v and sid.encode() not in key for v in values)
    assert 0 < client.ttl(k_session(sid_hash(sid))) <= SESSION_MAX_S


def test_a_session_is_shared_by_workers_and_sign_out_ends_it_everywhere(
        apps: tuple[Any, Any]) -> None:
    one, two = apps
    http = one.server.test_client()
    sign_in(http, "sup")
    sid = cookie_of(http)
    assert client_with(two, sid).get("/api/units").status_code == 200
    out = client_with(two, sid).post("/logout")
    assert out.headers["Location"] == "/login"
    assert any(c.startswith(f"{SESSION_COOKIE}=;") for c in out.headers.getlist("Set-Cookie"))
    # The same cookie, replayed by someone who kept a copy, is worthless on either worker.
    assert client_with(one, sid).get("/api/units").status_code == 401
    assert client_with(two, sid).get("/api/units").status_code == 401


@pytest.mark.parametrize("change", ["password", "role", "removed"])
def test_changing_or_removing_a_user_ends_their_sessions(
        apps: tuple[Any, Any], users: Path, change: str) -> None:
    one, two = apps
    http = one.server.test_client()
    sign_in(http, "sup")
    sign_in(other := one.server.test_client(), "viewer")
    sid, viewer_sid = cookie_of(http), cookie_of(other)
    assert client_with(two, sid).get("/api/units").status_code == 200
    current = load_users(users)
    if change == "password":
        current["sup"] = User("sup", "supervisor", hash_password("a new password", rounds=4))
    elif change == "role":
        current["sup"] = User("sup", "viewer", current["sup"].password_hash)
    else:
        del current["sup"]
    save_users(users, current)
    bump(users)
    assert client_with(two, sid).get("/api/units").status_code == 401
    assert client_with(one, sid).get("/api/units").status_code == 401
    assert one.server.extensions["patrolwatch"].store.user_sessions("sup") == 0
    # Everyone else stays signed in.
    assert client_with(two, viewer_sid).get("/api/units").status_code == 200


def test_rewriting_the_users_file_unchanged_keeps_sessions(apps: tuple[Any, Any],
                                                          users: Path) -> None:
    http = apps[0].server.test_client()
    sign_in(http, "sup")
    save_users(users, load_users(users))
    bump(users)
    assert http.get("/api/units").status_code == 200


def test_a_session_ends_when_its_time_is_up(redis_url: str) -> None:
    store = Store.from_url(redis_url)
    sid = store.create_session("sup", "fp", max_s=1)
    assert store.session(sid) is not None
    wait_until(lambda: store.session(sid) is None, 10, what="the session expired")
    assert store.user_sessions("sup") == 0


def test_a_made_up_session_id_signs_nobody_in(apps: tuple[Any, Any]) -> None:
    for sid in ("x", "a" * 43, "sup", "a" * 3000):
        response = client_with(apps[0], sid).get("/api/units")
        assert response.status_code == 401


def test_secure_cookies_set_secure(redis_url: str, users: Path) -> None:
    app = make_app(redis_url, users, secure_cookies=True)
    http = app.server.test_client()
    response = sign_in(http, "sup")
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith(f"{SESSION_COOKIE}="))
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie
    login_cookie = http.get("/login").headers.getlist("Set-Cookie")
    assert all("Secure" in c for c in login_cookie)
    app.server.extensions["patrolwatch"].publisher.close()


# --- throttling -----------------------------------------------------------------------------
def test_ten_failures_for_a_name_lock_it_on_the_form_and_on_basic(apps: tuple[Any, Any]) -> None:
    one, two = apps
    for n in range(10):
        worker = (one, two)[n % 2]  # failures on both workers count together
        response = sign_in(worker.server.test_client(), "sup", f"wrong password {n}")
        assert response.status_code == 401, n
    refused = sign_in(one.server.test_client(), "sup", PASSWORD)  # even the right password
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)
    assert 1 <= int(refused.headers["Retry-After"]) <= 900
    api = two.server.test_client().get("/api/units", headers=basic("sup"))
    assert api.status_code == 429 and 1 <= int(api.headers["Retry-After"]) <= 900
    # Another name, from the same address, is not locked by these ten.
    assert two.server.test_client().get("/api/units", headers=basic("viewer")).status_code == 200


def test_thirty_failures_from_one_address_lock_it_for_every_name(apps: tuple[Any, Any]) -> None:
    one, _ = apps
    attacker = {"REMOTE_ADDR": "198.51.100.7"}
    http = one.server.test_client()
    for n in range(30):
        response = http.get("/api/units", headers=basic(f"guess{n}", "nope nope"),
                            environ_base=attacker)
        assert response.status_code == 401, n
    locked = http.get("/api/units", headers=basic("viewer"), environ_base=attacker)
    assert locked.status_code == 429 and "Retry-After" in locked.headers
    elsewhere = http.get("/api/units", headers=basic("viewer"),
                         environ_base={"REMOTE_ADDR": "198.51.100.8"})
    assert elsewhere.status_code == 200


def test_the_lock_lifts_when_the_window_passes(apps: tuple[Any, Any]) -> None:
    gate = apps[0].server.extensions["patrolwatch_gate"]
    now = time.time()
    for _ in range(10):
        gate.failed("sup", "203.0.113.1", now)
    assert 899 < gate.wait_s("sup", "203.0.113.9", now) <= 900
    assert gate.wait_s("sup", "203.0.113.9", now + 600) == pytest.approx(300, abs=0.01)
    assert gate.wait_s("sup", "203.0.113.9", now + 900.5) == 0.0
    assert gate.wait_s("viewer", "203.0.113.9", now) == 0.0


def test_failures_kept_per_name_are_bounded(apps: tuple[Any, Any], redis_url: str) -> None:
    gate = apps[0].server.extensions["patrolwatch_gate"]
    now = time.time()
    for n in range(100):
        gate.failed("sup", "203.0.113.1", now + n * 0.001)
    client = redis.Redis.from_url(redis_url)
    sizes = sorted(client.zcard(k) for k in client.scan_iter("pw:{auth}:fail:*"))
    assert sizes == [10, 30]


def test_a_user_holds_at_most_fifty_sessions(redis_url: str) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    first = store.create_session("sup", "fp", now=now)
    later = [store.create_session("sup", "fp", now=now + n) for n in range(1, 51)]
    assert store.session(first) is None, "the oldest session ended at the 51st sign-in"
    assert all(store.session(sid) is not None for sid in later)
    assert store.user_sessions("sup") == 50


def test_signing_in_again_replaces_the_browsers_session(apps: tuple[Any, Any]) -> None:
    import re

    http = apps[0].server.test_client()
    page = http.get("/login").get_data(as_text=True)  # a form left open in a tab
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token
    sign_in(other_tab := apps[0].server.test_client(), "sup")
    first = cookie_of(other_tab)
    http.set_cookie(SESSION_COOKIE, first)
    http.post("/login", data={"name": "sup", "password": PASSWORD, "csrf": token.group(1)})
    assert cookie_of(http) != first
    assert client_with(apps[1], first).get("/api/units").status_code == 401
    assert http.get("/api/units").status_code == 200


def test_user_remove_on_the_command_line(users: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from patrolwatch.cli import main

    monkeypatch.setenv("PATROL_USERS", str(users))
    assert main(["user", "remove", "sup"]) == 0
    assert "sup" not in load_users(users) and "viewer" in load_users(users)
    assert main(["user", "remove", "sup"]) == 1
    assert "no user 'sup'" in capsys.readouterr().err
