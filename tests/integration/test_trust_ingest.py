"""Trust rules through the real ingest path: real Mosquitto, real Redis, the real worker.

Clock skew cannot swallow an EMERGENCY, each EMERGENCY is its own alarm, a flooding unit is
rate limited without touching others, junk acks are not audited, an old last-will does not
mark a live phone lost, and nothing sent off duty is kept.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.evaluator import CoverageEvaluator
from patrolwatch.core import taskings as tk
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.core.model import Ack, Position, Reason, Status, StatusChange
from patrolwatch.core.ordering import Stamp, latest
from patrolwatch.mqtt import MqttClient
from patrolwatch.roster import Roster
from patrolwatch.store import K_FEED, Batch, Store, k_trail
from tests.integration.conftest import ROOT, RunningWorker, make_settings
from tests.services import wait_until

StartWorker = Callable[..., RunningWorker]


@pytest.fixture
def store(redis_url: str) -> Store:
    return Store.from_url(redis_url)


def status_msg(ts: float, status: str) -> str:
    return json.dumps({"ts": ts, "status": status})


def position_msg(ts: float, lat: float = 51.5, lon: float = -0.12) -> str:
    return json.dumps({"ts": ts, "lat": lat, "lon": lon, "acc": 5.0})


# --- 1. ordering and EMERGENCY -----------------------------------------------------------------


def test_emergency_after_a_fast_clock_takes_effect(start_worker: StartWorker,
                                                   publisher: MqttClient) -> None:
    """A handheld 4 minutes fast, then EMERGENCY from a correct clock: the unit is in EMERGENCY."""
    rw = start_worker()
    now = time.time()
    publisher.publish("patrol/FAST1/status", status_msg(now + 240, "AVAILABLE"))
    wait_until(lambda: (rw.store.unit_status("FAST1") or {}).get("status") == "AVAILABLE", 15,
               what="AVAILABLE stored")
    publisher.publish("patrol/FAST1/status", status_msg(time.time(), "EMERGENCY"))
    wait_until(lambda: (rw.store.unit_status("FAST1") or {}).get("status") == "EMERGENCY", 15,
               what="EMERGENCY is the unit's status")
    assert [a["unit"] for a in rw.store.open_alarms()] == ["FAST1"]


def test_same_second_statuses_settle_by_arrival(start_worker: StartWorker,
                                                publisher: MqttClient) -> None:
    rw = start_worker()
    ts = float(int(time.time()))
    publisher.publish("patrol/SAME1/status", status_msg(ts, "AT_SCENE"))
    publisher.publish("patrol/SAME1/status", status_msg(ts, "EMERGENCY"))
    publisher.publish("patrol/SAME2/status", status_msg(ts, "EMERGENCY"))
    publisher.publish("patrol/SAME2/status", status_msg(ts, "AT_SCENE"))
    wait_until(lambda: rw.store.stats().accepted_total == 4, 15, what="all four stored")
    assert (rw.store.unit_status("SAME1") or {})["status"] == "EMERGENCY"
    assert (rw.store.unit_status("SAME2") or {})["status"] == "AT_SCENE"
    # SAME2 cleared its EMERGENCY, but the alarm stays until a supervisor acknowledges it
    assert sorted(a["unit"] for a in rw.store.open_alarms()) == ["SAME1", "SAME2"]


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[tuple[float, float, Status]], list[int]]:
    """A unit's statuses in arrival order (skewed clocks, ties, repeats) and batch sizes."""
    base = 1_780_000_000.0
    out: list[tuple[float, float, Status]] = []
    arrival = base
    for i in range(draw(st.integers(1, 10))):
        arrival += draw(st.sampled_from([1e-6, 0.001, 0.5, 1.0, 30.0]))
        if out and draw(st.integers(0, 3)) == 0:
            ts, _, status = draw(st.sampled_from(out))
        else:
            ts = float(round(arrival) + draw(st.integers(-600, 300)))
            status = draw(st.sampled_from([Status.AVAILABLE, Status.AT_SCENE,
                                           Status.EMERGENCY, Status.ON_PATROL]))
        out.append((ts, arrival + i * 1e-6, status))
    cuts = draw(st.lists(st.integers(1, 4), min_size=len(out), max_size=len(out)))
    return out, cuts


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries())
def test_store_lua_agrees_with_the_pure_rule(
        store: Store, case: tuple[list[tuple[float, float, Status]], list[int]]) -> None:
    """The same sequences through the real Store on a real Redis give the pure rule's answer."""
    seq, cuts = case
    unit = f"P{uuid.uuid4().hex[:12]}"
    msgs = [StatusChange(unit, ts, s, arrival=arr) for ts, arr, s in seq]
    at = 0
    for size in cuts:
        if at >= len(msgs):
            break
        store.write_batch(Batch(statuses=msgs[at:at + size]), now=seq[-1][1] + 1)
        at += size
    chosen = latest([Stamp.of(ts, arr, s is Status.EMERGENCY) for ts, arr, s in seq])
    assert chosen is not None
    got = store.unit_status(unit) or {}
    assert (got["status"], got["arrival"]) == (seq[chosen][2].value, seq[chosen][1])
    if seq[-1][2] is Status.EMERGENCY:
        assert got["status"] == "EMERGENCY"


def test_each_emergency_is_its_own_alarm(store: Store) -> None:
    now = time.time()
    first = StatusChange("A1", now - 30, Status.EMERGENCY, arrival=now - 30)
    store.write_batch(Batch(statuses=[first]), now=now)
    store.write_batch(Batch(statuses=[StatusChange("A1", now - 20, Status.AVAILABLE,
                                                   arrival=now - 20)]), now=now)
    store.write_batch(Batch(statuses=[
        StatusChange("A1", now - 10, Status.EMERGENCY, arrival=now - 10),
        StatusChange("B1", now - 10, Status.EMERGENCY, arrival=now - 9)]), now=now)
    alarms = store.open_alarms()
    assert [a["unit"] for a in alarms] == ["A1", "A1", "B1"]
    assert len({a["id"] for a in alarms}) == 3
    acked = store.acknowledge_alarm(alarms[0]["id"], "sgt.jones", now)
    assert acked is not None and acked["acked_by"] == "sgt.jones"
    assert store.acknowledge_alarm(alarms[0]["id"], "sgt.jones", now) is None  # once
    assert [a["id"] for a in store.open_alarms()] == [alarms[1]["id"], alarms[2]["id"]]
    # the same message delivered again does not re-open its acknowledged alarm
    store.write_batch(Batch(statuses=[first]), now=now)
    assert len(store.open_alarms()) == 2
    entries = store.audit_log()
    assert [(e["kind"], e["alarm"]) for e in entries] == [("emergency_ack", alarms[0]["id"])]
    # the banner's per-unit acknowledgement still works, alarm by alarm
    store.acknowledge_emergency("A1", "sgt.jones", now - 10, now)
    assert [a["unit"] for a in store.open_alarms()] == ["B1"]


def test_an_emergency_flood_cannot_bury_other_alarms(store: Store) -> None:
    now = time.time()
    flood = [StatusChange("SOS", now - 100 + i * 0.1, Status.EMERGENCY, arrival=now + i * 1e-3)
             for i in range(200)]
    store.write_batch(Batch(statuses=flood), now=now)
    store.write_batch(Batch(statuses=[StatusChange("OTHER", now, Status.EMERGENCY,
                                                   arrival=now + 1)]), now=now)
    alarms = store.open_alarms()
    assert sum(1 for a in alarms if a["unit"] == "SOS") == 20
    assert sum(a.get("repeats", 0) for a in alarms) == 180
    assert alarms[-1]["unit"] == "OTHER"


# --- 2. rate limit ----------------------------------------------------------------------------


def test_a_flooding_unit_is_rate_limited_and_others_are_not(start_worker: StartWorker,
                                                           publisher: MqttClient) -> None:
    rw = start_worker()
    now = time.time()
    for i in range(400):
        publisher.publish("patrol/FLOOD/position", position_msg(now - 1 + i * 1e-4))
        if i == 200:
            publisher.publish("patrol/FLOOD/status", status_msg(now, "EMERGENCY"))
        if i % 20 == 0:
            publisher.publish("patrol/CALM/position", position_msg(now - 100 + i / 20))
    total = 400 + 1 + 20
    wait_until(lambda: (rw.store.stats().accepted_total + rw.store.stats().rejected_total
                        == total), 30, what="every message stored or rejected")
    stats = rw.store.stats()
    assert stats.rejected_by_reason.get(Reason.RATE_LIMITED.value, 0) >= 300
    assert rw.store.trail_count("CALM") == 20
    assert (rw.store.unit_status("FLOOD") or {})["status"] == "EMERGENCY"
    assert any(r["reason"] == "rate_limited" for r in rw.store.recent_rejections())


# --- 3. junk acks -----------------------------------------------------------------------------


def test_junk_acks_are_counted_not_audited(store: Store, redis_url: str) -> None:
    settings_ = make_settings("mqtt://127.0.0.1:1", redis_url)
    hotspots = load_hotspots(ROOT / "config/hotspots.geojson",
                             CoverageDefaults.from_settings(settings_), settings_.zone)
    evaluator = CoverageEvaluator(settings_, store, hotspots, Roster.empty())
    now = time.time()
    real = tk.create("U1", next(iter(hotspots)).id, "Somewhere", 51.5, -0.1, "sgt", now - 60)
    store.save_tasking(real.tasking.to_json(), True)
    junk = [Ack("U1", f"T-made-up-{i}", now, True) for i in range(2000)]
    others = [Ack("U2", real.tasking.id, now, True)]  # a real id, but not U2's tasking
    mine = [Ack("U1", real.tasking.id, now, True)] * 3  # the answer, then two repeats
    store.write_batch(Batch(acks=[*junk, *others, *mine]), now=now)
    evaluator.consume_feed()
    evaluator.advance_taskings(now)
    kinds = [e["kind"] for e in store.audit_log(limit=5000)]
    assert kinds == ["tasking"]  # only the real answer
    assert store.stats().acks_unknown_total == 2001
    assert store.stats().acks_repeated_total == 2
    assert (store.tasking(real.tasking.id) or {})["state"] == "ACKNOWLEDGED"


# --- 4. OwnTracks last-will -------------------------------------------------------------------


def test_an_old_retained_lwt_does_not_mark_a_live_phone_lost(
        start_worker: StartWorker, publisher: MqttClient) -> None:
    client_id = f"test-ingest-{uuid.uuid4().hex[:8]}"
    rw = start_worker(client_id=client_id)
    now = time.time()
    publisher.publish("owntracks/alice/phone", json.dumps(
        {"_type": "location", "tst": int(now) - 5, "lat": 51.5, "lon": -0.1}))
    wait_until(lambda: rw.store.last_seen("alice-phone") is not None, 15, what="fix stored")
    rw.stop()
    # what the broker holds from a connection of long ago, sent again on every subscribe
    publisher.publish("owntracks/alice/phone", json.dumps(
        {"_type": "lwt", "tst": int(now) - 7200}), retain=True)
    rw2 = start_worker(client_id=client_id)
    wait_until(lambda: any(e["event"] == "lwt" for e in rw2.store.unit_events("alice-phone")),
               15, what="the last-will received")
    assert "alice-phone" not in rw2.store.live_rows().lwt
    assert not rw2.store.unit_events("alice-phone")[0]["lost"]
    # a will without tst, live: contact lost now
    publisher.publish("owntracks/alice/phone", json.dumps({"_type": "lwt"}))
    wait_until(lambda: "alice-phone" in rw2.store.live_rows().lwt, 15, what="marked lost")
    publisher.publish("owntracks/alice/phone", b"", retain=True)


# --- 6. off duty ------------------------------------------------------------------------------


def test_positions_sent_off_duty_are_not_kept(store: Store) -> None:
    t0 = time.time() - 1000
    store.write_batch(Batch(statuses=[StatusChange("OD1", t0, Status.ON_PATROL),
                                      StatusChange("OD1", t0 + 100, Status.OFF_DUTY),
                                      StatusChange("OD1", t0 + 200, Status.ON_PATROL)]))
    before = store.r.xlen(K_FEED)
    result = store.write_batch(Batch(positions=[
        Position("OD1", t0 + 50, 51.5, -0.1), Position("OD1", t0 + 150, 51.6, -0.1),
        Position("OD1", t0 + 250, 51.7, -0.1)]))
    assert result.off_duty == 1
    assert [p[0] for p in store.trail("OD1", 0, t0 + 1000)] == [t0 + 50, t0 + 250]
    stats = store.stats()
    assert stats.rejected_by_reason[Reason.OFF_DUTY.value] == 1
    assert stats.accepted_total == 3 + 2
    assert store.r.xlen(K_FEED) - before == 2  # the off-duty one never reaches coverage
    rejection = store.recent_rejections()[0]
    assert rejection["reason"] == "off_duty" and rejection["payload"] == ""  # nothing kept


def test_a_late_off_duty_status_deletes_what_was_sent_during_it(store: Store) -> None:
    t1 = time.time() - 1000
    store.write_batch(Batch(positions=[Position("OD2", t1 - 10, 51.5, -0.1),
                                       Position("OD2", t1 + 10, 51.6, -0.1),
                                       Position("OD2", t1 + 20, 51.7, -0.1)]))
    assert store.trail_count("OD2") == 3
    store.write_batch(Batch(statuses=[StatusChange("OD2", t1, Status.OFF_DUTY)]))
    assert [p[0] for p in store.trail("OD2", 0, t1 + 1000)] == [t1 - 10]
    assert "OD2" not in store.live_rows().positions  # the latest was off duty: gone too
    assert store.r.geopos("pw:{live}:geo", "OD2") == [None]
    # a later status ends the period: what follows it is kept, what fell in it is not
    store.write_batch(Batch(statuses=[StatusChange("OD2", t1 + 15, Status.ON_PATROL)]))
    store.write_batch(Batch(positions=[Position("OD2", t1 + 12, 51.6, -0.1),
                                       Position("OD2", t1 + 30, 51.8, -0.1)]))
    assert [p[0] for p in store.trail("OD2", 0, t1 + 1000)] == [t1 - 10, t1 + 30]
    store.write_batch(Batch(statuses=[StatusChange("OD2", t1 + 25, Status.OFF_DUTY)]))
    assert [p[0] for p in store.trail("OD2", 0, t1 + 1000)] == [t1 - 10]
    assert store.r.zcard(k_trail("OD2")) == 1


def test_off_duty_through_the_worker(start_worker: StartWorker, publisher: MqttClient) -> None:
    rw = start_worker()
    now = time.time()
    publisher.publish("patrol/OD3/status", status_msg(now - 60, "OFF_DUTY"))
    wait_until(lambda: rw.store.unit_status("OD3") is not None, 15, what="status stored")
    publisher.publish("patrol/OD3/position", position_msg(now - 30))
    wait_until(lambda: rw.store.stats().rejected_by_reason.get("off_duty") == 1, 15,
               what="the position rejected as off duty")
    assert rw.store.trail_count("OD3") == 0
