"""Real gunicorn with the shipped hooks: every dashboard worker signs in as a login of its own."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from patrolwatch.mqtt import MqttClient, read_passwords
from patrolwatch.mqtt_credentials import write_credentials
from patrolwatch.roster import Roster, RosterUnit
from patrolwatch.settings import Settings
from tests.conftest import require_mosquitto
from tests.integration.shipped_broker import shipped_broker
from tests.services import ServerProcess, free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.mosquitto]
ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
SIGNED_IN = re.compile(r"dashboard worker (\d+) signs in to the broker as "
                       r"(patrolwatch-dashboard-\d+)")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ServerProcess]:
    require_mosquitto()
    roster = Roster({"UA": RosterUnit(id="UA", callsign="UA", team="T")}, {})
    write_credentials(Settings(dashboard_workers=3), tmp_path / "creds", roster=roster)
    server = shipped_broker(tmp_path, tmp_path / "creds")
    yield server
    server.terminate()


def gunicorn(tmp_path: Path, broker: ServerProcess, redis_url: str, workers: int
             ) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PATROL_MQTT_URL": f"mqtt://patrolwatch-dashboard-1@127.0.0.1:{broker.port}",
           "PATROL_MQTT_PASSWORD_FILE": str(tmp_path / "creds" / "credentials.txt"),
           "PATROL_DASHBOARD_WORKERS": "3", "PATROL_REDIS_URL": redis_url,
           "PATROL_HOTSPOTS": str(ROOT / "config/hotspots.geojson"),
           "PATROL_UNITS": str(ROOT / "config/units.yaml"),
           "PATROL_USERS": str(tmp_path / "users.yaml"), "PATROL_OPEN_ACCESS": "true"}
    log = (tmp_path / "gunicorn.log").open("ab")
    try:
        return subprocess.Popen(
            [str(GUNICORN), "-c", "python:dashboard.gunicorn_conf", "-w", str(workers),
             "--graceful-timeout", "5",
             "-b", f"127.0.0.1:{free_port()}", "dashboard.wsgi:server"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()


def signed_in(tmp_path: Path) -> list[tuple[int, str]]:
    text = (tmp_path / "gunicorn.log").read_text(errors="replace")
    return [(int(pid), login) for pid, login in SIGNED_IN.findall(text)]


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn and its workers; a worker still booting under load may need SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_each_worker_signs_in_as_its_own_login_and_a_replacement_takes_the_freed_one(
        tmp_path: Path, broker: ServerProcess, redis_url: str) -> None:
    proc = gunicorn(tmp_path, broker, redis_url, workers=2)
    try:
        first = wait_until(lambda: len(signed_in(tmp_path)) >= 2 and signed_in(tmp_path), 60,
                           what="both gunicorn workers to sign in")
        assert sorted(login for _, login in first) == ["patrolwatch-dashboard-1",
                                                      "patrolwatch-dashboard-2"]
        # A worker that dies frees its login: its replacement gets that one, not a third.
        pid, login = first[0]
        os.kill(pid, signal.SIGKILL)
        later = wait_until(lambda: len(signed_in(tmp_path)) >= 3 and signed_in(tmp_path), 60,
                           what="gunicorn to replace the killed worker")
        assert later[2][1] == login and later[2][0] != pid
        # The logins exist on the shipped broker: a worker's own can sign in (positive control).
        passwords = read_passwords((tmp_path / "creds" / "credentials.txt").read_text()
                                   .splitlines())
        probe = MqttClient(f"mqtt://patrolwatch-dashboard-3:{passwords['patrolwatch-dashboard-3']}"
                           f"@127.0.0.1:{broker.port}", "")
        assert probe.start(wait_s=10)
        probe.stop()
    finally:
        stop(proc)


def test_gunicorn_refuses_more_workers_than_logins(
        tmp_path: Path, broker: ServerProcess, redis_url: str) -> None:
    proc = gunicorn(tmp_path, broker, redis_url, workers=4)
    try:
        assert proc.wait(60) != 0
    finally:
        stop(proc)
    text = (tmp_path / "gunicorn.log").read_text(errors="replace")
    assert "4 workers but PATROL_DASHBOARD_WORKERS=3" in text, text[-2000:]
    assert not signed_in(tmp_path)
