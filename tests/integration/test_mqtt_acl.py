"""Device security with a real Mosquitto under the ACL that `mqtt-credentials` writes."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from patrolwatch.mqtt import Inbound, MqttClient
from patrolwatch.mqtt_credentials import write_credentials
from patrolwatch.roster import Roster, RosterUnit
from patrolwatch.settings import Settings
from tests.conftest import require_mosquitto
from tests.services import mosquitto_server

pytestmark = [pytest.mark.integration, pytest.mark.mosquitto]


def _roster() -> Roster:
    units = {u: RosterUnit(id=u, callsign=u, team="Test", kind="foot") for u in ("UA", "UB")}
    units["OT1"] = RosterUnit(id="OT1", callsign="OT1", team="Test", owntracks="olga/phone")
    return Roster(units, {"olga/phone": "OT1"})


def _secured_broker(tmp_path: Path) -> tuple[int, dict[str, str]]:
    require_mosquitto()
    paths = write_credentials(Settings(), tmp_path / "creds", roster=_roster()).paths
    passwords = dict(line.split(" ", 1) for line in paths[2].read_text().splitlines()
                     if line and not line.startswith("#"))
    extra = f"password_file {paths[0]}\nacl_file {paths[1]}\n"
    server = mosquitto_server(tmp_path, extra_conf=extra, anonymous=False)
    return server.port, {k: v.strip() for k, v in passwords.items()}


def _client(port: int, user: str, password: str, subs: Sequence[tuple[str, int]] = ()
            ) -> tuple[MqttClient, queue.SimpleQueue[Inbound]]:
    inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
    client = MqttClient(f"mqtt://{user}:{password}@127.0.0.1:{port}", f"{user}-{time.time_ns()}",
                        subscriptions=subs, on_message=inbox.put)
    assert client.start(wait_s=10), f"{user} could not connect"
    return client, inbox


def _drain_until(inbox: queue.SimpleQueue[Inbound], topic: str, timeout: float = 10) -> list[str]:
    """Collect topics received until the sentinel topic arrives (in-order delivery)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = inbox.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(msg.topic)
        if msg.topic == topic:
            return seen
    raise TimeoutError(f"sentinel {topic} never arrived; saw {seen}")


def test_a_unit_cannot_publish_as_another(tmp_path: Path) -> None:
    port, pw = _secured_broker(tmp_path)
    ingest, inbox = _client(port, "patrolwatch-ingest", pw["patrolwatch-ingest"],
                            [("patrol/+/position", 1), ("owntracks/+/+", 1)])
    ua, _ = _client(port, "UA", pw["UA"])
    body = json.dumps({"ts": time.time(), "lat": 51.5, "lon": -0.1})
    try:
        ua.publish_and_wait("patrol/UB/position", body)  # forged: the broker drops it
        ua.publish_and_wait("owntracks/olga/phone", body)  # not UA's phone either
        ua.publish_and_wait("patrol/UA/position", body)  # its own: the sentinel
        seen = _drain_until(inbox, "patrol/UA/position")
        assert seen == ["patrol/UA/position"]
    finally:
        ua.stop()
        ingest.stop()


def test_a_unit_reads_only_its_own_taskings(tmp_path: Path) -> None:
    port, pw = _secured_broker(tmp_path)
    ua, inbox = _client(port, "UA", pw["UA"], [("patrol/UB/tasking", 1), ("patrol/UA/tasking", 1)])
    dash, _ = _client(port, "patrolwatch-dashboard", pw["patrolwatch-dashboard"])
    try:
        dash.publish_and_wait("patrol/UB/tasking", b'{"id": "T1"}')
        dash.publish_and_wait("patrol/UA/tasking", b'{"id": "T2"}')
        assert _drain_until(inbox, "patrol/UA/tasking") == ["patrol/UA/tasking"]
    finally:
        ua.stop()
        dash.stop()


def test_anonymous_and_wrong_passwords_are_refused(tmp_path: Path) -> None:
    port, _ = _secured_broker(tmp_path)
    anon = MqttClient(f"mqtt://127.0.0.1:{port}", "anon")
    wrong = MqttClient(f"mqtt://UA:not-the-password@127.0.0.1:{port}", "wrong")
    try:
        assert not anon.start(wait_s=2)
        assert not wrong.start(wait_s=2)
    finally:
        anon.stop()
        wrong.stop()
