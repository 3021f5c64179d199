"""Broker identity on the real Mosquitto with the shipped config: no login takes another's session.

Each test builds a victim's persistent session with messages queued in it, lets another login
connect with the victim's client id (with a clean session, to wipe it, and with a persistent
one, to steal it), then checks that the victim, reconnecting, gets every queued message and
that a victim still connected is not knocked off. The victim receiving is the positive
control: a broker that refused everyone would fail these tests, not pass them.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from patrolwatch.core import topics
from patrolwatch.device import listen, send_position
from patrolwatch.mqtt import Inbound, MqttClient, read_passwords
from patrolwatch.mqtt_credentials import write_credentials
from patrolwatch.roster import Roster, RosterUnit
from patrolwatch.settings import Settings
from patrolwatch.sim.publisher import run_simulator
from tests.conftest import require_mosquitto
from tests.integration.shipped_broker import broker_log as shipped_log
from tests.integration.shipped_broker import shipped_broker
from tests.services import ServerProcess, free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.mosquitto]

ROOT = Path(__file__).resolve().parents[2]
QUEUED = 100  # QoS 1 messages waiting in the victim's session during the takeover attempts
INGEST_1, INGEST_2 = "patrolwatch-ingest-1", "patrolwatch-ingest-2"
DASHBOARD_1, DASHBOARD_2 = "patrolwatch-dashboard-1", "patrolwatch-dashboard-2"
SIMULATOR = "patrolwatch-simulator"


def _roster() -> Roster:
    units = {u: RosterUnit(id=u, callsign=u, team="Test", kind="foot") for u in ("UA", "UB")}
    units["OT1"] = RosterUnit(id="OT1", callsign="OT1", team="Test", owntracks="olga/phone")
    return Roster(units, {"olga/phone": "OT1"})


@dataclass
class Broker:
    """The shipped broker and every login's password."""

    server: ServerProcess
    passwords: dict[str, str]
    creds: Path

    def url(self, login: str) -> str:
        return f"mqtt://{login}:{self.passwords[login]}@127.0.0.1:{self.server.port}"

    def settings(self, login: str) -> Settings:
        """Settings as a deployment has them: login in the URL, password from the file."""
        return Settings(mqtt_url=f"mqtt://{login}@127.0.0.1:{self.server.port}",
                        mqtt_password_file=self.creds / "credentials.txt")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    require_mosquitto()
    creds = tmp_path / "creds"
    write_credentials(Settings(ingest_workers=2, dashboard_workers=2), creds, roster=_roster())
    server = shipped_broker(tmp_path, creds)
    passwords = read_passwords((creds / "credentials.txt").read_text().splitlines())
    yield Broker(server, passwords, creds)
    server.terminate()


@dataclass
class Intruder:
    """A stock MQTT client that signs in as one login but asks for another's client id."""

    received: list[str] = field(default_factory=list)
    session_present: bool | None = None

    def attempt(self, url_port: int, login: str, password: str, client_id: str, *,
                clean: bool, steal: str) -> bool:
        """Connect, subscribe to ``steal``, disconnect; tell whether the broker let it in."""
        connected, subscribed = threading.Event(), threading.Event()
        outcome: dict[str, Any] = {}
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=clean, protocol=paho.MQTTv311)
        client.username_pw_set(login, password)

        def on_connect(c: paho.Client, u: Any, flags: Any, reason: Any, props: Any) -> None:
            outcome["ok"] = not reason.is_failure
            self.session_present = bool(getattr(flags, "session_present", False))
            connected.set()

        client.on_connect = on_connect
        client.on_subscribe = lambda *a: subscribed.set()
        client.on_message = lambda c, u, m: self.received.append(m.topic)
        client.connect("127.0.0.1", url_port, keepalive=30)
        client.loop_start()
        try:
            assert connected.wait(10), f"{login} as {client_id!r}: no CONNACK"
            if outcome["ok"]:
                client.subscribe(steal, 1)
                assert subscribed.wait(10), f"{login}: no SUBACK for {steal}"
            return bool(outcome["ok"])
        finally:
            client.disconnect()
            client.loop_stop()


@dataclass(frozen=True)
class Case:
    """A victim with a persistent session, what fills it, and who tries to take it."""

    victim: str
    subscription: str
    sender: str  # a third login that may publish to the victim
    topic: str
    attacker: str


CASES = {
    "unit-takes-ingest": Case(INGEST_1, "patrol/+/position", "UB",
                              topics.position_topic("UB"), "UA"),
    "unit-takes-unit": Case("UB", topics.tasking_topic("UB"), DASHBOARD_2,
                            topics.tasking_topic("UB"), "UA"),
    "owntracks-takes-unit": Case("UA", topics.tasking_topic("UA"), DASHBOARD_2,
                                 topics.tasking_topic("UA"), "olga"),
    "dashboard-takes-ingest": Case(INGEST_1, "patrol/+/position", "UB",
                                   topics.position_topic("UB"), DASHBOARD_1),
    "ingest-takes-ingest": Case(INGEST_1, "patrol/+/position", "UB",
                                topics.position_topic("UB"), INGEST_2),
    "simulator-takes-unit": Case("UB", topics.tasking_topic("UB"), DASHBOARD_2,
                                 topics.tasking_topic("UB"), SIMULATOR),
    "unit-takes-dashboard": Case(DASHBOARD_1, topics.COVERAGE_EVENTS_TOPIC, INGEST_1,
                                 topics.COVERAGE_EVENTS_TOPIC, "UA"),
}


def _seqs(inbox: queue.SimpleQueue[Inbound], want: set[int], what: str) -> set[int]:
    """Wait until every wanted sequence number has arrived; return all seen."""
    seen: set[int] = set()

    def arrived() -> bool:
        while not inbox.empty():
            seen.add(int(json.loads(inbox.get_nowait().payload)["seq"]))
        return want <= seen

    wait_until(arrived, 20, what=f"{what}: {len(want - seen)} of {len(want)} still missing")
    return seen


def _subscribed(sender: MqttClient, topic: str, inbox: queue.SimpleQueue[Inbound],
                what: str) -> None:
    """Publish ``seq`` 0 until it arrives: the SUBACK comes after the CONNACK start waits for."""
    def arrived() -> bool:
        sender.publish_and_wait(topic, json.dumps({"seq": 0}))
        try:
            return bool(inbox.get(timeout=0.5))
        except queue.Empty:
            return False

    wait_until(arrived, 20, what=what)


def _victim(broker: Broker, case: Case) -> tuple[MqttClient, queue.SimpleQueue[Inbound]]:
    inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
    client = MqttClient(broker.url(case.victim), "", clean_session=False,
                        subscriptions=[(case.subscription, 1)], on_message=inbox.put)
    assert client.start(wait_s=10), f"the victim {case.victim} could not sign in"
    return client, inbox


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_login_cannot_wipe_steal_or_knock_off_another_logins_session(
        broker: Broker, name: str) -> None:
    case = CASES[name]
    sender = MqttClient(broker.url(case.sender), "")
    assert sender.start(wait_s=10)
    victim, inbox = _victim(broker, case)
    intruder = Intruder()
    clients = [sender, victim]
    try:
        # Positive control: the session exists and receives (the subscription is in place).
        _subscribed(sender, case.topic, inbox, f"{case.victim}'s subscription")
        victim.stop()
        for seq in range(1, QUEUED + 1):  # queued in the victim's session while it is away
            sender.publish_and_wait(case.topic, json.dumps({"seq": seq}))
        for clean in (True, False):  # wipe it, then steal it
            let_in = intruder.attempt(broker.server.port, case.attacker,
                                      broker.passwords[case.attacker], case.victim,
                                      clean=clean, steal=case.subscription)
            assert let_in, f"{case.attacker} could not sign in as itself at all"
        victim, inbox = _victim(broker, case)
        clients.append(victim)
        got = _seqs(inbox, set(range(1, QUEUED + 1)), f"{case.victim}'s queued messages after "
                    f"{case.attacker} connected with its client id")
        assert got - {0} == set(range(1, QUEUED + 1))
        assert case.topic not in intruder.received
        # Connected now: an intruder asking for the victim's id does not knock it off.
        generation = victim.generation
        assert intruder.attempt(broker.server.port, case.attacker,
                                broker.passwords[case.attacker], case.victim, clean=True,
                                steal=case.subscription)
        sender.publish_and_wait(case.topic, json.dumps({"seq": QUEUED + 1}))
        message = inbox.get(timeout=10)
        assert json.loads(message.payload) == {"seq": QUEUED + 1}
        assert message.generation == generation == victim.generation, "the victim was knocked off"
    finally:
        for client in clients:
            client.stop()


def test_a_login_holds_only_its_own_name_as_client_id(broker: Broker) -> None:
    """Whatever id a client asks for (the OwnTracks app picks its own), it gets its login's."""
    app = Intruder()
    assert app.attempt(broker.server.port, "olga", broker.passwords["olga"],
                       "owntracks-app-chosen-id", clean=False, steal="owntracks/olga/phone")
    assert app.session_present is False  # the first connection made the session...
    assert app.attempt(broker.server.port, "olga", broker.passwords["olga"],
                       "another-id-altogether", clean=False, steal="owntracks/olga/phone")
    assert app.session_present is True  # ...and it is olga's, under any id she asks for
    client = MqttClient(broker.url("olga"), "owntracks-olga-phone")
    assert client.client_id == "olga"  # PatrolWatch's own clients ask for the login's id


def test_the_units_own_commands_keep_its_queued_taskings(broker: Broker) -> None:
    """`patrolwatch device UB position` shares UB's one session with `listen`: it resumes it."""
    ub = broker.settings("UB")
    case = Case("UB", topics.tasking_topic("UB"), DASHBOARD_1, topics.tasking_topic("UB"), "UB")
    dashboard = MqttClient(broker.url(DASHBOARD_1), "")
    assert dashboard.start(wait_s=10)
    handheld, inbox = _victim(broker, case)
    tasking = {"id": "T-0", "ts": time.time(), "kind": "REDEPLOY", "hotspot": "H1",
               "name": "Soho", "lat": 51.51, "lon": -0.13}
    out: list[str] = []
    done = threading.Event()

    class Lines:
        def write(self, text: str) -> int:
            out.append(text)
            if '"id": "T-2"' in text:
                done.set()
            return len(text)

        def flush(self) -> None:
            pass

    try:
        _subscribed(dashboard, case.topic, inbox, "UB's subscription")  # positive control
        handheld.stop()
        for n in (1, 2):  # queued while UB's handheld is off
            dashboard.publish_and_wait(case.topic, json.dumps({**tasking, "id": f"T-{n}"}))
        send_position(ub, "UB", 51.5, -0.12)  # the same login, so the same client id
        deadline = threading.Timer(20, done.set)  # a lost tasking fails below, not by hanging
        deadline.start()
        listen(ub, "UB", out=Lines(), stop=done)
        deadline.cancel()
        ids = [json.loads(line.split("  ", 1)[1]).get("id") for line in out]
        assert [i for i in ids if i] == ["T-1", "T-2"]  # a late {"seq": 0} has no id
    finally:
        dashboard.stop()


def test_the_simulators_phones_sign_in_as_their_own_owntracks_users(
        broker: Broker, tmp_path: Path) -> None:
    """One simulator login cannot carry its phones too: they would share its one client id."""
    roster = tmp_path / "units.yaml"
    roster.write_text("units:\n  - {id: UA, callsign: UA, team: T, kind: foot}\n"
                      "  - {id: OT1, callsign: OT1, team: T, kind: foot, owntracks: olga/phone}\n")
    settings = broker.settings(SIMULATOR).model_copy(
        update={"units": roster, "hotspots": ROOT / "config" / "hotspots.geojson"})
    inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
    ingest = MqttClient(broker.url(INGEST_1), "", on_message=inbox.put,
                        subscriptions=[("owntracks/+/+", 1), ("patrol/+/position", 1)])
    assert ingest.start(wait_s=10)
    stop = threading.Event()
    fleet = threading.Thread(target=run_simulator, args=(settings,),
                             kwargs={"units": 2, "interval_s": 0.2, "stop": stop, "seed": 1})
    seen: set[str] = set()

    def both() -> bool:
        while not inbox.empty():
            seen.add(inbox.get_nowait().topic)
        return {"owntracks/olga/phone", "patrol/UA/position"} <= seen

    try:
        fleet.start()
        wait_until(both, 30, what=f"the phone's and the unit's positions (saw {sorted(seen)})")
    finally:
        stop.set()
        fleet.join(15)
        ingest.stop()


def test_the_ingest_process_holds_one_connection_with_its_evaluator(
        broker: Broker, tmp_path: Path, redis_url: str) -> None:
    """`patrolwatch ingest` publishes coverage events on the worker's own connection."""
    metrics = free_port()
    env = {**os.environ, "PATROL_MQTT_URL": f"mqtt://{INGEST_1}@127.0.0.1:{broker.server.port}",
           "PATROL_MQTT_PASSWORD_FILE": str(broker.creds / "credentials.txt"),
           "PATROL_REDIS_URL": redis_url, "PATROL_METRICS_PORT": str(metrics),
           "PATROL_HOTSPOTS": str(ROOT / "config/hotspots.geojson"),
           "PATROL_UNITS": str(ROOT / "config/units.yaml"),
           "PATROL_USERS": str(tmp_path / "no-users.yaml")}
    env.pop("PATROL_METRICS_TOKEN", None)
    log = tmp_path / "ingest.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "patrolwatch", "ingest"], env=env,
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    unit = MqttClient(broker.url("UA"), "")
    try:
        assert unit.start(wait_s=10)

        def stored() -> bool:
            unit.publish_and_wait(topics.position_topic("UA"),
                                  json.dumps({"ts": time.time(), "lat": 51.5, "lon": -0.13}))
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5) as r:
                return b'result="accepted"} ' in r.read()

        wait_until(stored, 30, interval=0.5, what=f"the worker to store a position: "
                   f"{log.read_text(errors='replace')[-1500:]}")
    finally:
        unit.stop()
        proc.terminate()
        proc.wait(15)
    broker_log = shipped_log(broker.server.workdir).read_text(errors="replace")
    assert broker_log.count(f" as {INGEST_1} ") == 1, broker_log[-3000:]
    assert "already connected" not in broker_log, broker_log[-3000:]
