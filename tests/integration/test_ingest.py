"""The ingest worker against a real broker and a real Redis/Valkey."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from patrolwatch.mqtt import Inbound, MqttClient
from patrolwatch.store import Store
from tests.integration.conftest import RunningWorker
from tests.services import ServerProcess, wait_until

pytestmark = pytest.mark.integration


def pos(unit: str, ts: float, lat: float = 51.5136, lon: float = -0.1318, **extra: object) -> str:
    return json.dumps({"ts": ts, "lat": lat, "lon": lon, "acc": 8, **extra})


def test_position_is_stored_and_latest_only_moves_forward(
    start_worker: Callable[..., RunningWorker], publisher: MqttClient
) -> None:
    rw = start_worker()
    now = time.time()
    publisher.publish("patrol/CW-401/position", pos("CW-401", now - 10, lat=51.51))
    wait_until(lambda: "CW-401" in rw.store.live_rows().positions, 10, what="position stored")
    publisher.publish("patrol/CW-401/position", pos("CW-401", now - 20, lat=51.40))
    wait_until(lambda: rw.store.trail_count("CW-401") == 2, 10, what="older point in the trail")
    latest = rw.store.live_rows().positions["CW-401"]
    assert latest["lat"] == 51.51, "an older position must not replace a newer one"
    assert [p[1] for p in rw.store.trail("CW-401", 0, now)] == [51.40, 51.51]


def test_same_message_twice_is_stored_once(
    start_worker: Callable[..., RunningWorker], publisher: MqttClient
) -> None:
    rw = start_worker()
    body = pos("TSG-U12", time.time() - 5, seq=7)
    publisher.publish("patrol/TSG-U12/position", body)
    publisher.publish("patrol/TSG-U12/position", body)
    wait_until(lambda: rw.store.stats().duplicates_total == 1, 10, what="duplicate counted")
    assert rw.store.trail_count("TSG-U12") == 1
    assert rw.store.stats().accepted_total == 1


def test_status_and_owntracks(
    start_worker: Callable[..., RunningWorker], publisher: MqttClient
) -> None:
    rw = start_worker()
    now = time.time()
    publisher.publish("patrol/CW-402/status", json.dumps({"ts": now, "status": "EMERGENCY"}))
    publisher.publish("owntracks/alice/phone", json.dumps(
        {"_type": "location", "tst": int(now), "lat": 51.5, "lon": -0.12, "vel": 36,
         "batt": 80, "acc": 12, "tid": "al", "conn": "m"}))
    wait_until(lambda: "alice-phone" in rw.store.live_rows().positions, 10, what="owntracks")
    rows = rw.store.live_rows()
    assert rows.statuses["CW-402"]["status"] == "EMERGENCY"
    ot = rows.positions["alice-phone"]
    assert ot["source"] == "owntracks" and ot["speed"] == pytest.approx(10.0)
    publisher.publish("owntracks/alice/phone", json.dumps({"_type": "lwt"}))
    wait_until(lambda: "alice-phone" in rw.store.live_rows().lwt, 10, what="last-will stored")


def test_a_malformed_burst_leaves_the_worker_alive_with_every_message_counted(
    start_worker: Callable[..., RunningWorker], publisher: MqttClient
) -> None:
    rw = start_worker()
    now = time.time()
    bad: list[tuple[str, bytes | str]] = []
    for i in range(250):
        bad.append(("patrol/CW-401/position", b"{not json" + str(i).encode()))
        bad.append(("patrol/CW-401/position", json.dumps({"ts": now, "lat": 95 + i, "lon": 0})))
        bad.append(("patrol/CW-401/status", json.dumps({"ts": now, "status": f"DANCING{i}"})))
        bad.append(("patrol/CW-401/position", json.dumps([now, 51.5, -0.1, i])))
    for topic, body in bad:
        publisher.publish(topic, body)
    publisher.publish("patrol/CW-401/position", pos("CW-401", now))
    wait_until(lambda: rw.store.stats().rejected_total == 1000, 20, what="1000 rejections")
    wait_until(lambda: rw.store.trail_count("CW-401") == 1, 10, what="the valid message stored")
    stats = rw.store.stats()
    assert stats.rejected_by_reason == {"invalid_json": 250, "out_of_range": 250,
                                        "unknown_status": 250, "not_object": 250}
    assert stats.accepted_total == 1
    assert rw.alive
    recent = rw.store.recent_rejections(5)
    assert len(recent) == 5 and all(r["reason"] and r["topic"] for r in recent)


def test_stopping_and_restarting_the_worker_mid_stream_loses_nothing(
    mosquitto: ServerProcess, redis_url: str, start_worker: Callable[..., RunningWorker]
) -> None:
    url = f"mqtt://127.0.0.1:{mosquitto.port}"
    rw = start_worker(broker_url=url, client_id="ingest-restart-test")
    # The first run stores its first 50 positions but never acknowledges them, as a crash
    # between store and ack would: the broker re-sends them to the second run.
    assert rw.worker is not None
    real_ack, withheld = rw.worker.client.ack, [0]

    def ack_after_50(msg: Inbound) -> bool:
        if withheld[0] < 50 and msg.topic.endswith("/position"):
            withheld[0] += 1
            return False
        return real_ack(msg)

    rw.worker.client.ack = ack_after_50  # type: ignore[method-assign]
    pub = MqttClient(url, "restart-publisher")
    assert pub.start(wait_s=10)
    store = Store.from_url(redis_url)
    base = time.time() - 600
    try:
        for i in range(300):
            pub.publish(f"patrol/U{i % 10}/position", pos(f"U{i % 10}", base + i, seq=i))
        wait_until(lambda: store.stats().accepted_total >= 100, 15, what="first part stored")
        rw.stop()
        for i in range(300, 600):  # published while the worker is down
            pub.publish(f"patrol/U{i % 10}/position", pos(f"U{i % 10}", base + i, seq=i))
        pub.publish_and_wait("patrol/U0/flush", b"{}")  # QoS 1 in order: the rest are taken
        rw.start()
        wait_until(lambda: store.stats().accepted_total == 600, 30, what="all 600 stored")
        counts = store.units_in_trails(f"U{n}" for n in range(10))
        assert counts == {f"U{n}": 60 for n in range(10)}
        # The 50 re-delivered positions are absorbed and counted as duplicates, not accepted.
        assert withheld[0] == 50
        wait_until(lambda: store.stats().duplicates_total >= 50, 30,
                   what="the 50 re-delivered positions counted as duplicates")
        assert store.stats().accepted_total == 600
    finally:
        pub.stop()
