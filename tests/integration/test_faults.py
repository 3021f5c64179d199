"""Faults with real processes: the worker, Redis and Mosquitto are killed and restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from patrolwatch.mqtt import MqttClient
from patrolwatch.servers import shipped_mosquitto_conf
from patrolwatch.store import Store
from tests.conftest import require_mosquitto
from tests.services import ServerProcess, mosquitto_server, redis_server, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.mosquitto]
ROOT = Path(__file__).resolve().parents[2]
UNITS = 20


@dataclass
class WorkerProcess:
    """`patrolwatch ingest` as a child process with a fixed client id (persistent session)."""

    mqtt_url: str
    redis_url: str
    log_path: Path
    client_id: str = "fault-ingest"
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PATROL_MQTT_URL": self.mqtt_url, "PATROL_REDIS_URL": self.redis_url,
               "PATROL_HOTSPOTS": str(ROOT / "config/hotspots.geojson"),
               "PATROL_UNITS": str(ROOT / "config/units.yaml"),
               "PATROL_USERS": str(self.log_path.parent / "no-users.yaml"),
               "PATROL_METRICS_PORT": "0"}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "patrolwatch", "ingest", "--no-evaluator",
                 "--client-id", self.client_id],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ServerProcess]:
    """A Mosquitto with the shipped config (queue limits, persistence) on a free port."""
    require_mosquitto()
    server = mosquitto_server(tmp_path, extra_conf=shipped_mosquitto_conf(), persist=True)
    yield server
    server.terminate()


@pytest.fixture
def redis_persistent(tmp_path: Path) -> Iterator[ServerProcess]:
    """A Redis/Valkey with AOF fsync on every write, so SIGKILL loses nothing it acknowledged."""
    server = redis_server(tmp_path, persist=True)
    yield server
    server.terminate()


@pytest.fixture
def worker(broker: ServerProcess, redis_persistent: ServerProcess, tmp_path: Path
           ) -> Iterator[WorkerProcess]:
    w = WorkerProcess(f"mqtt://127.0.0.1:{broker.port}", redis_persistent.url,
                      tmp_path / "worker.log")
    yield w
    w.stop()


def _publisher(broker: ServerProcess, name: str) -> MqttClient:
    client = MqttClient(f"mqtt://127.0.0.1:{broker.port}", name)
    assert client.start(wait_s=10)
    return client


def _send(pub: MqttClient, start: int, stop: int, base: float) -> None:
    for n in range(start, stop):
        unit = f"F{n % UNITS:02d}"
        pub.publish(f"patrol/{unit}/position",
                    json.dumps({"ts": base + n, "lat": 51.5, "lon": -0.1, "seq": n}))
    pub.publish_and_wait("patrol/F00/flush", b"{}", timeout_s=60)  # in order: all taken


def _expect_all(store: Store, total: int, timeout: float = 60) -> None:
    expected = {f"F{u:02d}": total // UNITS for u in range(UNITS)}
    wait_until(lambda: store.units_in_trails(expected) == expected, timeout,
               what=f"{total} positions, each stored exactly once")


def _wait_connected(worker: WorkerProcess, store: Store, pub: MqttClient) -> str:
    """Wait until the worker stores a probe message (it is connected and subscribed)."""
    probe = f"P{time.time_ns() % 10**9}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert worker.alive, worker.log_path.read_text()[-2000:]
        pub.publish(f"patrol/{probe}/position",
                    json.dumps({"ts": time.time() - 1, "lat": 51.5, "lon": -0.1}))
        try:
            wait_until(lambda: store.last_seen(probe) is not None, 1, what="probe stored")
            return probe
        except TimeoutError:
            continue
    raise TimeoutError("worker never stored a probe message")


@dataclass
class Rig:
    """A running worker, its broker and Redis, a store view and a connected publisher."""

    worker: WorkerProcess
    broker: ServerProcess
    redis: ServerProcess
    store: Store
    pub: MqttClient
    probe: str

    def expect_counted_once(self, total: int, duplicates: int | None = None) -> None:
        """Check the counters: every stored position accepted once, re-deliveries apart.

        A re-delivered message collapses into the same trail member whatever the code does,
        so the trails alone cannot show a double count; the counters can.
        """
        expected = total + self.store.trail_count(self.probe)
        # The counters follow the trail write in a second round trip: wait for them.
        stats = wait_until(lambda: (st := self.store.stats()).accepted_total >= expected and st,
                           10, what=f"{expected} accepted counted")
        assert stats.accepted_total == expected, stats
        if duplicates is not None:
            assert stats.duplicates_total == duplicates, stats


@pytest.fixture
def rig(worker: WorkerProcess, broker: ServerProcess, redis_persistent: ServerProcess
        ) -> Iterator[Rig]:
    """Start the worker and wait until it stores a probe: connected and subscribed."""
    store = Store.from_url(redis_persistent.url)
    pub = _publisher(broker, f"fault-pub-{time.time_ns()}")
    worker.start()
    probe = _wait_connected(worker, store, pub)
    yield Rig(worker, broker, redis_persistent, store, pub, probe)
    pub.stop()


def test_worker_killed_mid_stream_loses_and_doubles_nothing(rig: Rig) -> None:
    base = time.time() - 10_000
    _send(rig.pub, 0, 2000, base)
    wait_until(lambda: rig.store.stats().accepted_total > 200, 30, what="worker busy")
    rig.worker.kill()  # SIGKILL: whatever it received but had not acknowledged is re-sent
    _send(rig.pub, 2000, 4000, base)
    rig.worker.start()
    _expect_all(rig.store, 4000)
    rig.expect_counted_once(4000)


def test_redis_outage_holds_messages_then_stores_them(rig: Rig) -> None:
    base = time.time() - 10_000
    _send(rig.pub, 0, 1000, base)
    _expect_all(rig.store, 1000)
    rig.redis.kill()
    _send(rig.pub, 1000, 2000, base)  # sent while Redis is down
    assert rig.worker.alive, "the worker must ride out a Redis outage"
    rig.redis.start()
    _expect_all(rig.store, 2000)
    assert rig.worker.alive


def test_mosquitto_restart_keeps_queued_messages_for_the_worker(rig: Rig) -> None:
    rig.worker.stop()  # its persistent session stays on the broker
    _send(rig.pub, 0, 1000, time.time() - 10_000)  # queued for the absent worker
    rig.pub.stop()
    rig.broker.restart()  # graceful: Mosquitto writes its persistence file
    rig.worker.start()
    _expect_all(rig.store, 1000)
    rig.expect_counted_once(1000, duplicates=0)  # a clean stop acknowledged all it stored


def test_a_burst_of_50000_to_an_absent_worker_is_queued_not_dropped(rig: Rig) -> None:
    rig.worker.stop()
    _send(rig.pub, 0, 50_000, time.time() - 86_000)
    rig.worker.start()
    _expect_all(rig.store, 50_000, timeout=180)
    assert rig.store.stats().rejected_total == 0


def test_a_batch_held_while_redis_is_down_is_resent_after_a_worker_kill(rig: Rig) -> None:
    """The kill lands exactly between receive and store: Redis is down, so the worker holds the
    batch unacknowledged and retries; killed there, the broker must re-send it to the next
    worker. A worker that acknowledged before storing would lose it here (issue 15 item 10)."""
    rig.redis.kill()
    base = time.time() - 10_000
    for n in range(UNITS):
        rig.pub.publish(f"patrol/F{n:02d}/position",
                        json.dumps({"ts": base + n, "lat": 51.5, "lon": -0.1, "seq": n}))
    log = rig.worker.log_path
    wait_until(lambda: "cannot store a batch" in log.read_text(errors="replace"), 30,
               what="the worker holding a batch it cannot store")
    rig.worker.kill()  # in the window: received, not stored
    rig.redis.start()
    rig.worker.start()
    _expect_all(rig.store, UNITS)
    # Stopped before its picture producer has started, an ingest process misses SIGTERM (its
    # child starts after the signal; issue 15 item 9, not this test's subject): let it start.
    wait_until(lambda: "picture producer for" in log.read_text(errors="replace"), 30,
               what="the restarted worker's picture producer")
