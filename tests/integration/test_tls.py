"""Encrypted in transit as shipped: Mosquitto's TLS listener and gunicorn over HTTPS.

Mosquitto runs on config/mosquitto/mosquitto.conf with the certificates
``patrolwatch tls-certs`` writes; a unit and the real ``patrolwatch ingest`` process connect
through ``mqtts://`` with the CA, and what the unit sends is stored. gunicorn serves the
dashboard with the dashboard's certificate and sets the session cookie ``Secure``.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from patrolwatch.mqtt import MqttClient, read_passwords
from patrolwatch.mqtt_credentials import write_credentials
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from patrolwatch.tls_certs import write_certs
from tests.conftest import require_mosquitto
from tests.integration.ingest_process import IngestProcess
from tests.integration.shipped_broker import shipped_broker
from tests.integration.test_production import ROOT, SECRET, TOKEN_RE, base_env
from tests.services import ServerProcess, free_port, port_open, wait_until
from tests.unit.test_auth import PASSWORD, write_users

pytestmark = pytest.mark.integration
UNIT = "CW-402"


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[ServerProcess, int, Path, dict[str, str]]]:
    """The shipped broker with its TLS listener on a free port: (server, tls port, CA, logins)."""
    require_mosquitto()
    creds = tmp_path / "creds"
    write_credentials(Settings(units=ROOT / "config/units.yaml"), creds)
    write_certs(tmp_path / "tls")  # what `patrolwatch tls-certs` writes
    tls_port = free_port()
    server = shipped_broker(tmp_path, creds, tls_port=tls_port)
    wait_until(lambda: port_open(tls_port), 10, what="the TLS listener")
    logins = read_passwords((creds / "credentials.txt").read_text().splitlines())
    yield server, tls_port, tmp_path / "tls" / "ca.crt", logins
    server.terminate()


def _connects(url: str, wait_s: float = 5) -> bool:
    client = MqttClient(url, f"tls-test-{time.time_ns() % 10**8}")
    try:
        return client.start(wait_s=wait_s)
    finally:
        client.stop()


@pytest.mark.mosquitto
def test_the_tls_listener_takes_mqtts_with_the_ca_and_refuses_anything_else(
        tls_broker: tuple[ServerProcess, int, Path, dict[str, str]], tmp_path: Path) -> None:
    _, port, ca, logins = tls_broker
    unit = f"{UNIT}:{logins[UNIT]}@127.0.0.1:{port}"
    assert _connects(f"mqtts://{unit}?cafile={ca}")
    assert not _connects(f"mqtt://{unit}", 3)  # plaintext on the TLS port: no
    assert not _connects(f"mqtts://{unit}", 3)  # a CA the client does not trust: no
    other = write_certs(tmp_path / "other-ca").written[0]
    assert not _connects(f"mqtts://{unit}?cafile={other}", 3)


@pytest.mark.mosquitto
def test_the_ingest_worker_connects_through_tls_and_stores_what_a_unit_sends(
        tls_broker: tuple[ServerProcess, int, Path, dict[str, str]], redis_url: str,
        tmp_path: Path) -> None:
    _, port, ca, logins = tls_broker
    ingest = IngestProcess(
        mqtt_url=f"mqtts://patrolwatch-ingest-1@127.0.0.1:{port}?cafile={ca}",
        redis_url=redis_url, log_path=tmp_path / "ingest.log", evaluator=False,
        client_id="patrolwatch-ingest-1",
        env={"PATROL_MQTT_PASSWORD_FILE": str(tmp_path / "creds" / "credentials.txt")})
    ingest.start()
    device = MqttClient(f"mqtts://{UNIT}:{logins[UNIT]}@127.0.0.1:{port}?cafile={ca}", UNIT)
    store = Store.from_url(redis_url)
    try:
        assert device.start(wait_s=10)
        deadline = time.monotonic() + 60
        while store.last_seen(UNIT) is None and time.monotonic() < deadline:
            assert ingest.alive, ingest.log()[-3000:]
            device.publish(f"patrol/{UNIT}/position",
                           json.dumps({"ts": time.time() - 1, "lat": 51.51, "lon": -0.13}))
            try:
                wait_until(lambda: store.last_seen(UNIT) is not None, 1, what="stored")
            except TimeoutError:
                continue
        assert store.last_seen(UNIT) is not None, ingest.log()[-3000:]
    finally:
        device.stop()
        ingest.stop()


def test_gunicorn_over_https_sets_a_secure_session_cookie(redis_url: str,
                                                         tmp_path: Path) -> None:
    made = write_certs(tmp_path / "tls")
    assert made.written
    users = write_users(tmp_path / "users.yaml")
    port = free_port()
    env = base_env(redis_url, users, PATROL_SECRET_KEY=SECRET, PATROL_SECURE_COOKIES="true")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}",
         "--certfile", str(tmp_path / "tls" / "dashboard.crt"),
         "--keyfile", str(tmp_path / "tls" / "dashboard.key"), "dashboard.wsgi:server"],
        cwd=ROOT, env={**env, **({"HOME": os.environ["HOME"]} if "HOME" in os.environ else {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.crt"))

    def https(method: str, path: str, body: str | None = None,
              headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPSConnection("localhost", port, timeout=30, context=context)
        conn.request(method, path, body=body, headers=headers or {})
        return conn.getresponse()

    try:
        wait_until(lambda: proc.poll() is not None or port_open(port), 60, what="gunicorn")
        assert proc.poll() is None
        page = https("GET", "/login")
        text = page.read().decode()
        token = TOKEN_RE.search(text)
        assert page.status == 200 and token, text
        login_cookie = next(c for c in page.headers.get_all("Set-Cookie") or []
                            if c.startswith("patrolwatch_login="))
        assert "Secure" in login_cookie
        form = f"name=sup&password={PASSWORD.replace(' ', '+')}&csrf={token.group(1)}&next=/"
        signed = https("POST", "/login", form, {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": login_cookie.split(";", 1)[0]})
        session = next(c for c in signed.headers.get_all("Set-Cookie") or []
                       if c.startswith("patrolwatch_session="))
        assert signed.status == 302 and "Secure" in session and "HttpOnly" in session
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            plain.request("GET", "/healthz")
            answered: int | None = plain.getresponse().status
        except (http.client.HTTPException, OSError):
            answered = None
        assert answered is None, f"plain HTTP answered {answered}: TLS only"
    finally:
        proc.terminate()
        proc.wait(20)
