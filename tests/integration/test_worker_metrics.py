"""The ingest process's /metrics, scraped over HTTP from the real `patrolwatch ingest`."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from patrolwatch.mqtt import MqttClient
from patrolwatch.store import Store
from tests.integration.ingest_process import IngestProcess, broker_server
from tests.services import ServerProcess, free_port, redis_server, wait_until

pytestmark = [pytest.mark.integration]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """Read /metrics and return every sample by name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def messages(samples: Samples, result: str, reason: str = "") -> float:
    """Return the message counter for one result (and rejection reason)."""
    key = ("patrolwatch_ingest_messages_total", (("reason", reason), ("result", result)))
    return samples.get(key, 0.0)


def gauge(samples: Samples, name: str) -> float:
    """Return an unlabelled gauge or counter."""
    return samples[(name, ())]


@dataclass
class Rig:
    """Broker, Redis and the ingest process whose /metrics the test reads."""

    broker: ServerProcess
    redis: ServerProcess
    ingest: IngestProcess
    port: int
    pub: MqttClient

    def scrape(self) -> Samples:
        """Scrape the running process."""
        assert self.ingest.alive, self.ingest.log()[-2000:]
        return scrape(self.port)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """`patrolwatch ingest --no-evaluator` with /metrics on a free port (each test that
    kills Redis or the broker starts it again; counters are read as differences)."""
    workdir = tmp_path_factory.mktemp("metrics")
    with contextlib.ExitStack() as stack:  # stops whatever started, even if a later step fails
        broker = broker_server(workdir)
        stack.callback(broker.terminate)
        redis = redis_server(workdir)
        stack.callback(redis.terminate)
        url = f"mqtt://127.0.0.1:{broker.port}"
        port = free_port()
        ingest = IngestProcess(url, redis.url, workdir / "ingest.log", evaluator=False,
                               env={"PATROL_METRICS_PORT": str(port)})
        stack.callback(ingest.stop)
        ingest.start()
        pub = MqttClient(url, f"metrics-pub-{uuid.uuid4().hex[:6]}")
        stack.callback(pub.stop)
        ingest.wait_storing(Store.from_url(redis.url))
        assert pub.start(wait_s=10)
        yield Rig(broker, redis, ingest, port, pub)


def test_counters_count_accepted_duplicate_and_rejected_messages(rig: Rig) -> None:
    before = rig.scrape()
    base = time.time() - 60
    for n in range(30):
        rig.pub.publish(f"patrol/M{n % 3}/position",
                        json.dumps({"ts": base + n, "lat": 51.5, "lon": -0.1}))
    rig.pub.publish("patrol/M0/position", json.dumps({"ts": base, "lat": 51.5, "lon": -0.1}))
    for _ in range(4):
        rig.pub.publish("patrol/M1/position", b"{not json")
    rig.pub.publish_and_wait("patrol/M2/position", json.dumps({"ts": base, "lat": 95, "lon": 0}))

    def counted() -> Samples | None:
        now = rig.scrape()
        done = (messages(now, "rejected", "out_of_range")
                - messages(before, "rejected", "out_of_range")) >= 1
        return now if done else None

    after = wait_until(counted, 15, what="the last message counted")
    assert messages(after, "accepted") - messages(before, "accepted") == 30
    assert messages(after, "duplicate") - messages(before, "duplicate") == 1
    assert (messages(after, "rejected", "invalid_json")
            - messages(before, "rejected", "invalid_json")) == 4
    assert gauge(after, "patrolwatch_ingest_batch_messages_count") > gauge(
        before, "patrolwatch_ingest_batch_messages_count")
    assert gauge(after, "patrolwatch_ingest_broker_connected") == 1


def test_lag_and_store_failures_show_a_redis_outage(rig: Rig) -> None:
    accepted = messages(rig.scrape(), "accepted")
    rig.redis.kill()
    rig.pub.publish_and_wait("patrol/M9/position",
                             json.dumps({"ts": time.time(), "lat": 51.5, "lon": -0.1}))
    # A failed store proves the worker holds the message: it was received by now.
    wait_until(lambda: gauge(rig.scrape(), "patrolwatch_ingest_store_failures_total") >= 1, 15,
               what="a store failure counted")
    held_since = time.time()
    # Two more failed retries (backoff 0.4 s, then 0.8 s) make the outage long enough to see.
    wait_until(lambda: gauge(rig.scrape(), "patrolwatch_ingest_store_failures_total") >= 3, 15,
               what="three store failures counted")
    rig.redis.start()
    back = time.time()
    lag = wait_until(
        lambda: (s := rig.scrape()) and messages(s, "accepted") > accepted
        and gauge(s, "patrolwatch_ingest_lag_seconds"), 30, what="the held message stored")
    # The held message was received before ``held_since`` and stored after ``back``.
    assert lag >= back - held_since > 0.5, (lag, back - held_since)


def test_connected_gauge_follows_the_broker(rig: Rig) -> None:
    assert gauge(rig.scrape(), "patrolwatch_ingest_broker_connected") == 1
    rig.broker.kill()
    wait_until(lambda: gauge(rig.scrape(), "patrolwatch_ingest_broker_connected") == 0, 15,
               what="the connected gauge at 0 while the broker is down")
    rig.broker.start()
    wait_until(lambda: gauge(rig.scrape(), "patrolwatch_ingest_broker_connected") == 1, 30,
               what="the connected gauge back at 1")
    assert gauge(rig.scrape(), "patrolwatch_ingest_broker_reconnects") >= 1
