"""The hostile corpus through a real broker and worker: each counted, none stored."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable

import pytest

from patrolwatch.mqtt import MqttClient
from tests.hostile.corpus import load_corpus
from tests.integration.conftest import RunningWorker
from tests.services import wait_until

pytestmark = pytest.mark.integration


def test_every_delivered_hostile_message_is_rejected_and_counted_exactly(
    start_worker: Callable[..., RunningWorker], fresh_mqtt_url: str
) -> None:
    rw = start_worker(broker_url=fresh_mqtt_url)
    publisher = MqttClient(fresh_mqtt_url, "hostile-publisher")
    assert publisher.start(wait_s=10)
    cases = [c for c in load_corpus() if c.delivered]
    assert len(cases) >= 200
    for case in cases:
        publisher.publish(case.topic, case.payload)
    sentinel = json.dumps({"ts": time.time(), "lat": 51.5, "lon": -0.12})
    publisher.publish("patrol/SENTINEL/position", sentinel)
    wait_until(lambda: rw.store.last_seen("SENTINEL") is not None, 20, what="sentinel stored")
    wait_until(lambda: rw.store.stats().rejected_total == len(cases), 20,
               what=f"{len(cases)} rejections counted")
    stats = rw.store.stats()
    assert stats.rejected_by_reason == dict(Counter(c.reason.value for c in cases))
    assert stats.accepted_total == 1, "nothing of a hostile message may be stored"
    rows = rw.store.live_rows()
    assert set(rows.seen) == {"SENTINEL"} and set(rows.positions) == {"SENTINEL"}
    assert rows.statuses == {} and rows.lwt == {}
    assert rw.alive
    publisher.stop()
