"""Fixtures that run the real ingest worker against real broker and Redis processes."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.worker import IngestWorker
from patrolwatch.core.messages import ParseContext
from patrolwatch.mqtt import MqttClient
from patrolwatch.roster import Roster, load_roster
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from tests.services import wait_until

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningWorker:
    """An IngestWorker on a thread, stoppable and restartable with the same client id."""

    settings: Settings
    store: Store
    roster: Roster
    client_id: str
    worker: IngestWorker | None = None
    thread: threading.Thread | None = None
    stop_event: threading.Event | None = None

    def start(self) -> None:
        """Start the worker and wait until it is connected and subscribed."""
        ctx = ParseContext.from_settings(self.settings, self.roster, {})
        self.worker = IngestWorker(self.settings, self.store, ctx, client_id=self.client_id)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.worker.run, args=(self.stop_event,),
                                       daemon=True)
        self.thread.start()
        wait_until(lambda: self.worker is not None and self.worker.client.connected, 15,
                   what="ingest worker connected")

    def stop(self) -> None:
        """Stop the worker and wait for its thread."""
        if self.stop_event and self.thread:
            self.stop_event.set()
            self.thread.join(15)
            assert not self.thread.is_alive(), "worker did not stop"

    @property
    def alive(self) -> bool:
        """Tell whether the worker thread is running."""
        return self.thread is not None and self.thread.is_alive()


def make_settings(mqtt_url: str, redis_url: str, **extra: object) -> Settings:
    """Settings for a test, with the shipped config files."""
    return Settings(mqtt_url=mqtt_url, redis_url=redis_url,  # type: ignore[arg-type]
                    hotspots=ROOT / "config/hotspots.geojson", units=ROOT / "config/units.yaml",
                    users=ROOT / "tests/no-users.yaml", **extra)


@pytest.fixture
def mqtt_url(fresh_mqtt_url: str) -> str:
    """A broker of each integration test's own: retained messages and sessions left by other
    tests (simulated OwnTracks phones publish retained) would otherwise reach its worker."""
    return fresh_mqtt_url


@pytest.fixture
def start_worker(mqtt_url: str, redis_url: str) -> Iterator[Callable[..., RunningWorker]]:
    """Start ingest workers (same broker and Redis); all are stopped at the end."""
    running: list[RunningWorker] = []

    def start(broker_url: str | None = None, client_id: str | None = None,
              roster: Roster | None = None, **extra: object) -> RunningWorker:
        settings = make_settings(broker_url or mqtt_url, redis_url, **extra)
        store = Store.from_url(redis_url)
        rw = RunningWorker(settings, store, roster or Roster.empty(),
                           client_id or f"test-ingest-{uuid.uuid4().hex[:8]}")
        rw.start()
        running.append(rw)
        return rw

    yield start
    for rw in running:
        rw.stop()


@pytest.fixture
def publisher(mqtt_url: str) -> Iterator[MqttClient]:
    """A connected MQTT client for publishing test messages."""
    client = MqttClient(mqtt_url, f"test-pub-{uuid.uuid4().hex[:8]}")
    assert client.start(wait_s=10), "publisher could not connect"
    yield client
    client.stop()


@pytest.fixture
def roster() -> Roster:
    """The shipped demo roster."""
    return load_roster(ROOT / "config/units.yaml")
