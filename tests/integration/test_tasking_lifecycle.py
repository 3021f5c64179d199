"""The tasking lifecycle end to end, through real Mosquitto, Redis and `patrolwatch ingest`.

A supervisor's tasking goes out through the dashboard's publisher; the crew answers over
MQTT; the ingest worker stores the ack on the change feed, and the coverage evaluator in the
same process moves the tasking on: SENT -> ACKNOWLEDGED / DECLINED -> ARRIVED -> COMPLETED,
or EXPIRED on either timeout, with an audit entry for every step. Timeouts and the visit
minimum are shortened through the settings so the whole file runs in well under a minute.
"""

from __future__ import annotations

import contextlib
import json
import queue
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from dashboard.publisher import Publisher
from patrolwatch import device
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet, load_hotspots
from patrolwatch.core.taskings import Tasking
from patrolwatch.dispatch import create_tasking
from patrolwatch.mqtt import Inbound, MqttClient
from patrolwatch.roster import Roster, load_roster
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from tests.integration.ingest_process import IngestProcess, broker_server
from tests.services import redis_server, wait_until

pytestmark = [pytest.mark.integration]

ACK_TIMEOUT_S = 6.0
ARRIVAL_TIMEOUT_S = 15.0
ARRIVE = (51.5136, -0.1318)  # the hotspot the accepting crew goes to
FAR = (51.5500, -0.0500)  # where the other taskings send units that never get there
GAP = (51.5031, -0.1132)  # a hotspot whose 6-second target makes it a gap at once
ROSTER = """units:
""" + "".join(f"  - {{id: {u}, callsign: {u}, team: Test, kind: foot}}\n"
              for u in ("L-ACK", "L-DEC", "L-SILENT", "L-BUSY", "L-FREE"))


def _hotspot(hid: str, where: tuple[float, float], **target: float) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [where[1], where[0]]},
            "properties": {"id": hid, "name": hid.title(), "category": "other", "priority": 1,
                           "radius_m": 100, "target": target}}


HOTSPOTS = {"type": "FeatureCollection", "features": [
    _hotspot("arrive", ARRIVE, min_visit_minutes=0.05, max_gap_minutes=600),
    _hotspot("far", FAR, max_gap_minutes=600),
    _hotspot("gap", GAP, max_gap_minutes=0.1),
]}


@dataclass
class Rig:
    """The running system and the dashboard-side pieces a supervisor uses."""

    settings: Settings
    store: Store
    publisher: Publisher
    roster: Roster
    hotspots: HotspotSet
    ingest: IngestProcess

    def task(self, unit: str, hotspot: str) -> Tasking:
        """Send a tasking as the dashboard does: recorded, audited, published at QoS 1."""
        return create_tasking(self.store, self.publisher.publish, self.roster, self.hotspots,
                              unit=unit, hotspot=hotspot, note="test", by="sgt.jones",
                              now=time.time())

    def state(self, tasking_id: str) -> str | None:
        """Return a tasking's stored state."""
        row = self.store.tasking(tasking_id)
        return None if row is None else str(row["state"])

    def wait_state(self, tasking_id: str, state: str, timeout: float = 15) -> None:
        """Wait until the evaluator has moved the tasking to ``state``."""
        wait_until(lambda: self.state(tasking_id) == state, timeout,
                   what=f"{tasking_id} {state} (now {self.state(tasking_id)}; "
                        f"log: {self.ingest.log()[-1500:]})")

    def audit_steps(self, tasking_id: str) -> list[tuple[str | None, str, str, str]]:
        """Return the tasking's audit entries, oldest first, as (from, to, actor, detail)."""
        rows = [a for a in self.store.audit_log(1000) if a.get("tasking") == tasking_id]
        return [(a.get("from"), a.get("to", a["kind"]), a["actor"], a["detail"])
                for a in sorted(rows, key=lambda a: a["ts"])]

    def position(self, unit: str, lat: float, lon: float, ts: float | None = None) -> None:
        """Publish a position as the unit's handheld would (QoS 1, taken by the broker)."""
        body = {"ts": round(time.time() if ts is None else ts, 3), "lat": lat, "lon": lon,
                "acc": 5}
        client = MqttClient(self.settings.mqtt_url, f"test-dev-{uuid.uuid4().hex[:6]}")
        assert client.start(wait_s=10)
        try:
            client.publish_and_wait(f"patrol/{unit}/position", json.dumps(body))
        finally:
            client.stop()

    def gap_suggestions(self, after: float) -> list[str] | None:
        """Return the units suggested for the gap in a snapshot evaluated after ``after``."""
        snap = self.store.coverage()
        if not snap or snap["evaluated_at"] <= after:
            return None
        row = next((g for g in snap["gaps"] if g["hotspot"] == "gap"), None)
        return None if row is None else [s["id"] for s in row["suggested_units"]]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """Mosquitto, Redis, `patrolwatch ingest` with short timeouts, and a dashboard publisher."""
    workdir = tmp_path_factory.mktemp("lifecycle")
    (workdir / "units.yaml").write_text(ROSTER)
    (workdir / "hotspots.geojson").write_text(json.dumps(HOTSPOTS))
    with contextlib.ExitStack() as stack:  # stops whatever started, even if a later step fails
        broker = broker_server(workdir)
        stack.callback(broker.terminate)
        redis = redis_server(workdir)
        stack.callback(redis.terminate)
        url = f"mqtt://127.0.0.1:{broker.port}"
        settings = Settings(mqtt_url=url, redis_url=redis.url, units=workdir / "units.yaml",
                            hotspots=workdir / "hotspots.geojson")
        ingest = IngestProcess(url, redis.url, workdir / "ingest.log", env={
            "PATROL_UNITS": str(settings.units), "PATROL_HOTSPOTS": str(settings.hotspots),
            "PATROL_TASKING_ACK_TIMEOUT_S": str(ACK_TIMEOUT_S),
            "PATROL_TASKING_ARRIVAL_TIMEOUT_S": str(ARRIVAL_TIMEOUT_S),
            "PATROL_EVALUATE_EVERY_S": "0.2", "PATROL_DUE_WARNING_MINUTES": "0"})
        stack.callback(ingest.stop)
        store = Store.from_url(redis.url)
        publisher = Publisher(url, "test-dashboard")
        stack.callback(publisher.close)
        ingest.start()
        ingest.wait_storing(store)
        # The evaluator is a child process at a lower priority: on a loaded machine it can take
        # a while to start, and the timeouts below count from its first tick, not ours.
        wait_until(lambda: store.coverage() is not None, 90,
                   what=f"the evaluator's first snapshot: {ingest.log()[-2000:]}")
        yield Rig(settings, store, publisher, load_roster(settings.units),
                  load_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                                settings.zone), ingest)


@pytest.fixture
def crew(rig: Rig) -> Iterator[queue.SimpleQueue[Inbound]]:
    """The taskings every test unit receives, subscribed before any is sent."""
    inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
    client = MqttClient(rig.settings.mqtt_url, f"test-crew-{uuid.uuid4().hex[:6]}",
                        subscriptions=[("patrol/+/tasking", 1)], on_message=inbox.put)
    assert client.start(wait_s=10)
    # A subscription is in place once a message on it comes back.
    probe = f"probe-{uuid.uuid4().hex}"
    wait_until(lambda: client.publish("patrol/L-PROBE/tasking", probe) is not None
               and _drain_until(inbox, probe), 10, what="the crew's subscription")
    yield inbox
    client.stop()


def _drain_until(inbox: queue.SimpleQueue[Inbound], payload: str) -> bool:
    """Take messages off the inbox until one carries ``payload``; tell whether it came."""
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        try:
            if inbox.get(timeout=0.1).payload.decode() == payload:
                return True
        except queue.Empty:
            continue
    return False


def _received(inbox: queue.SimpleQueue[Inbound], unit: str) -> dict[str, Any]:
    """Return the next tasking the unit's handheld receives."""
    while True:
        msg = inbox.get(timeout=10)
        if msg.topic == f"patrol/{unit}/tasking":
            body: dict[str, Any] = json.loads(msg.payload)
            return body


def test_accepted_tasking_arrives_and_completes_with_every_step_audited(
        rig: Rig, crew: queue.SimpleQueue[Inbound]) -> None:
    t = rig.task("L-ACK", "arrive")
    body = _received(crew, "L-ACK")
    assert (body["id"], body["hotspot"], body["by"]) == (t.id, "arrive", "sgt.jones")
    assert rig.state(t.id) == "SENT"

    device.send_ack(rig.settings, "L-ACK", body["id"], accepted=True)
    rig.wait_state(t.id, "ACKNOWLEDGED")

    # Two pings inside, 4 s apart: present (ARRIVED), then a visit longer than the
    # 3-second minimum (COMPLETED). The second is stamped a little ahead at most.
    first = time.time()
    rig.position("L-ACK", *ARRIVE, ts=first)
    rig.wait_state(t.id, "ARRIVED")
    rig.position("L-ACK", *ARRIVE, ts=max(time.time(), first + 4))
    rig.wait_state(t.id, "COMPLETED")
    assert t.id not in {o["id"] for o in rig.store.open_taskings()}
    assert rig.audit_steps(t.id) == [
        (None, "SENT", "sgt.jones", "L-ACK tasked to Arrive"),
        ("SENT", "ACKNOWLEDGED", "L-ACK", "accepted by the crew"),
        ("ACKNOWLEDGED", "ARRIVED", "system", "unit present at the hotspot"),
        ("ARRIVED", "COMPLETED", "system", "qualifying visit delivered"),
    ]


def test_declined_tasking_closes_with_the_reason_and_a_late_ack_is_ignored(
        rig: Rig, crew: queue.SimpleQueue[Inbound]) -> None:
    t = rig.task("L-DEC", "far")
    body = _received(crew, "L-DEC")
    device.send_ack(rig.settings, "L-DEC", body["id"], accepted=False, reason="at an incident")
    rig.wait_state(t.id, "DECLINED")
    stored = rig.store.tasking(t.id)
    assert stored is not None and stored["reason"] == "at an incident"
    assert t.id not in {o["id"] for o in rig.store.open_taskings()}

    # A second answer to a closed tasking changes nothing and is counted, not audited: a crew
    # (or a leaked login) repeating acks must not fill the supervisors' audit log.
    before = rig.store.stats().acks_repeated_total + rig.store.stats().acks_unknown_total
    device.send_ack(rig.settings, "L-DEC", body["id"], accepted=True)
    wait_until(lambda: rig.store.stats().acks_repeated_total
               + rig.store.stats().acks_unknown_total > before, 15,
               what="the late ack counted")
    assert rig.state(t.id) == "DECLINED"
    assert rig.audit_steps(t.id) == [
        (None, "SENT", "sgt.jones", "L-DEC tasked to Far"),
        ("SENT", "DECLINED", "L-DEC", "declined by the crew: at an incident"),
    ]


def test_unanswered_tasking_expires_on_the_ack_timeout(
        rig: Rig, crew: queue.SimpleQueue[Inbound]) -> None:
    t = rig.task("L-SILENT", "far")
    _received(crew, "L-SILENT")
    rig.wait_state(t.id, "EXPIRED", timeout=ACK_TIMEOUT_S + 15)
    stored = rig.store.tasking(t.id)
    assert stored is not None and stored["updated"] - stored["created"] > ACK_TIMEOUT_S
    assert rig.audit_steps(t.id) == [
        (None, "SENT", "sgt.jones", "L-SILENT tasked to Far"),
        ("SENT", "EXPIRED", "system", f"no acknowledgement within {ACK_TIMEOUT_S / 60:.0f} min"),
    ]


def test_acknowledged_tasking_expires_without_arrival_and_binds_its_unit_meanwhile(
        rig: Rig, crew: queue.SimpleQueue[Inbound]) -> None:
    # Two free units near the gap; L-BUSY is nearer, so it is suggested first.
    for unit, metres in (("L-BUSY", 200), ("L-FREE", 400)):
        device.send_status(rig.settings, unit, "ON_PATROL")
        rig.position(unit, GAP[0] + metres / 111_320.0, GAP[1])
    since = time.time()
    wait_until(lambda: (s := rig.gap_suggestions(since)) and s[:2] == ["L-BUSY", "L-FREE"], 15,
               what="both units suggested for the gap, nearest first")

    t = rig.task("L-BUSY", "far")
    body = _received(crew, "L-BUSY")
    device.send_ack(rig.settings, "L-BUSY", body["id"])
    rig.wait_state(t.id, "ACKNOWLEDGED")
    # While it holds the open tasking, L-BUSY is left out of the other gap's suggestions.
    acked = time.time()
    suggested = wait_until(lambda: rig.gap_suggestions(acked), 10, what="a fresh snapshot")
    assert "L-BUSY" not in suggested and "L-FREE" in suggested, suggested
    assert rig.state(t.id) == "ACKNOWLEDGED", "the check must fall inside the open tasking"

    rig.wait_state(t.id, "EXPIRED", timeout=ARRIVAL_TIMEOUT_S + 15)
    assert rig.audit_steps(t.id) == [
        (None, "SENT", "sgt.jones", "L-BUSY tasked to Far"),
        ("SENT", "ACKNOWLEDGED", "L-BUSY", "accepted by the crew"),
        ("ACKNOWLEDGED", "EXPIRED", "system",
         f"no arrival within {ARRIVAL_TIMEOUT_S / 60:.0f} min"),
    ]
    # Released by the expiry, it is suggested again (its position is still fresh).
    expired = time.time()
    wait_until(lambda: (s := rig.gap_suggestions(expired)) and "L-BUSY" in s, 15,
               what="L-BUSY suggested again once the tasking expired")
