"""The dashboard's publisher across a real broker outage: Mosquitto killed and restarted."""

from __future__ import annotations

import json
import os
import queue
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dashboard.publisher import BrokerUnavailableError, Publisher
from patrolwatch.mqtt import Inbound, MqttClient
from tests.conftest import require_mosquitto
from tests.services import ServerProcess, mosquitto_server, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.mosquitto]

TOPIC = "patrol/OUT-1/tasking"


@dataclass
class Rig:
    """A persistent Mosquitto, the crew's persistent subscription, the dashboard's publisher."""

    broker: ServerProcess
    crew: MqttClient
    inbox: queue.SimpleQueue[Inbound]
    publisher: Publisher

    def received(self, timeout: float) -> list[str]:
        """Collect the payloads the crew receives until ``timeout`` passes with none."""
        out: list[str] = []
        while True:
            try:
                out.append(self.inbox.get(timeout=timeout).payload.decode())
            except queue.Empty:
                return out


def _saved_after(db: Path, mtime: float) -> bool:
    return db.exists() and db.stat().st_mtime_ns > mtime


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """Everything connected, with the crew's subscription saved to Mosquitto's disk."""
    require_mosquitto()
    broker = mosquitto_server(tmp_path, persist=True)  # autosaves every second
    url = f"mqtt://127.0.0.1:{broker.port}"
    inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
    crew = MqttClient(url, f"crew-{uuid.uuid4().hex[:6]}", clean_session=False,
                      subscriptions=[(TOPIC, 1)], on_message=inbox.put)
    publisher = Publisher(url, "test-dashboard", connect_timeout_s=2, publish_timeout_s=2)
    try:
        assert crew.start(wait_s=10)
        publisher.publish(TOPIC, "hello")  # the subscription is in place once this comes back
        assert inbox.get(timeout=10).payload == b"hello"
        db = tmp_path / "mosquitto.db"
        # Killed with SIGKILL, Mosquitto keeps only what it autosaved: wait for a save made
        # after the subscription, so the crew's session outlives the crash.
        seen = db.stat().st_mtime_ns if db.exists() else -1
        wait_until(lambda: _saved_after(db, seen), 10, what="Mosquitto's autosave")
        yield Rig(broker, crew, inbox, publisher)
    finally:
        publisher.close()
        crew.stop()
        broker.terminate()


def test_a_message_the_broker_never_confirmed_goes_out_after_it_restarts(rig: Rig) -> None:
    # The broker freezes: the publish reaches its socket but is never confirmed.
    assert rig.broker.proc is not None
    os.kill(rig.broker.proc.pid, signal.SIGSTOP)
    body = json.dumps({"id": "T-OUTAGE", "kind": "REDEPLOY"})
    with pytest.raises(BrokerUnavailableError, match="it is queued and goes out when"):
        rig.publisher.publish(TOPIC, body)
    rig.broker.kill()  # the frozen broker dies with the unread message
    wait_until(lambda: not rig.publisher.connected, 10, what="the publisher to see the outage")
    assert rig.received(0.2) == []
    rig.broker.start()
    # paho re-sends the unconfirmed QoS 1 message once it reconnects; the crew's saved
    # session receives it.
    wait_until(lambda: rig.publisher.connected, 30, what="the publisher reconnected")
    got = rig.received(3)
    assert got and set(got) == {body}, got
    rig.publisher.publish(TOPIC, "after")
    assert rig.received(3) == ["after"]


def test_a_publish_while_the_broker_is_down_is_refused_and_nothing_is_left_behind(
        rig: Rig) -> None:
    rig.broker.kill()
    wait_until(lambda: not rig.publisher.connected, 10, what="the publisher to see the outage")
    with pytest.raises(BrokerUnavailableError, match="nothing was sent"):
        rig.publisher.publish(TOPIC, "refused")
    rig.broker.start()
    wait_until(lambda: rig.publisher.connected, 30, what="the publisher reconnected")
    rig.publisher.publish(TOPIC, "next")
    # QoS 1 from one client arrives in order: a left-behind "refused" would come first.
    assert rig.received(3) == ["next"]
