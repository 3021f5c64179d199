"""A supervisor closes a gap from the browser, and the unit's handheld receives the tasking."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from dash.testing.composite import DashComposite

from dashboard import ids
from dashboard.app import create_app
from patrolwatch.device import listen
from patrolwatch.mqtt import publish_once
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from tests.browser import fleet as seed
from tests.browser.conftest import sign_in
from tests.services import free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

GAP = "nte-soho-old-compton-st"
NO_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"


class Lines:
    """A thread-safe text sink for ``listen(out=...)``."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.lines += [line for line in text.splitlines() if line]
        return len(text)

    def flush(self) -> None:
        pass

    def taskings(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(line[line.index("{"):]) for line in self.lines]


def start_device(settings: Settings, unit: str) -> tuple[Lines, threading.Event,
                                                       threading.Thread]:
    """Run the unit's handheld (`patrolwatch device UNIT listen`) until it is subscribed.

    A probe tasking proves the subscription before the test sends anything.
    """
    out, stop = Lines(), threading.Event()
    device = threading.Thread(target=listen, args=(settings, unit),
                              kwargs={"out": out, "stop": stop}, daemon=True)
    device.start()
    probe = json.dumps({"id": "PROBE", "ts": time.time(), "kind": "REDEPLOY", "hotspot": GAP})
    wait_until(lambda: publish_once(settings.mqtt_url, [(f"patrol/{unit}/tasking", probe)])
               is None and out.taskings(), 15, interval=0.5, what="the device listening")
    return out, stop, device


def test_supervisor_tasks_a_suggested_unit_and_the_device_receives_it(
    dash_duo: DashComposite, redis_url: str, fresh_mqtt_url: str, tmp_path: Path
) -> None:
    store = Store.from_url(redis_url)
    hotspots, roster = seed.hotspot_set(), seed.roster()
    now = time.time()
    seeded = seed.fleet(hotspots, list(roster.units)[:40], now)
    store.write_batch(seeded.batch, now=now)
    suggested = seeded.unit_ids[3:5]
    store.write_coverage(seed.coverage_snapshot(hotspots, now, [GAP], suggestions=suggested))
    users = seed.write_users(tmp_path / "users.yaml", ("sgt.jones", "supervisor", None))
    settings = Settings(redis_url=redis_url, mqtt_url=fresh_mqtt_url, users=users,  # type: ignore[arg-type]
                        hotspots=seed.HOTSPOTS, units=seed.UNITS, tile_url=NO_TILES)

    unit = suggested[0]
    out, stop, device = start_device(settings, unit)

    app = create_app(settings, store, roster, hotspots)
    try:
        dash_duo.start_server(app, navigate=False, port=free_port())
        base = dash_duo.server.url.rstrip("/")
        sign_in(dash_duo, base, "sgt.jones")
        dash_duo.wait_for_contains_text(f"#{ids.WHO}", "sgt.jones", timeout=15)

        # The gap lists its suggested units with distance, ETA and a Task button each.
        callsign = roster.units[unit].callsign
        dash_duo.wait_for_contains_text(f"#{ids.GAPS}", callsign, timeout=15)
        first = dash_duo.find_elements(f"#{ids.GAPS} .pw-choice")[0]
        assert callsign in first.text and "ETA" in first.text
        first.find_element("css selector", ".pw-task").click()

        # A small confirm dialog names who goes where; the note is optional.
        dash_duo.wait_for_element(f"#{ids.TASK_DIALOG}:not(.pw-hidden)", timeout=10)
        dash_duo.wait_for_contains_text(f"#{ids.TASK_SUMMARY}", callsign, timeout=10)
        assert hotspots.by_id[GAP].name in dash_duo.find_element(f"#{ids.TASK_SUMMARY}").text
        dash_duo.find_element(f"#{ids.TASK_NOTE}").send_keys("door staff report a fight")
        dash_duo.find_element(f"#{ids.TASK_CONFIRM}").click()
        dash_duo.wait_for_contains_text(f"#{ids.TOAST}", f"sent: {callsign}", timeout=15)
        dash_duo.wait_for_element(f"#{ids.TASK_DIALOG}.pw-hidden", timeout=5)

        # The handheld receives it, as the contract says.
        received = wait_until(
            lambda: next((t for t in out.taskings() if t["id"] != "PROBE"), None), 15,
            what="the tasking on the device")
        assert received["hotspot"] == GAP and received["kind"] == "REDEPLOY"
        assert received["by"] == "sgt.jones" and received["note"] == "door staff report a fight"
        recorded = store.tasking(received["id"])
        assert recorded is not None and recorded["unit"] == unit

        # The control room shows it: on the gap, and in the taskings tab as SENT.
        dash_duo.wait_for_contains_text(f"#{ids.GAPS}", f"Tasked: {callsign} sent", timeout=10)
        dash_duo.find_element(f"#{ids.TASKINGS_TAB}").click()
        dash_duo.wait_for_element(f"#{ids.TASKINGS} [data-state='SENT']", timeout=10)

        # "Optimise all gaps" shows a plan the supervisor can cancel; the tasked gap is left.
        dash_duo.find_element(f"#{ids.OPTIMISE}").click()
        dash_duo.wait_for_element(f"#{ids.PLAN_DIALOG}:not(.pw-hidden)", timeout=10)
        dash_duo.wait_for_contains_text(f"#{ids.PLAN_TABLE}", "already has", timeout=10)
        dash_duo.find_element(f"#{ids.PLAN_CANCEL}").click()
        dash_duo.wait_for_element(f"#{ids.PLAN_DIALOG}.pw-hidden", timeout=5)
        assert len(store.taskings()) == 1
    finally:
        stop.set()
        device.join(10)
        app.server.extensions["patrolwatch"].publisher.close()
