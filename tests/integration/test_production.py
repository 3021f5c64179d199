"""Production entry points as they run: ``gunicorn dashboard.wsgi:server`` with two workers,
``load_settings`` from the environment and ``.env``, and the refusals at start.

Every request below goes over its own TCP connection, so gunicorn hands it to whichever
worker accepts first; the access log (``%(p)s`` is the worker's pid) shows which one did.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from patrolwatch.settings import load_settings
from tests.services import ServerProcess, free_port, port_open, wait_until
from tests.unit.test_auth import PASSWORD, write_users

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SECRET = "a-production-secret-key-of-more-than-32-characters"
TOKEN_RE = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: str


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
            body: str | None = None) -> Answer:
    """Send one request on a fresh connection (so any worker may take it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
    response = conn.getresponse()
    answer = Answer(response.status, response.headers, response.read().decode("utf-8", "replace"))
    conn.close()
    return answer


def cookie(answer: Answer, name: str) -> tuple[str, str]:
    """Return (value, the whole Set-Cookie line) of one cookie the answer sets."""
    for line in answer.headers.get_all("Set-Cookie") or []:
        if line.startswith(f"{name}="):
            return line.split(";", 1)[0].split("=", 1)[1], line
    raise AssertionError(f"no {name} cookie in {answer.headers}")


def base_env(redis_url: str, users: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATROL_")}
    env.update(PATROL_REDIS_URL=redis_url, PATROL_USERS=str(users),
               PATROL_HOTSPOTS=str(ROOT / "config/hotspots.geojson"),
               PATROL_UNITS=str(ROOT / "config/units.yaml"),
               PATROL_MQTT_URL=f"mqtt://127.0.0.1:{free_port()}", **extra)
    return env


def gunicorn(env: dict[str, str], port: int, access_log: Path, workers: int = 2
             ) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--access-logfile", str(access_log), "--access-logformat", "%(p)s %(m)s %(U)s %(s)s",
         "dashboard.wsgi:server"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def served(redis_proc: ServerProcess, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[int, Path]]:
    """gunicorn with two workers, a users file, a real secret key and Secure cookies."""
    work = tmp_path_factory.mktemp("gunicorn")
    users = write_users(work / "users.yaml")
    port, log = free_port(), work / "access.log"
    proc = gunicorn(base_env(redis_proc.url, users, PATROL_SECRET_KEY=SECRET,
                             PATROL_SECURE_COOKIES="true"), port, log)
    try:
        wait_until(lambda: proc.poll() is not None or (
            port_open(port) and request(port, "GET", "/healthz").status == 200), 60,
            what="gunicorn answering")
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        yield port, log
    finally:
        proc.terminate()
        proc.wait(20)


def pids_answering(log: Path, path: str, status: int) -> set[str]:
    """Return the worker pids that answered ``path`` with ``status``, from the access log."""
    found = set()
    for line in log.read_text().splitlines() if log.exists() else []:
        pid, _, url, code = [*line.split(), "", "", "", ""][:4]
        if url == path and code == str(status):
            found.add(pid)
    return found


def sign_in(port: int, name: str) -> Answer:
    page = request(port, "GET", "/login")
    token = TOKEN_RE.search(page.body)
    assert token, page.body
    login_cookie, _ = cookie(page, "patrolwatch_login")
    form = f"name={name}&password={PASSWORD.replace(' ', '+')}&csrf={token.group(1)}&next=/"
    return request(port, "POST", "/login", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"patrolwatch_login={login_cookie}"})


def test_two_workers_share_sessions_and_sign_out_ends_them_everywhere(
        served: tuple[int, Path]) -> None:
    port, log = served
    signed = sign_in(port, "sup")
    assert signed.status == 302, signed.body
    sid, line = cookie(signed, "patrolwatch_session")
    assert "Secure" in line and "HttpOnly" in line and "SameSite=Lax" in line
    me = {"Cookie": f"patrolwatch_session={sid}"}

    def both_workers(path: str, status: int) -> bool:
        answer = request(port, "GET", path, headers=me)
        assert answer.status == status, answer.body
        return len(pids_answering(log, path, status)) >= 2

    wait_until(lambda: both_workers("/api/units", 200), 60, interval=0.05,
               what="both workers served the signed-in user")
    assert request(port, "GET", "/logout", headers=me).status == 200  # a button, no change
    assert request(port, "POST", "/logout", headers=me).status == 302
    wait_until(lambda: both_workers("/api/taskings", 401), 60, interval=0.05,
               what="both workers refused the signed-out cookie")


def test_gunicorn_refuses_oversize_bodies_chunked_or_not(served: tuple[int, Path]) -> None:
    port, _ = served
    signed = sign_in(port, "sup")
    sid, _ = cookie(signed, "patrolwatch_session")
    headers = {"Cookie": f"patrolwatch_session={sid}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", "/_dash-update-component")
    for key, value in {**headers, "Content-Length": str(200 * 1024 * 1024)}.items():
        conn.putheader(key, value)
    conn.endheaders()
    conn.send(b"{" + b" " * 1024)
    assert conn.getresponse().status == 413
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # answered and closed
        conn.request("POST", "/_dash-update-component", headers=headers, encode_chunked=True,
                     body=iter([b" " * (1 << 20)] * 8))
    assert conn.getresponse().status == 413
    conn.close()
    deep = request(port, "POST", "/_dash-update-component", headers=headers,
                   body="[" * 2000 + "]" * 2000)
    assert deep.status == 400


@pytest.mark.parametrize(("users_file", "key", "says"), [
    (None, SECRET, "patrolwatch user add NAME --role admin"),
    ("ok", None, "PATROL_SECRET_KEY:secret_key: is the published default"),
])
def test_gunicorn_refuses_to_start(redis_url: str, tmp_path: Path, users_file: str | None,
                                   key: str | None, says: str) -> None:
    # The other refusals (an empty users file, a short key) are the same checks, tested
    # directly in tests/unit/test_fail_closed.py.
    users = tmp_path / "users.yaml"
    if users_file == "ok":
        write_users(users)
    env = base_env(redis_url, users, **({"PATROL_SECRET_KEY": key} if key else {}))
    proc = gunicorn(env, free_port(), tmp_path / "access.log", workers=1)
    try:
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert says in err.decode()


def test_the_development_server_refuses_without_users(
        redis_url: str, tmp_path: Path) -> None:
    env = base_env(redis_url, tmp_path / "none.yaml")
    refused = subprocess.run([sys.executable, "-m", "patrolwatch", "dashboard", "--port",
                              str(free_port())], cwd=ROOT, env=env, capture_output=True,
                             timeout=60, check=False)
    assert refused.returncode == 2
    assert "patrolwatch user add NAME --role admin" in refused.stderr.decode()


def test_load_settings_reads_the_security_settings(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("PATROL_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    defaults = load_settings()
    assert (defaults.open_access, defaults.metrics_token, defaults.secure_cookies,
            defaults.trusted_proxies) == (False, None, False, 0)
    (tmp_path / ".env").write_text(
        "PATROL_METRICS_TOKEN=from-dotenv-0123456789\nPATROL_SECURE_COOKIES=1\n")
    monkeypatch.setenv("PATROL_OPEN_ACCESS", "true")
    monkeypatch.setenv("PATROL_TRUSTED_PROXIES", "1")
    loaded = load_settings()
    assert loaded.metrics_token is not None
    assert (loaded.open_access, loaded.metrics_token.get_secret_value(), loaded.secure_cookies,
            loaded.trusted_proxies) == (True, "from-dotenv-0123456789", True, 1)
    assert load_settings(open_access=False).open_access is False
