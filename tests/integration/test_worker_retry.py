"""Ingest batching and retry on any broker (amqtt where Mosquitto is missing) and a real Redis.

``take_batch`` and ``store_until_done`` are called directly on a worker whose inbox the
test fills; Redis is a real process killed and restarted under them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.worker import IngestWorker, build_batch
from patrolwatch.core.messages import ParseContext
from patrolwatch.mqtt import Inbound, MqttClient
from patrolwatch.roster import Roster
from patrolwatch.store import Store, WriteResult
from tests.integration.conftest import RunningWorker, make_settings
from tests.services import ServerProcess, redis_server, wait_until

pytestmark = [pytest.mark.integration]


def inbound(topic: str, body: dict[str, object], mid: int = 1) -> Inbound:
    """A message as the MQTT adapter hands it on."""
    return Inbound(topic, json.dumps(body).encode(), 1, False, mid, 1, time.time())


def position(unit: str, ts: float, mid: int = 1) -> Inbound:
    """A native position message."""
    return inbound(f"patrol/{unit}/position", {"ts": ts, "lat": 51.5, "lon": -0.1}, mid)


@pytest.fixture
def redis_killable(tmp_path: Path) -> Iterator[ServerProcess]:
    """A Redis of this test's own, to kill and restart."""
    server = redis_server(tmp_path, persist=True)
    yield server
    server.terminate()


def make_worker(redis: ServerProcess, **extra: object) -> IngestWorker:
    """A worker whose broker client is never started: the test feeds its inbox."""
    settings = make_settings("mqtt://127.0.0.1:9", redis.url, **extra)
    ctx = ParseContext.from_settings(settings, Roster.empty(), {})
    return IngestWorker(settings, Store.from_url(redis.url), ctx, client_id="never-started")


def test_take_batch_takes_at_most_batch_max_in_order(redis_killable: ServerProcess) -> None:
    worker = make_worker(redis_killable, batch_max=5, batch_wait_ms=0)
    for n in range(12):
        worker.inbox.put(position("B1", 1000.0 + n, mid=n))
    sizes = []
    mids = []
    while batch := worker.take_batch(first_wait_s=0.05):
        sizes.append(len(batch))
        mids += [m.mid for m in batch]
    assert sizes == [5, 5, 2]
    assert mids == list(range(12))
    assert worker.take_batch(first_wait_s=0.01) == []


def test_take_batch_gathers_what_arrives_within_the_wait(redis_killable: ServerProcess) -> None:
    worker = make_worker(redis_killable, batch_max=100, batch_wait_ms=5000)
    worker.inbox.put(position("B1", 1000.0, mid=1))
    second_taken = threading.Event()

    def late() -> None:
        # Put the second once take_batch is waiting on the (now empty) inbox.
        wait_until(lambda: worker.inbox.qsize() == 0, 5, what="the first taken")
        worker.inbox.put(position("B1", 1001.0, mid=2))
        second_taken.set()
        wait_until(lambda: worker.inbox.qsize() == 0, 5, what="the second taken")
        for n in range(3, 101):  # fills the batch: take_batch returns before its 5 s wait
            worker.inbox.put(position("B1", 1000.0 + n, mid=n))

    thread = threading.Thread(target=late)
    thread.start()
    batch = worker.take_batch(first_wait_s=1)
    thread.join(10)
    assert second_taken.is_set()
    assert [m.mid for m in batch] == list(range(1, 101))


def test_store_until_done_holds_a_batch_through_a_redis_outage(
        redis_killable: ServerProcess) -> None:
    worker = make_worker(redis_killable)
    batch = build_batch([position("R1", time.time() - 600 + n, mid=n) for n in range(10)],
                        worker.ctx, time.time())
    redis_killable.kill()
    stop = threading.Event()
    result: list[WriteResult | None] = []
    thread = threading.Thread(target=lambda: result.append(worker.store_until_done(batch, stop)))
    thread.start()
    try:
        wait_until(lambda: worker.stats.store_failures >= 2, 15, what="two failed attempts")
        assert thread.is_alive() and not result, "the batch must be held, not dropped"
        redis_killable.start()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        stop.set()
        thread.join(5)
    assert len(batch.positions) == 10
    assert result and result[0] is not None and result[0].new_points == 10
    assert worker.store.trail_count("R1") == 10
    assert worker.metrics.registry.get_sample_value(
        "patrolwatch_ingest_store_failures_total") == worker.stats.store_failures


def test_store_until_done_gives_up_when_stopped_and_stores_nothing(
        redis_killable: ServerProcess) -> None:
    worker = make_worker(redis_killable)
    batch = build_batch([position("R2", time.time() - 60)], worker.ctx, time.time())
    assert len(batch.positions) == 1
    redis_killable.kill()
    stop = threading.Event()
    result: list[WriteResult | None] = []
    thread = threading.Thread(target=lambda: result.append(worker.store_until_done(batch, stop)))
    thread.start()
    wait_until(lambda: worker.stats.store_failures >= 1, 15, what="a failed attempt")
    stop.set()
    thread.join(15)
    assert result == [None]
    redis_killable.start()
    # Retried while Redis loads its AOF; a stored point would time this out.
    wait_until(lambda: worker.store.trail_count("R2") == 0, 15, what="R2 not stored")
    assert worker.store.seen_units() == []  # not stored: the broker re-sends it later


def test_process_puts_a_crews_ack_on_the_change_feed(redis_killable: ServerProcess) -> None:
    worker = make_worker(redis_killable)
    ack = inbound("patrol/A1/ack", {"id": "T-1", "ts": time.time(), "accepted": False,
                                    "reason": "at an incident"})
    assert worker.process([ack], threading.Event())
    entries = [f for _, f in worker.store.read_feed("0-0") if f.get("k") == "a"]
    assert len(entries) == 1
    assert {k: entries[0][k] for k in ("u", "i", "ok", "r")} == {
        "u": "A1", "i": "T-1", "ok": "0", "r": "at an incident"}


def test_acks_over_the_broker_reach_the_feed_across_a_redis_restart(
        mqtt_url: str, redis_killable: ServerProcess) -> None:
    # Any broker (amqtt without Mosquitto), the real worker loop, Redis killed meanwhile.
    settings = make_settings(mqtt_url, redis_killable.url, metrics_port=0)
    rw = RunningWorker(settings, Store.from_url(redis_killable.url), Roster.empty(),
                       f"retry-{uuid.uuid4().hex[:6]}")
    rw.start()
    pub = MqttClient(mqtt_url, f"retry-pub-{uuid.uuid4().hex[:6]}")
    assert pub.start(wait_s=10)
    try:
        pub.publish_and_wait("patrol/A2/ack", json.dumps({"id": "T-2", "ts": time.time(),
                                                          "accepted": True}))
        wait_until(lambda: any(f.get("i") == "T-2" for _, f in rw.store.read_feed("0-0")), 15,
                   what="the first ack on the feed")
        redis_killable.kill()
        pub.publish_and_wait("patrol/A2/ack", json.dumps({"id": "T-3", "ts": time.time(),
                                                          "accepted": True}))
        assert rw.worker is not None
        wait_until(lambda: rw.worker is not None and rw.worker.stats.store_failures >= 1, 15,
                   what="the worker holding the second ack")
        redis_killable.start()
        wait_until(lambda: any(f.get("i") == "T-3" for _, f in rw.store.read_feed("0-0")), 30,
                   what="the held ack on the feed after Redis returned")
        ids = [f["i"] for _, f in rw.store.read_feed("0-0") if f.get("k") == "a"]
        assert ids == ["T-2", "T-3"]  # AOF kept the first; the second stored once
    finally:
        pub.stop()
        rw.stop()
