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

from ingest.evaluator import CoverageEvaluator
from patrolwatch.core import taskings as tk
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.core.model import Ack, Position, Reason, Status, StatusChange
from patrolwatch.mqtt import MqttClient
from patrolwatch.roster import Roster
from patrolwatch.store import K_FEED, Batch, Store, k_status_log, k_trail
from patrolwatch.store.batch import alarm_id
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
    """A handheld 4 minutes fast, then an EMERGENCY stamped earlier (a clock 2 minutes slow,
    or a press queued while out of coverage): it takes effect on arrival all the same."""
    rw = start_worker()
    now = time.time()
    publisher.publish("patrol/FAST1/status", status_msg(now + 240, "AVAILABLE"))
    wait_until(lambda: (rw.store.unit_status("FAST1") or {}).get("status") == "AVAILABLE", 15,
               what="AVAILABLE stored")
    # Older than the AVAILABLE's effective time (its arrival): only the override lets it win.
    publisher.publish("patrol/FAST1/status", status_msg(now - 120, "EMERGENCY"))
    wait_until(lambda: (rw.store.unit_status("FAST1") or {}).get("status") == "EMERGENCY", 15,
               what="EMERGENCY is the unit's status")
    # raised in the write's second round trip, just after the status
    wait_until(lambda: [a["unit"] for a in rw.store.open_alarms()] == ["FAST1"], 15,
               what="its alarm raised")


def test_same_second_statuses_settle_by_arrival(start_worker: StartWorker,
                                                publisher: MqttClient) -> None:
    rw = start_worker()
    ts = float(int(time.time()))
    publisher.publish("patrol/SAME1/status", status_msg(ts, "AT_SCENE"))
    publisher.publish("patrol/SAME1/status", status_msg(ts, "EMERGENCY"))
    publisher.publish("patrol/SAME2/status", status_msg(ts, "EMERGENCY"))
    publisher.publish("patrol/SAME2/status", status_msg(ts, "AT_SCENE"))
    # ties without an EMERGENCY: only the arrival order (the Lua's tie-break) settles them
    publisher.publish("patrol/SAME3/status", status_msg(ts, "AT_SCENE"))
    publisher.publish("patrol/SAME3/status", status_msg(ts, "AVAILABLE"))
    publisher.publish("patrol/SAME4/status", status_msg(ts, "AVAILABLE"))
    publisher.publish("patrol/SAME4/status", status_msg(ts, "AT_SCENE"))
    wait_until(lambda: rw.store.stats().accepted_total == 8, 15, what="all eight stored")
    assert (rw.store.unit_status("SAME1") or {})["status"] == "EMERGENCY"
    assert (rw.store.unit_status("SAME2") or {})["status"] == "AT_SCENE"
    assert (rw.store.unit_status("SAME3") or {})["status"] == "AVAILABLE"
    assert (rw.store.unit_status("SAME4") or {})["status"] == "AT_SCENE"
    # SAME2 cleared its EMERGENCY, but the alarm stays until a supervisor acknowledges it
    assert sorted(a["unit"] for a in rw.store.open_alarms()) == ["SAME1", "SAME2"]


def test_each_emergency_press_is_one_alarm_and_repeats_fold_into_it(store: Store) -> None:
    now = time.time()
    first = StatusChange("A1", now - 30, Status.EMERGENCY, arrival=now - 30)
    store.write_batch(Batch(statuses=[first]), now=now)
    store.write_batch(Batch(statuses=[StatusChange("A1", now - 20, Status.AVAILABLE,
                                                   arrival=now - 20)]), now=now)
    # pressed again while its alarm is open: folds into it (count, last seen)
    store.write_batch(Batch(statuses=[
        StatusChange("A1", now - 10, Status.EMERGENCY, arrival=now - 10),
        StatusChange("B1", now - 10, Status.EMERGENCY, arrival=now - 9)]), now=now)
    alarms = store.open_alarms()
    assert [a["unit"] for a in alarms] == ["A1", "B1"]
    assert alarms[0]["id"] == alarm_id(first)
    assert (alarms[0]["repeats"], alarms[0]["last_arrival"]) == (1, now - 10)
    assert (store.unit_status("A1") or {})["status"] == "EMERGENCY"
    acked = store.acknowledge_alarm(alarms[0]["id"], "sgt.jones", now)
    assert acked is not None and acked["acked_by"] == "sgt.jones"
    assert store.acknowledge_alarm(alarms[0]["id"], "sgt.jones", now) is None  # once
    assert [a["id"] for a in store.open_alarms()] == [alarms[1]["id"]]
    # the same messages delivered again open nothing, and change nothing
    store.write_batch(Batch(statuses=[first, StatusChange("A1", now - 10, Status.EMERGENCY,
                                                          arrival=now + 5)]), now=now + 5)
    assert [a["unit"] for a in store.open_alarms()] == ["B1"]
    entries = store.audit_log()
    assert [(e["kind"], e["alarm"]) for e in entries] == [("emergency_ack", alarms[0]["id"])]
    # a press after the acknowledgement is a new alarm
    store.write_batch(Batch(statuses=[StatusChange("A1", now + 6, Status.EMERGENCY,
                                                   arrival=now + 6)]), now=now + 6)
    assert [a["unit"] for a in store.open_alarms()] == ["B1", "A1"]
    # the banner's per-unit acknowledgement still works
    store.acknowledge_emergency("A1", "sgt.jones", now + 6, now + 7)
    assert [a["unit"] for a in store.open_alarms()] == ["B1"]


def test_an_emergency_flood_is_one_alarm_and_stores_nothing_more(store: Store) -> None:
    now = time.time()
    flood = [StatusChange("SOS", now - 100 + i * 0.1, Status.EMERGENCY, arrival=now + i * 1e-3)
             for i in range(200)]
    store.write_batch(Batch(statuses=flood[:1]), now=now)
    log_before = store.r.zcard(k_status_log("SOS"))
    feed_before = store.r.xlen(K_FEED)
    store.write_batch(Batch(statuses=flood[1:]), now=now)
    store.write_batch(Batch(statuses=[StatusChange("OTHER", now, Status.EMERGENCY,
                                                   arrival=now + 1)]), now=now)
    alarms = store.open_alarms()
    assert [(a["unit"], a["repeats"]) for a in alarms] == [("SOS", 199), ("OTHER", 0)]
    assert store.r.zcard(k_status_log("SOS")) == log_before == 1
    assert store.r.xlen(K_FEED) == feed_before + 1  # OTHER's only


# --- 2. rate limit ----------------------------------------------------------------------------


def test_a_flooding_unit_is_rate_limited_and_others_are_not(start_worker: StartWorker,
                                                           publisher: MqttClient) -> None:
    rw = start_worker()
    now = time.time()
    for i in range(400):
        publisher.publish("patrol/FLOOD/position", position_msg(now - 1 + i * 1e-4))
        if i == 200:  # on the flood's own clock, with its bucket empty: only exempt gets it in
            publisher.publish("patrol/FLOOD/status", status_msg(now - 1 + i * 1e-4, "EMERGENCY"))
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


def test_a_late_off_duty_deletes_only_its_own_period_and_audits_it(store: Store) -> None:
    """Bounded by its period (the next status, however many came after), not by a count."""
    t0 = time.time() - 7200
    store.write_batch(Batch(statuses=[StatusChange("OD5", t0, Status.ON_PATROL)]), now=t0 + 1)
    store.write_batch(Batch(positions=[Position("OD5", t0 + 60 * i, 51.5, -0.1 + i * 1e-4)
                                       for i in range(1, 60)]), now=t0 + 3600)
    # 70 status changes after the hour: far more than any count of statuses kept
    store.write_batch(Batch(statuses=[
        StatusChange("OD5", t0 + 3700 + i, Status.AVAILABLE if i % 2 else Status.ON_PATROL)
        for i in range(70)]), now=t0 + 3800)
    # then a late OFF_DUTY from minute 30 to 40 (a late ON_PATROL ends it)
    late = [StatusChange("OD5", t0 + 1800, Status.OFF_DUTY, arrival=t0 + 3900),
            StatusChange("OD5", t0 + 2400, Status.ON_PATROL, arrival=t0 + 3901)]
    store.write_batch(Batch(statuses=late), now=t0 + 3902)
    assert store.trail_count("OD5") == 59 - 10  # minutes 30..39 gone, nothing else
    entries = [e for e in store.audit_log() if e["kind"] == "off_duty_deletion"]
    assert [(e["unit"], e["since"], e["until"], e["count"]) for e in entries] == [
        ("OD5", t0 + 1800, t0 + 2400, 10)]
    # the same OFF_DUTY again (retained, replayed) deletes nothing and audits nothing
    store.write_batch(Batch(statuses=[StatusChange("OD5", t0 + 1800, Status.OFF_DUTY,
                                                   arrival=t0 + 4000)]), now=t0 + 4001)
    assert store.trail_count("OD5") == 49
    assert len([e for e in store.audit_log() if e["kind"] == "off_duty_deletion"]) == 1
    assert (store.unit_status("OD5") or {})["status"] == "AVAILABLE"
