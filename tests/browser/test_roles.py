"""Roles in the browser: a viewer sees everything and can act on nothing; a supervisor
acknowledges an EMERGENCY, which stops the alarm on every screen."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
from dash.testing.composite import DashComposite

from dashboard import ids
from dashboard.app import create_app
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from tests.browser import fleet as seed
from tests.browser.conftest import sign_in, sign_out
from tests.services import free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

GAP = "nte-soho-old-compton-st"
NO_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"
PRESENT = "return arguments[0].filter(function (s) { return document.querySelector(s); });"
ALARM = ("var a = window.patrolwatch && window.patrolwatch.alarm; "
         "return a && {enabled: a.enabled, sounding: a.sounding, beeps: a.beeps};")


def forged_task_request(app: Any, unit: str) -> dict[str, Any]:
    """Return what the browser would post for the tasking dialog's confirm button."""
    key, cb = next((k, c) for k, c in app.callback_map.items()
                   if any(i["id"] == ids.TASK_CONFIRM for i in c["inputs"]))
    outputs = [{"id": o.split(".")[0], "property": o.split(".")[1].split("@")[0]}
               for o in key.strip(".").split("...")]
    values = {ids.TASK_PENDING: {"unit": unit, "hotspot": GAP}, ids.TASK_NOTE: "forged"}
    return {"output": key, "outputs": outputs, "changedPropIds": [f"{ids.TASK_CONFIRM}.n_clicks"],
            "inputs": [{"id": ids.TASK_CONFIRM, "property": "n_clicks", "value": 1}],
            "state": [{"id": s["id"], "property": s["property"], "value": values.get(s["id"])}
                      for s in cb["state"]]}


def test_viewer_has_no_controls_and_a_supervisor_acknowledges_the_emergency(
    dash_duo: DashComposite, redis_url: str, tmp_path: Path
) -> None:
    store = Store.from_url(redis_url)
    hotspots, roster = seed.hotspot_set(), seed.roster()
    now = time.time()
    seeded = seed.fleet(hotspots, list(roster.units)[:40], now)
    store.write_batch(seeded.batch, now=now)
    suggested = seeded.unit_ids[3:5]
    store.write_coverage(seed.coverage_snapshot(hotspots, now, [GAP], suggestions=suggested))
    users = seed.write_users(tmp_path / "users.yaml", ("vic", "viewer", None),
                             ("sgt.jones", "supervisor", None))
    settings = Settings(redis_url=redis_url, users=users, hotspots=seed.HOTSPOTS,  # type: ignore[arg-type]
                        units=seed.UNITS, tile_url=NO_TILES)
    app = create_app(settings, store, roster, hotspots)
    dash_duo.start_server(app, navigate=False, port=free_port())
    base = dash_duo.server.url.rstrip("/")
    emergency = roster.units[seeded.emergency].callsign

    # The viewer sees the gap, its suggested units, the EMERGENCY: and no control to act.
    sign_in(dash_duo, base, "vic")
    dash_duo.wait_for_contains_text(f"#{ids.GAPS}", roster.units[suggested[0]].callsign,
                                    timeout=15)
    dash_duo.wait_for_contains_text(f"#{ids.EMERGENCY}", emergency, timeout=10)
    assert "pw-emergency-loud" in str(dash_duo.find_element(f"#{ids.EMERGENCY}")
                                      .get_attribute("class"))
    assert "vic" in dash_duo.find_element(f"#{ids.WHO}").text
    controls = [".pw-task", ".pw-ack", f"#{ids.OPTIMISE}", f"#{ids.TASK_DIALOG}",
                f"#{ids.PLAN_DIALOG}", f"#{ids.TOAST}", f"#{ids.TASK_PENDING}"]
    assert dash_duo.driver.execute_script(PRESENT, controls) == [], "a viewer's page acts"
    assert dash_duo.driver.execute_script(PRESENT, [".pw-choice", ".pw-alarm-ring"]) == [
        ".pw-choice", ".pw-alarm-ring"], "the viewer sees suggestions and the pulsing alarm"
    # The alarm sounds once the page has been clicked (browsers allow sound after a gesture).
    hint = dash_duo.find_element(f"#{ids.SOUND_HINT}")
    assert hint.is_displayed()
    hint.click()
    wait_until(lambda: (a := dash_duo.driver.execute_script(ALARM)) and a["beeps"] > 0, 10,
               what="the alarm tone repeating")
    assert not dash_duo.find_element(f"#{ids.SOUND_HINT}").is_displayed()
    dash_duo.find_element(f"#{ids.TASKINGS_TAB}").click()
    dash_duo.wait_for_contains_text(f"#{ids.TASKINGS}", "No taskings", timeout=10)

    # Forging the supervisor's callback with the viewer's own session is refused.
    cookie = dash_duo.driver.get_cookie("patrolwatch_session")
    assert cookie is not None and cookie.get("httpOnly") is True
    forged = requests.post(f"{base}/_dash-update-component", timeout=10,
                           json=forged_task_request(app, suggested[0]),
                           cookies={"patrolwatch_session": cookie["value"]})
    assert forged.status_code == 403 and "needs supervisor" in forged.json()["error"]
    assert store.taskings() == []

    # A supervisor acknowledges it: the banner quietens, the marker stops pulsing, audited.
    sign_out(dash_duo, base)
    sign_in(dash_duo, base, "sgt.jones")
    ack = dash_duo.wait_for_element(f"#{ids.EMERGENCY} .pw-ack", timeout=15)
    dash_duo.find_element(f"#{ids.SOUND_HINT}").click()
    wait_until(lambda: dash_duo.driver.execute_script(ALARM)["sounding"], 10,
               what="the alarm sounding for the supervisor")
    ack.click()
    dash_duo.wait_for_element(f"#{ids.EMERGENCY}.pw-emergency-acked", timeout=10)
    dash_duo.wait_for_contains_text(f"#{ids.EMERGENCY}", "acknowledged by sgt.jones", timeout=10)
    wait_until(lambda: dash_duo.driver.execute_script(
        PRESENT, [".pw-alarm-icon-acked", ".pw-alarm-ring"]) == [".pw-alarm-icon-acked"], 10,
        what="a steady marker")
    assert store.emergency_acks()[seeded.emergency]["by"] == "sgt.jones"
    dash_duo.find_element(f"#{ids.TABS} .tab:nth-child(6)").click()
    dash_duo.wait_for_contains_text(f"#{ids.AUDIT}", "acknowledged by sgt.jones", timeout=10)
    wait_until(lambda: dash_duo.driver.execute_script(ALARM)["sounding"] is False, 10,
               what="the alarm silent")
