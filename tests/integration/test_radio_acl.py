"""The radio gateway's broker login under the ACL `mqtt-credentials` writes (real Mosquitto)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from patrolwatch.core import topics
from patrolwatch.mqtt_logins import TETRA_GATEWAY
from tests.integration.test_mqtt_acl import _client, _drain_until, _login, secured
from tests.services import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.mosquitto]
__all__ = ["secured"]  # the fixture, shared with test_mqtt_acl


def test_the_gateway_publishes_lip_reports_and_nothing_else(secured: ServerProcess,
                                                            tmp_path: Path) -> None:
    port, pw = _login(secured, tmp_path)
    ingest, inbox = _client(port, "patrolwatch-ingest-1", pw["patrolwatch-ingest-1"],
                            topics.subscriptions("ingest"))
    gateway, _ = _client(port, TETRA_GATEWAY, pw[TETRA_GATEWAY])
    ua, _ = _client(port, "UA", pw["UA"])
    sim, _ = _client(port, "patrolwatch-simulator", pw["patrolwatch-simulator"])
    body = json.dumps({"ts": time.time(), "lat": 51.5, "lon": -0.1})
    try:
        gateway.publish_and_wait("patrol/UA/position", body)  # not a radio: dropped
        ua.publish_and_wait(topics.lip_topic(1234), b"00")  # a unit is no gateway: dropped
        gateway.publish_and_wait(topics.lip_topic(1001), b"00")
        sim.publish_and_wait(topics.lip_topic(1002), b"00")  # the simulator's radios
        assert _drain_until(inbox, "tetra/1002/lip") == ["tetra/1001/lip", "tetra/1002/lip"]
    finally:
        for client in (ingest, gateway, ua, sim):
            client.stop()
