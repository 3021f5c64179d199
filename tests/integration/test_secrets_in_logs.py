"""The Redis and MQTT passwords never reach a log: the real processes' output is captured.

Each process runs with passwords in PATROL_REDIS_URL and PATROL_MQTT_URL, at debug level,
through a normal run and through the connection errors an operator meets (Redis down, the
broker refusing a wrong password), and its whole output is searched for either password.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from patrolwatch.mqtt import MqttClient
from patrolwatch.store import Store
from tests.conftest import require_mosquitto
from tests.integration.ingest_process import ROOT, IngestProcess
from tests.services import (
    ServerProcess,
    free_port,
    mosquitto_server,
    redis_binary,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.mosquitto]

USER = "ingest"
PROBE = "probe"  # a login of its own: a login holds one client id (use_username_as_clientid)


@dataclass
class Secured:
    """A Redis and a Mosquitto that both demand a password."""

    redis: ServerProcess
    broker: ServerProcess
    redis_password: str
    mqtt_password: str

    def redis_url(self, password: str | None = None) -> str:
        """Return the Redis URL with a password in it."""
        return f"redis://:{password or self.redis_password}@127.0.0.1:{self.redis.port}/0"

    def mqtt_url(self, password: str | None = None) -> str:
        """Return the broker URL with a user and password in it."""
        return f"mqtt://{USER}:{password or self.mqtt_password}@127.0.0.1:{self.broker.port}"

    def probe_url(self) -> str:
        """Return the URL of the test's own publisher, a login other than the worker's."""
        return f"mqtt://{PROBE}:{self.mqtt_password}@127.0.0.1:{self.broker.port}"

    def assert_clean(self, output: str, *extra: str) -> None:
        """Fail if any password appears anywhere in the output."""
        for secret in (self.redis_password, self.mqtt_password, *extra):
            assert secret not in output, f"a password is in the output:\n{output[-3000:]}"


def _password_file(path: Path, password: str) -> Path:
    tool = shutil.which("mosquitto_passwd")
    if tool:
        subprocess.run([tool, "-c", "-b", str(path), USER, password], check=True,
                       capture_output=True)
        subprocess.run([tool, "-b", str(path), PROBE, password], check=True,
                       capture_output=True)
    else:  # Mosquitto's own PBKDF2 format, as `patrolwatch mqtt-credentials` writes it
        from patrolwatch.mqtt_credentials import mosquitto_hash

        path.write_text(f"{USER}:{mosquitto_hash(password)}\n"
                        f"{PROBE}:{mosquitto_hash(password)}\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Secured]:
    """Start both servers with passwords only this test knows."""
    require_mosquitto()
    binary = redis_binary()
    assert binary is not None
    redis_password = f"redis-pw-{uuid.uuid4().hex}"
    mqtt_password = f"mqtt-pw-{uuid.uuid4().hex}"
    port = free_port()
    redis = ServerProcess([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--requirepass", redis_password], port,
                          tmp_path)
    redis.start()
    pwfile = _password_file(tmp_path / "passwd", mqtt_password)
    broker = mosquitto_server(tmp_path, extra_conf=f"password_file {pwfile}", anonymous=False)
    try:
        yield Secured(redis, broker, redis_password, mqtt_password)
    finally:
        broker.terminate()
        redis.terminate()


def test_ingest_logs_no_password_in_a_normal_run(secured: Secured, tmp_path: Path) -> None:
    ingest = IngestProcess(secured.mqtt_url(), secured.redis_url(), tmp_path / "ingest.log",
                           verbose=True, probe_url=secured.probe_url())
    ingest.start()
    try:
        ingest.wait_storing(Store.from_url(secured.redis_url()))
    finally:
        ingest.stop()
    output = ingest.log()
    assert f"connected to mqtt://{USER}@127.0.0.1:{secured.broker.port}" in output, output
    secured.assert_clean(output)


def test_ingest_logs_no_password_while_redis_is_down(secured: Secured, tmp_path: Path) -> None:
    secured.redis.kill()
    ingest = IngestProcess(secured.mqtt_url(), secured.redis_url(), tmp_path / "ingest.log",
                           verbose=True)
    ingest.start()
    pub = MqttClient(secured.probe_url(), f"secret-pub-{uuid.uuid4().hex[:6]}")
    try:
        assert pub.start(wait_s=10)
        # Publish until the worker has one to store: then it says it cannot.
        def failing() -> bool:
            pub.publish("patrol/S1/position", json.dumps({"ts": time.time(), "lat": 51.5,
                                                          "lon": -0.1}))
            return "cannot store a batch" in ingest.log()

        wait_until(failing, 30, interval=0.5, what="the worker reporting Redis down")
        assert "is not answering yet" in ingest.log()
    finally:
        pub.stop()
        ingest.stop()
    secured.assert_clean(ingest.log())


def test_ingest_logs_no_password_when_either_password_is_wrong(
        secured: Secured, tmp_path: Path) -> None:
    wrong_mqtt, wrong_redis = f"wrong-{uuid.uuid4().hex}", f"wrong-{uuid.uuid4().hex}"
    ingest = IngestProcess(secured.mqtt_url(wrong_mqtt), secured.redis_url(wrong_redis),
                           tmp_path / "ingest.log", verbose=True)
    ingest.start()
    try:
        wait_until(lambda: "refused the connection" in ingest.log(), 30,
                   what="the broker's refusal logged")
    finally:
        ingest.stop()
    secured.assert_clean(ingest.log(), wrong_mqtt, wrong_redis)


def test_dashboard_logs_no_password_with_redis_down(secured: Secured, tmp_path: Path) -> None:
    secured.redis.kill()
    port = free_port()
    log_path = tmp_path / "dashboard.log"
    users = tmp_path / "users.yaml"
    users.write_text("users: {}\n")
    env = {**os.environ, "PATROL_MQTT_URL": secured.mqtt_url(),
           "PATROL_REDIS_URL": secured.redis_url(), "PATROL_USERS": str(users),
           "PATROL_HOTSPOTS": str(ROOT / "config/hotspots.geojson"),
           "PATROL_UNITS": str(ROOT / "config/units.yaml"), "PATROL_OPEN_ACCESS": "true"}
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "patrolwatch", "-v", "dashboard",
                                 "--port", str(port)], env=env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        def health() -> dict[str, object] | None:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                body: dict[str, object] = json.loads(r.read())
                return body

        body = wait_until(health, 60, interval=0.2, what="the dashboard answering /healthz")
        assert body["redis"] is False  # the error path ran
        request = urllib.request.Request(f"http://127.0.0.1:{port}/login", method="POST",
                                         data=b"name=nobody&password=x")
        # A failed sign-in, whatever it answers, must not log the URLs either.
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=5).close()
    finally:
        proc.terminate()
        proc.wait(15)
    secured.assert_clean(log_path.read_text(errors="replace"))
