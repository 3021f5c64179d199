"""Several ingest workers share the load through MQTT shared subscriptions (Mosquitto)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.evaluator import CoverageEvaluator
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.mqtt import MqttClient
from patrolwatch.roster import Roster
from patrolwatch.store import Store
from tests.integration.conftest import RunningWorker, make_settings
from tests.services import ServerProcess, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.mosquitto]
ROOT = Path(__file__).resolve().parents[2]


def test_two_workers_share_the_stream_without_loss_or_double_storage(
    mosquitto: ServerProcess, redis_url: str, start_worker: Callable[..., RunningWorker]
) -> None:
    url = f"mqtt://127.0.0.1:{mosquitto.port}"
    a = start_worker(broker_url=url, client_id="ingest-a", ingest_share_group="ingest")
    b = start_worker(broker_url=url, client_id="ingest-b", ingest_share_group="ingest")
    pub = MqttClient(url, "share-pub")
    assert pub.start(wait_s=10)
    base = time.time() - 10_000
    for n in range(4000):
        pub.publish(f"patrol/S{n % 40:02d}/position",
                    json.dumps({"ts": base + n, "lat": 51.5, "lon": -0.1}))
    pub.publish_and_wait("patrol/S00/flush", b"{}")
    pub.stop()
    store = Store.from_url(redis_url)
    expected = {f"S{u:02d}": 100 for u in range(40)}
    wait_until(lambda: store.units_in_trails(expected) == expected, 30,
               what="4000 positions stored once each")
    assert a.worker is not None and b.worker is not None
    assert a.worker.stats.messages > 0 and b.worker.stats.messages > 0, "load was not shared"
    wait_until(lambda: a.worker.stats.messages + b.worker.stats.messages == 4000, 10,
               what="both workers' counts to settle")
    assert store.stats().duplicates_total == 0


def test_only_one_coverage_evaluator_runs_at_a_time(redis_url: str, mqtt_url: str) -> None:
    settings = make_settings(mqtt_url, redis_url, evaluate_every_s=0.2)
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                             settings.zone)
    evaluators = [CoverageEvaluator(settings, Store.from_url(redis_url), hotspots,
                                    Roster.empty()) for _ in range(2)]
    stop = threading.Event()
    threads = [threading.Thread(target=e.run, args=(stop,), daemon=True) for e in evaluators]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: sum(e.evaluations for e in evaluators) >= 5, 30,
                   what="evaluations to happen")
        assert sorted(e.evaluations > 0 for e in evaluators) == [False, True]
        leader = next(e for e in evaluators if e.evaluations > 0)
        follower = next(e for e in evaluators if e is not leader)
        # The leader stops; the other takes over once the lock expires, rebuilding first.
        leader_stop = threading.Event()
        stop.set()
        for t in threads:
            t.join(10)
        follower_thread = threading.Thread(target=follower.run, args=(leader_stop,), daemon=True)
        follower_thread.start()
        wait_until(lambda: follower.evaluations > 0, 30, what="the follower to take over")
        leader_stop.set()
        follower_thread.join(10)
    finally:
        stop.set()
