"""A hand-written coverage scenario through MQTT, the worker, the evaluator and the store.

Six hotspots, each with one active window placed around the moment the test runs, and a
fleet whose pings are published late and out of order. Every expected state is written out.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.evaluator import CoverageEvaluator
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet
from patrolwatch.mqtt import MqttClient
from patrolwatch.roster import Roster
from tests.integration.conftest import RunningWorker, make_settings
from tests.services import wait_until

pytestmark = pytest.mark.integration
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def _square(lat: float, lon: float, d: float = 0.0012) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d],
                                                [lon + d, lat + d], [lon - d, lat + d],
                                                [lon - d, lat - d]]]}


def _feature(hid: str, lat: float, start: datetime, end: datetime, max_gap: float,
             priority: int = 2) -> dict[str, Any]:
    return {"type": "Feature", "geometry": _square(lat, -0.10),
            "properties": {"id": hid, "name": hid.replace("_", " ").title(), "category": "other",
                           "priority": priority,
                           "schedule": [{"days": ALL_DAYS, "start": _hhmm(start),
                                         "end": _hhmm(end)}],
                           "target": {"min_visit_minutes": 10, "max_gap_minutes": max_gap}}}


def test_states_and_gaps_of_a_hand_written_scenario(
    start_worker: Callable[..., RunningWorker], publisher: MqttClient, redis_url: str,
    mqtt_url: str, tmp_path: Path
) -> None:
    settings = make_settings(mqtt_url, redis_url)
    zone = settings.zone
    now = time.time()
    local = datetime.fromtimestamp(now, zone).replace(second=0, microsecond=0)
    open_from, open_to = local - timedelta(hours=3), local + timedelta(hours=3)
    lats = {"present": 51.50, "covered": 51.51, "due": 51.52, "gap": 51.53, "short": 51.54,
            "inactive": 51.55}
    features = [
        _feature("present", lats["present"], open_from, open_to, 60),
        _feature("covered", lats["covered"], open_from, open_to, 60),
        _feature("due", lats["due"], open_from, open_to, 60, priority=3),
        _feature("gap", lats["gap"], open_from, open_to, 60, priority=1),
        _feature("short", lats["short"], open_from, local + timedelta(minutes=6), 240),
        _feature("inactive", lats["inactive"], local + timedelta(hours=1),
                 local + timedelta(hours=2), 60),
    ]
    hotspots = HotspotSet.from_features(features, CoverageDefaults.from_settings(settings), zone)

    msgs: list[tuple[str, str]] = []

    def pings(unit: str, lat: float, start: float, end: float, step: float = 60.0,
              acc: float = 10.0) -> None:
        t = start
        while t <= end:
            msgs.append((f"patrol/{unit}/position",
                         json.dumps({"ts": t, "lat": lat, "lon": -0.10, "acc": acc})))
            t += step

    # A unit outside every hotspot kept the feed up all along: time is observed (DOMAIN.md),
    # so the states below are those of a running system, not of one that just started.
    pings("Z", 51.60, now - 4 * 3600, now - 5, step=120)
    # Z flushes its buffer in order, as a device does (MQTT keeps one client's order); over
    # 50 of one unit's messages out of order would be a burst the rate limit may refuse.
    keeping_up = msgs[:]
    msgs.clear()
    pings("A", lats["present"], now - 300, now - 5, step=30)  # inside now
    pings("B", lats["covered"], now - 32 * 60, now - 20 * 60)  # 12 min, ended 20 min ago
    pings("C", lats["due"], now - 62 * 60, now - 50 * 60)  # 12 min, ended 50 min ago
    pings("E", lats["covered"], now - 120, now - 5, step=30, acc=150)  # too inaccurate
    msgs.append(("patrol/D/status", json.dumps({"ts": now - 3600, "status": "OFF_DUTY"})))
    pings("D", lats["gap"], now - 300, now - 5, step=30)  # off duty: not presence
    random.Random(7).shuffle(msgs)  # late, buffered, out of order
    msgs[:0] = keeping_up
    rw = start_worker()
    for topic, body in msgs:
        publisher.publish(topic, body)
    # D's pings sent off duty are rejected (or deleted when they came before the status)
    wait_until(lambda: rw.store.stats().accepted_total
               + rw.store.stats().rejected_by_reason.get("off_duty", 0) == len(msgs), 20,
               what="all stored")

    published: list[tuple[str, str]] = []
    evaluator = CoverageEvaluator(settings, rw.store, hotspots, Roster.empty(),
                                  publish=lambda topic, body: published.append((topic, body)))
    evaluator.rebuild(time.time())
    snap = evaluator.tick(time.time())
    states = {hid: h["state"] for hid, h in snap["hotspots"].items()}
    assert states == {"present": "present", "covered": "covered", "due": "due", "gap": "gap",
                      "short": "gap", "inactive": "inactive"}
    gap_rows = {g["hotspot"]: g for g in snap["gaps"]}
    assert [g["hotspot"] for g in snap["gaps"]] == ["gap", "short"]  # priority 1 first
    assert gap_rows["gap"]["kind"] == "presence_gap"
    assert gap_rows["short"]["kind"] == "shortfall"
    assert gap_rows["gap"]["since"] == pytest.approx(open_from.timestamp() + 3600, abs=1)
    assert snap["hotspots"]["present"]["present_units"] == ["A"]
    covered = snap["hotspots"]["covered"]
    assert covered["qualifying_visits_in_window"] == 1
    assert covered["patrol_minutes_in_window"] == pytest.approx(12.0, abs=0.01)
    events = [json.loads(body) for topic, body in published if topic == "patrol/events/coverage"]
    assert sorted((e["type"], e["hotspot"], e["kind"]) for e in events) == [
        ("gap_opened", "gap", "presence_gap"), ("gap_opened", "short", "shortfall")]
    assert evaluator.tick(time.time())["gaps"] and len(published) == 2  # no repeats
    visits = rw.store.visits("covered", now - 3600, now)
    assert [(v["unit"], round(v["minutes"], 1)) for v in visits] == [("B", 12.0)]
