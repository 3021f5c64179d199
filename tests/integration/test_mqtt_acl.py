"""Device security with a real Mosquitto under the ACL that `mqtt-credentials` writes."""

from __future__ import annotations

import json
import queue
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from patrolwatch.core import topics
from patrolwatch.mqtt import Inbound, MqttClient
from patrolwatch.mqtt_credentials import read_passwords, write_credentials
from patrolwatch.roster import Roster, RosterUnit
from patrolwatch.settings import Settings
from patrolwatch.sim.publisher import TASKING_FILTER
from tests.conftest import require_mosquitto
from tests.services import ServerProcess, mosquitto_server, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.mosquitto]


def _roster(*units: str) -> Roster:
    entries = {u: RosterUnit(id=u, callsign=u, team="Test", kind="foot")
               for u in units or ("UA", "UB")}
    entries["OT1"] = RosterUnit(id="OT1", callsign="OT1", team="Test", owntracks="olga/phone")
    return Roster(entries, {"olga/phone": "OT1"})


def _passwords(folder: Path) -> dict[str, str]:
    return read_passwords((folder / "credentials.txt").read_text().splitlines())


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[ServerProcess]:
    """A Mosquitto under the password file and ACL that mqtt-credentials writes."""
    require_mosquitto()
    paths = write_credentials(Settings(), tmp_path / "creds", roster=_roster()).paths
    extra = f"password_file {paths[0]}\nacl_file {paths[1]}\n"
    server = mosquitto_server(tmp_path, extra_conf=extra, anonymous=False)
    yield server
    server.terminate()


def _login(server: ServerProcess, tmp_path: Path) -> tuple[int, dict[str, str]]:
    return server.port, _passwords(tmp_path / "creds")


def _collect(inbox: queue.SimpleQueue[Inbound], wanted: set[str], timeout: float = 10
             ) -> set[str]:
    """Wait until every wanted topic has arrived; return all topics seen."""
    seen: set[str] = set()

    def arrived() -> bool:
        while not inbox.empty():
            seen.add(inbox.get_nowait().topic)
        return wanted <= seen

    wait_until(arrived, timeout, what=f"{sorted(wanted - seen)} to arrive (saw {sorted(seen)})")
    return seen


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


def test_a_unit_cannot_publish_as_another(secured: ServerProcess, tmp_path: Path) -> None:
    port, pw = _login(secured, tmp_path)
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


def test_a_unit_reads_only_its_own_taskings(secured: ServerProcess, tmp_path: Path) -> None:
    port, pw = _login(secured, tmp_path)
    ua, inbox = _client(port, "UA", pw["UA"], [("patrol/UB/tasking", 1), ("patrol/UA/tasking", 1)])
    dash, _ = _client(port, "patrolwatch-dashboard", pw["patrolwatch-dashboard"])
    try:
        dash.publish_and_wait("patrol/UB/tasking", b'{"id": "T1"}')
        dash.publish_and_wait("patrol/UA/tasking", b'{"id": "T2"}')
        assert _drain_until(inbox, "patrol/UA/tasking") == ["patrol/UA/tasking"]
    finally:
        ua.stop()
        dash.stop()


def test_anonymous_and_wrong_passwords_are_refused(secured: ServerProcess, tmp_path: Path) -> None:
    port, _ = _login(secured, tmp_path)
    anon = MqttClient(f"mqtt://127.0.0.1:{port}", "anon")
    wrong = MqttClient(f"mqtt://UA:not-the-password@127.0.0.1:{port}", "wrong")
    try:
        assert not anon.start(wait_s=2)
        assert not wrong.start(wait_s=2)
    finally:
        anon.stop()
        wrong.stop()


def test_each_service_does_its_job_under_its_own_user(
    secured: ServerProcess, tmp_path: Path
) -> None:
    port, pw = _login(secured, tmp_path)
    # The worker as several replicas run it: shared subscriptions to every device topic.
    ingest, to_ingest = _client(port, "patrolwatch-ingest", pw["patrolwatch-ingest"],
                                topics.subscriptions("ingest"))
    dash, to_dash = _client(port, "patrolwatch-dashboard", pw["patrolwatch-dashboard"],
                            [(topics.COVERAGE_EVENTS_TOPIC, 1)])
    sim, to_sim = _client(port, "patrolwatch-simulator", pw["patrolwatch-simulator"],
                          [(TASKING_FILTER, 1)])
    body = json.dumps({"ts": time.time(), "lat": 51.5, "lon": -0.1})
    try:
        reports = {topics.position_topic("UB"), topics.status_topic("UB"),
                   topics.owntracks_topic("olga", "phone"),
                   topics.owntracks_topic("olga", "phone") + "/event"}
        for topic in sorted(reports):
            sim.publish_and_wait(topic, body)
        crew = {topics.position_topic("UA"), topics.status_topic("UA"), topics.ack_topic("UA")}
        for topic in sorted(crew):  # the crew page reports as its signed-in unit
            dash.publish_and_wait(topic, body)
        dash.publish_and_wait(topics.tasking_topic("UB"), b'{"id": "T1"}')
        ingest.publish_and_wait(topics.COVERAGE_EVENTS_TOPIC, b'{"type": "gap"}')
        assert _collect(to_ingest, reports | crew) == reports | crew
        assert _collect(to_sim, {topics.tasking_topic("UB")}) == {topics.tasking_topic("UB")}
        assert _collect(to_dash, {topics.COVERAGE_EVENTS_TOPIC}) == {
            topics.COVERAGE_EVENTS_TOPIC}
    finally:
        for client in (ingest, dash, sim):
            client.stop()


def test_the_simulator_cannot_send_taskings_or_coverage_events(
    secured: ServerProcess, tmp_path: Path
) -> None:
    port, pw = _login(secured, tmp_path)
    ua, inbox = _client(port, "UA", pw["UA"], [(topics.tasking_topic("UA"), 1)])
    dash, to_dash = _client(port, "patrolwatch-dashboard", pw["patrolwatch-dashboard"],
                            [(topics.COVERAGE_EVENTS_TOPIC, 1)])
    sim, _ = _client(port, "patrolwatch-simulator", pw["patrolwatch-simulator"])
    ingest, _ = _client(port, "patrolwatch-ingest", pw["patrolwatch-ingest"])
    try:
        sim.publish_and_wait(topics.tasking_topic("UA"), b'{"id": "forged"}')  # dropped
        sim.publish_and_wait(topics.COVERAGE_EVENTS_TOPIC, b'{"forged": true}')  # dropped
        # The broker handled the forgeries before these: had it passed them on, they would
        # arrive first.
        dash.publish_and_wait(topics.tasking_topic("UA"), b'{"id": "T1"}')
        ingest.publish_and_wait(topics.COVERAGE_EVENTS_TOPIC, b'{"real": true}')
        first = inbox.get(timeout=10)
        assert json.loads(first.payload) == {"id": "T1"}
        assert json.loads(to_dash.get(timeout=10).payload) == {"real": True}
    finally:
        for client in (ua, dash, sim, ingest):
            client.stop()


def test_a_roster_change_keeps_provisioned_devices_and_a_reload_applies_it(
        secured: ServerProcess, tmp_path: Path) -> None:
    """The documented procedure: rerun mqtt-credentials, then SIGHUP the broker."""
    server = secured
    creds = tmp_path / "creds"
    before = _passwords(creds)
    ua, _ = _client(server.port, "UA", before["UA"])
    ub, _ = _client(server.port, "UB", before["UB"])
    clients = [ua, ub]
    try:
        done = write_credentials(Settings(), creds, roster=_roster("UA", "UC"))
        assert done.dropped == ("UB",) and done.generated == ("UC",)
        assert _passwords(creds)["UA"] == before["UA"]
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        uc = MqttClient(f"mqtt://UC:{_passwords(creds)['UC']}@127.0.0.1:{server.port}", "UC")
        clients.append(uc)
        uc.start()
        wait_until(lambda: uc.connected, 15, what="the new unit UC to sign in after the reload")
        # The removed unit is signed out and cannot come back; the kept one is untouched.
        wait_until(lambda: not ub.connected, 10, what="the broker to drop the removed unit")
        assert ua.connected
        again = MqttClient(f"mqtt://UB:{before['UB']}@127.0.0.1:{server.port}", "UB-again")
        clients.append(again)
        assert not again.start(wait_s=2)
    finally:
        for client in clients:
            client.stop()
