"""Alarm cards on the live picture: one per stored alarm, until a supervisor acknowledges it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard import ids
from dashboard.deps import Deps
from dashboard.picture.build import FLAG_ACKED
from dashboard.redeploy import actions as redeploy_actions
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.store import Batch
from tests.unit.test_taskings_api import deps_for, dumps, settings_for, supervise_refresh

pytestmark = pytest.mark.integration


@pytest.fixture
def deps(redis_url: str, mqtt_url: str, tmp_path: Path) -> Iterator[Deps]:
    made = deps_for(settings_for(redis_url, mqtt_url, tmp_path / "no-users.yaml"))
    yield made
    made.publisher.close()


def ack_buttons(out: dict[str, Any]) -> list[str]:
    """Return the alarm ids the banner's Acknowledge buttons carry, in order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("id"), dict) and node["id"].get("type") == ids.ACK_ITEM:
                found.append(node["id"]["alarm"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(dumps(out["alarms"])))
    return found


def test_an_alarm_stays_after_its_unit_sends_available_until_acknowledged(deps: Deps) -> None:
    now = time.time()
    deps.store.write_batch(Batch(
        positions=[Position("CW-403", now - 40, 51.53, -0.10)],
        statuses=[StatusChange("CW-403", now - 30, Status.EMERGENCY)]), now=now - 29)
    deps.store.write_batch(Batch(statuses=[StatusChange("CW-403", now - 10, Status.AVAILABLE)]),
                           now=now - 9)
    alarm_id = deps.store.open_alarms()[0]["id"]

    out = supervise_refresh(deps, now)
    assert "pw-emergency-loud" in str(out["alarms_class"]), "AVAILABLE does not end the alarm"
    assert ack_buttons(out) == [alarm_id], "the button carries the store's alarm id"

    toast = redeploy_actions.acknowledge(deps, {"type": ids.ACK_ITEM, "alarm": alarm_id}, 1,
                                         "sgt.jones", now + 1)
    assert "acknowledged by sgt.jones" in dumps(toast)
    assert deps.store.open_alarms() == []
    assert deps.store.alarm(alarm_id)["acked_by"] == "sgt.jones"  # type: ignore[index]
    out = supervise_refresh(deps, now + 2)
    assert "pw-hidden" in str(out["alarms_class"]), "acknowledged and no longer in EMERGENCY"
    again = redeploy_actions.acknowledge(deps, {"type": ids.ACK_ITEM, "alarm": alarm_id}, 1,
                                         "sgt.smith", now + 3)
    assert "already acknowledged by sgt.jones" in dumps(again)


def test_two_alarms_of_one_unit_each_their_card_and_the_last_ack_shows_who(deps: Deps) -> None:
    now = time.time()
    deps.store.write_batch(Batch(
        positions=[Position("CW-403", now - 40, 51.53, -0.10)],
        statuses=[StatusChange("CW-403", now - 30, Status.EMERGENCY)]), now=now - 29)
    (first,) = (a["id"] for a in deps.store.open_alarms())
    assert ack_buttons(supervise_refresh(deps, now - 25)) == [first]
    redeploy_actions.acknowledge(deps, {"type": ids.ACK_ITEM, "alarm": first}, 1, "sgt.a",
                                 now - 25)
    # Pressed again once the first is acknowledged: an alarm of its own (while the first was
    # open it would have folded into it, issue 15).
    deps.store.write_batch(Batch(statuses=[StatusChange("CW-403", now - 20, Status.EMERGENCY)]),
                           now=now - 19)
    (second,) = (a["id"] for a in deps.store.open_alarms())
    assert second != first
    assert ack_buttons(supervise_refresh(deps, now + 1)) == [second]
    redeploy_actions.acknowledge(deps, {"type": ids.ACK_ITEM, "alarm": second}, 1, "sgt.b", now)
    out = supervise_refresh(deps, now + 2)
    assert ack_buttons(out) == [] and "acknowledged by sgt.b" in dumps(out["alarms"])
    assert "pw-emergency-acked" in str(out["alarms_class"]), "still in EMERGENCY, acknowledged"
    emergency = next(e for e in json.loads(str(out["picture"]))["u"] if e[0] == "CW-403")
    assert emergency[4] & FLAG_ACKED, "the marker stops pulsing"
