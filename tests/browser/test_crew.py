"""The crew page on a phone-sized headless Chromium, through the real broker and ingest worker."""

from __future__ import annotations

import json
import queue
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from dash.testing.composite import DashComposite

from dashboard import ids
from dashboard.app import create_app
from dashboard.redeploy.actions import acknowledge, send_tasking
from patrolwatch.mqtt import Inbound, MqttClient
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from tests.browser import fleet as seed
from tests.browser.conftest import sign_in
from tests.services import free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

UNIT = "CW-401"
GAP = "nte-soho-old-compton-st"
HERE = (51.51362, -0.13178)  # Old Compton Street, where the fake GPS puts the phone


def test_crew_sends_status_shares_position_accepts_a_tasking_and_raises_emergency(  # noqa: PLR0915
    dash_duo: DashComposite, redis_url: str, ingest_worker: Settings, tmp_path: Path
) -> None:
    store = Store.from_url(redis_url)
    users = seed.write_users(tmp_path / "users.yaml", ("pc.khan", "crew", UNIT))
    settings = ingest_worker.model_copy(update={"users": users})
    app = create_app(settings, store, seed.roster(), seed.hotspot_set())
    acks: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
    watcher = MqttClient(settings.mqtt_url, f"test-acks-{uuid.uuid4().hex[:6]}",
                         subscriptions=[(f"patrol/{UNIT}/ack", 1)], on_message=acks.put)
    assert watcher.start(wait_s=10)
    deps = app.server.extensions["patrolwatch"]
    try:
        tasking = send_tasking(deps, unit=UNIT, hotspot=GAP, note="fight reported",
                               by="sgt.jones", now=time.time())
        dash_duo.start_server(app, navigate=False, port=free_port())
        base = dash_duo.server.url.rstrip("/")
        driver = dash_duo.driver
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 412, "height": 915, "deviceScaleFactor": 2, "mobile": True})
        driver.execute_cdp_cmd("Browser.grantPermissions", {
            "origin": base, "permissions": ["geolocation"]})
        driver.execute_cdp_cmd("Emulation.setGeolocationOverride", {
            "latitude": HERE[0], "longitude": HERE[1], "accuracy": 9})

        # Signing in as crew lands on the crew page for the user's own unit.
        sign_in(dash_duo, base, "pc.khan")
        wait_until(lambda: driver.current_url.rstrip("/").endswith("/crew"), 10,
                   what="the crew page")
        dash_duo.wait_for_text_to_equal(f"#{ids.CREW_UNIT}", "CW401", timeout=10)
        assert driver.execute_script(f"return document.getElementById('{ids.MAP}')") is None

        # A status from the big buttons goes over MQTT, through the worker, into Redis.
        dash_duo.find_element(f"[id*='{ids.CREW_STATUS_BUTTON}'][id*='ON_PATROL']").click()
        dash_duo.wait_for_contains_text(f"#{ids.CREW_MSG}", "Status sent: On patrol", timeout=10)
        wait_until(lambda: store.live_rows().statuses.get(UNIT, {}).get("status") == "ON_PATROL",
                   10, what="ON_PATROL stored by the ingest worker")
        dash_duo.wait_for_contains_text(f"#{ids.CREW_STATUS}", "sees you as On patrol",
                                        timeout=10)

        # Sharing the browser's position makes it the unit's position.
        # The EMERGENCY bar is fixed to the bottom of the screen: scroll as a person would.
        share = dash_duo.find_element(f"#{ids.CREW_SHARE}")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", share)
        share.click()
        dash_duo.wait_for_contains_text(f"#{ids.CREW_SHARE_TEXT}", "Position sent", timeout=15)
        pos = wait_until(lambda: store.live_rows().positions.get(UNIT), 10,
                         what="the shared position stored")
        assert (round(pos["lat"], 5), round(pos["lon"], 5), pos["acc"]) == (*HERE, 9.0)

        # The open tasking is shown; Accept sends the ack the contract describes.
        dash_duo.wait_for_contains_text(f"#{ids.CREW_TASK_TEXT}", "Old Compton Street",
                                        timeout=10)
        assert "fight reported" in dash_duo.find_element(f"#{ids.CREW_TASK_TEXT}").text
        accept = dash_duo.find_element(f"#{ids.CREW_ACCEPT}")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", accept)
        accept.click()
        dash_duo.wait_for_contains_text(f"#{ids.CREW_MSG}", "Accepted", timeout=10)
        ack: dict[str, Any] = json.loads(acks.get(timeout=10).payload)
        assert ack["id"] == tasking.id and ack["accepted"] is True
        assert abs(ack["ts"] - time.time()) < 60

        # EMERGENCY needs a second tap: the first only arms the button.
        button = dash_duo.find_element(f"#{ids.CREW_EMERGENCY}")
        button.click()
        dash_duo.wait_for_contains_text(f"#{ids.CREW_EMERGENCY}", "TAP AGAIN", timeout=5)
        # Anything the arming tap published had its PUBACK before the page changed; a probe
        # published now reaches the worker after it, so once the probe is stored, a premature
        # EMERGENCY would be stored too.
        probe_ts = round(time.time(), 3)
        watcher.publish_and_wait(f"patrol/{UNIT}/position", json.dumps(
            {"ts": probe_ts, "lat": HERE[0], "lon": HERE[1], "acc": 9}))
        wait_until(lambda: store.live_rows().positions.get(UNIT, {}).get("ts") == probe_ts, 10,
                   what="the probe stored after the arming tap")
        assert store.live_rows().statuses[UNIT]["status"] == "ON_PATROL"
        button.click()
        dash_duo.wait_for_contains_text(f"#{ids.CREW_MSG}", "EMERGENCY sent", timeout=10)
        wait_until(lambda: store.live_rows().statuses[UNIT]["status"] == "EMERGENCY", 10,
                   what="EMERGENCY stored")

        # Until a supervisor acknowledges, the page says the control room has not yet...
        dash_duo.wait_for_contains_text(f"#{ids.CREW_STATUS}", "has not acknowledged yet",
                                        timeout=10)
        # ... and once one does (the control room's own Acknowledge), the crew sees it.
        alarm = wait_until(lambda: next((a for a in store.open_alarms() if a["unit"] == UNIT),
                                        None), 10, what="the alarm raised")
        toast = acknowledge(deps, {"type": ids.ACK_ITEM, "alarm": alarm["id"]}, 1,
                            "sgt.jones", time.time())
        assert "acknowledged by sgt.jones" in str(toast)
        dash_duo.wait_for_contains_text(f"#{ids.CREW_STATUS}", "Seen by the control room at",
                                        timeout=10)
        seen = dash_duo.find_element(f"#{ids.CREW_STATUS} .pw-crew-seen").text
        assert "(by sgt.jones)" in seen and "not acknowledged" not in seen
    finally:
        watcher.stop()
        deps.publisher.close()
