"""Issue 15 items 1-4 through the shipped Mosquitto config, a real Redis and `patrolwatch ingest`.

Retained messages come back at every subscribe: here by a real restart of the ingest process
and by a real restart of Mosquitto (the worker reconnects and subscribes again). A message
seen before must change nothing: no new alarm, no deletion, no change of state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from patrolwatch.mqtt import MqttClient, read_passwords
from patrolwatch.mqtt_credentials import write_credentials
from patrolwatch.roster import Roster, RosterUnit
from patrolwatch.settings import Settings
from patrolwatch.store import Store, k_status_log
from tests.conftest import require_mosquitto
from tests.integration.ingest_process import IngestProcess
from tests.integration.shipped_broker import shipped_broker
from tests.services import ServerProcess, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.mosquitto]
INGEST = "patrolwatch-ingest-1"
UNITS = ("EM1", "OD1", "FAST1", "SOS1", "PRB")


@dataclass
class Rig:
    """The shipped broker, the ingest process signed in as its own login, and a store view."""

    broker: ServerProcess
    passwords: dict[str, str]
    ingest: IngestProcess
    store: Store

    def unit(self, name: str) -> MqttClient:
        """A handheld signed in as its own unit login (the broker's ACL applies)."""
        url = f"mqtt://{name}:{self.passwords[name]}@127.0.0.1:{self.broker.port}"
        client = MqttClient(url, "")
        assert client.start(wait_s=10), f"{name} could not connect"
        return client

    def settle(self, extra: int = 0) -> None:
        """Wait until the worker stored a fresh position of a probe unit, and ``extra`` more.

        Retained copies are sent at subscribe, before the probe: once it and the count are
        in, the worker has dealt with them. The probe is a unit of its own, so the units under
        test keep their own rate-limit buckets.
        """
        before = self.store.stats().accepted_total
        probe = self.unit("PRB")
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                assert self.ingest.alive, self.ingest.log()[-3000:]
                ts = time.time()
                probe.publish("patrol/PRB/position",
                              json.dumps({"ts": ts, "lat": 51.5, "lon": -0.1}))
                try:
                    wait_until(lambda t=ts: (self.store.last_seen("PRB") or 0) >= t, 2,
                               what="probe")
                    break
                except TimeoutError:
                    continue
        finally:
            probe.stop()
        wait_until(lambda: self.store.stats().accepted_total >= before + 1 + extra, 30,
                   what=f"{extra} retained messages and the probe taken")

    def restart_ingest(self) -> None:
        """Stop the ingest process cleanly and start it again (same login, same session)."""
        self.ingest.stop()
        self.ingest.start()

    def restart_broker(self) -> None:
        """Restart Mosquitto gracefully; it keeps retained messages and sessions on disk."""
        self.broker.restart()


@pytest.fixture
def rig(tmp_path: Path, redis_url: str) -> Iterator[Rig]:
    require_mosquitto()
    creds = tmp_path / "creds"
    units = {u: RosterUnit(id=u, callsign=u, team="Test", kind="foot") for u in UNITS}
    write_credentials(Settings(ingest_workers=1, dashboard_workers=1), creds,
                      roster=Roster(units, {}))
    broker = shipped_broker(tmp_path, creds)
    passwords = read_passwords((creds / "credentials.txt").read_text().splitlines())
    ingest = IngestProcess(
        f"mqtt://{INGEST}@127.0.0.1:{broker.port}", redis_url, tmp_path / "ingest.log",
        env={"PATROL_MQTT_PASSWORD_FILE": str(creds / "credentials.txt")},
        evaluator=False, client_id=INGEST)
    ingest.start()
    try:
        yield Rig(broker, passwords, ingest, Store.from_url(redis_url))
    finally:
        ingest.stop()
        broker.terminate()


def status(ts: float, value: str) -> str:
    return json.dumps({"ts": ts, "status": value})


def test_a_retained_emergency_raises_one_alarm_across_restarts(rig: Rig) -> None:
    """Item 2: EMERGENCY retained, then ON_PATROL, acknowledged; restarts raise nothing."""
    device = rig.unit("EM1")
    rig.settle()
    now = time.time()
    device.publish("patrol/EM1/status", status(now - 5, "EMERGENCY"), retain=True)
    wait_until(lambda: len(rig.store.open_alarms()) == 1, 30, what="the alarm raised")
    device.publish("patrol/EM1/status", status(now - 2, "ON_PATROL"))
    wait_until(lambda: (rig.store.unit_status("EM1") or {}).get("status") == "ON_PATROL", 30,
               what="ON_PATROL")
    alarm = rig.store.open_alarms()[0]
    assert rig.store.acknowledge_alarm(alarm["id"], "sgt.jones", time.time()) is not None
    device.stop()
    for restart in (rig.restart_ingest, rig.restart_broker):
        restart()
        device = rig.unit("EM1")
        rig.settle(extra=1)  # the retained EMERGENCY came back
        device.stop()
        assert rig.store.open_alarms() == []
        assert (rig.store.unit_status("EM1") or {})["status"] == "ON_PATROL"
        assert rig.store.r.hlen("pw:{task}:alarms") == 1
    assert rig.store.status_history("EM1", 0, now + 10) == [(now - 5, "EMERGENCY"),
                                                            (now - 2, "ON_PATROL")]


def test_a_retained_off_duty_deletes_no_on_duty_history_across_restarts(rig: Rig) -> None:
    """Item 3: OFF_DUTY retained at t-2h, ON_PATROL, an hour of positions, 70 statuses."""
    device = rig.unit("OD1")
    rig.settle()
    now = time.time()
    device.publish("patrol/OD1/status", status(now - 7200, "OFF_DUTY"), retain=True)
    device.publish("patrol/OD1/status", status(now - 7000, "ON_PATROL"))
    for i in range(59):  # an hour on duty, a position a minute
        device.publish("patrol/OD1/position", json.dumps(
            {"ts": now - 3600 + 60 * i, "lat": 51.5 + i * 1e-4, "lon": -0.1}))
    for i in range(70):
        device.publish("patrol/OD1/status",
                       status(now - 100 + i, "AVAILABLE" if i % 2 else "ON_PATROL"))
    def hour() -> int:
        return len(rig.store.trail("OD1", now - 3700, now - 100))

    wait_until(lambda: hour() == 59, 30, what="the hour's 59 positions stored")
    wait_until(lambda: len(rig.store.status_history("OD1", 0, now + 10)) == 72, 30,
               what="72 statuses")
    device.stop()
    counts = []
    for restart in (rig.restart_ingest, rig.restart_broker):
        restart()
        device = rig.unit("OD1")
        rig.settle(extra=1)  # the retained OFF_DUTY came back
        device.stop()
        counts.append(hour())
    assert counts == [59, 59]
    assert not [e for e in rig.store.audit_log() if e["kind"] == "off_duty_deletion"]
    assert (rig.store.unit_status("OD1") or {})["status"] == "AVAILABLE"


def test_an_emergency_after_a_fast_off_duty_keeps_the_units_positions(rig: Rig) -> None:
    """Item 1: a handheld 60 s fast books OFF_DUTY; EMERGENCY from a correct clock after it."""
    device = rig.unit("FAST1")
    rig.settle()
    t0 = time.time()
    device.publish("patrol/FAST1/status", status(t0 + 60, "OFF_DUTY"))
    wait_until(lambda: (rig.store.unit_status("FAST1") or {}).get("status") == "OFF_DUTY", 30,
               what="OFF_DUTY")
    device.publish("patrol/FAST1/status", status(time.time(), "EMERGENCY"))  # e.g. from /crew
    wait_until(lambda: (rig.store.unit_status("FAST1") or {}).get("status") == "EMERGENCY", 30,
               what="EMERGENCY")
    before = rig.store.trail_count("FAST1")
    for i in range(10):  # still 60 s fast: past the OFF_DUTY's own time
        device.publish("patrol/FAST1/position", json.dumps(
            {"ts": time.time() + 60 + i, "lat": 51.5, "lon": -0.1 + i * 1e-4}))
    wait_until(lambda: rig.store.stats().accepted_total
               + rig.store.stats().rejected_total >= before + 10, 30, what="positions taken")
    wait_until(lambda: rig.store.trail_count("FAST1") == before + 10, 30,
               what="every position of the unit in EMERGENCY kept")
    assert rig.store.stats().rejected_by_reason.get("off_duty", 0) == 0
    assert rig.store.live_rows().positions["FAST1"]["lon"] == pytest.approx(-0.1 + 9e-4)


def test_an_emergency_flood_is_one_alarm_and_a_bounded_write(rig: Rig, redis_url: str) -> None:
    """Item 4: 20,000 EMERGENCY statuses from one login fold into one alarm."""
    device = rig.unit("SOS1")
    rig.settle()
    client = redis.Redis.from_url(redis_url)
    before = int(client.info("memory")["used_memory"])
    now = time.time()
    n = 20_000
    for i in range(n):
        device.publish("patrol/SOS1/status", status(now - 30 + i * 1e-3, "EMERGENCY"))
    wait_until(lambda: sum(1 + a.get("repeats", 0) for a in rig.store.open_alarms()) == n, 120,
               what=f"{n} EMERGENCYs folded")
    device.stop()
    grown = int(client.info("memory")["used_memory"]) - before
    print(f"Redis used_memory grew by {grown} bytes under {n} EMERGENCY statuses")
    alarms = rig.store.open_alarms()
    assert len(alarms) == 1 and alarms[0]["repeats"] == n - 1
    assert rig.store.r.zcard(k_status_log("SOS1")) == 1
    assert grown < 1024 * 1024, grown  # main: +4 MB, all of it kept for 31 days
