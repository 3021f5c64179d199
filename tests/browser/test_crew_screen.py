"""The crew page at 360 x 640 (a small phone): EMERGENCY stays on screen whatever shows above."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dash.testing.composite import DashComposite

from dashboard import ids
from dashboard.app import create_app
from dashboard.redeploy.actions import send_tasking
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from tests.browser import fleet as seed
from tests.browser.conftest import sign_in
from tests.services import free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

UNIT = "CW-401"

# Is the button wholly on screen, and is it what a finger at its centre would touch?
ON_SCREEN = """
const b = document.getElementById(arguments[0]);
const r = b.getBoundingClientRect();
const top = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
return {top: r.top, bottom: r.bottom, height: innerHeight, scrolled: scrollY,
        reachable: top === b || b.contains(top)};
"""


def test_emergency_button_visible_without_scrolling_at_360x640(
    dash_duo: DashComposite, redis_url: str, ingest_worker: Settings, tmp_path: Path
) -> None:
    store = Store.from_url(redis_url)
    users = seed.write_users(tmp_path / "users.yaml", ("pc.khan", "crew", UNIT))
    settings = ingest_worker.model_copy(update={"users": users})
    app = create_app(settings, store, seed.roster(), seed.hotspot_set())
    deps = app.server.extensions["patrolwatch"]
    try:
        send_tasking(deps, unit=UNIT, hotspot="nte-soho-old-compton-st",
                     note="disorder reported outside the bar on the corner", by="sgt.jones",
                     now=time.time())
        dash_duo.start_server(app, navigate=False, port=free_port())
        base = dash_duo.server.url.rstrip("/")
        dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 360, "height": 640, "deviceScaleFactor": 2, "mobile": True})
        sign_in(dash_duo, base, "pc.khan")
        dash_duo.wait_for_text_to_equal(f"#{ids.CREW_UNIT}", "CW401", timeout=10)
        # A message and a tasking fill the top of the page, as on a busy shift.
        dash_duo.wait_for_contains_text(f"#{ids.CREW_TASK_TEXT}", "Old Compton", timeout=10)
        patrol = dash_duo.find_element(f"[id*='{ids.CREW_STATUS_BUTTON}'][id*='ON_PATROL']")
        dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", patrol)
        patrol.click()
        dash_duo.wait_for_contains_text(f"#{ids.CREW_MSG}", "Status sent", timeout=10)
        dash_duo.driver.execute_script("window.scrollTo(0, 0);")
        where = dash_duo.driver.execute_script(ON_SCREEN, ids.CREW_EMERGENCY)
        assert where["top"] >= 0 and where["bottom"] <= where["height"], where
        assert where["reachable"], f"something covers the EMERGENCY button: {where}"
        # Scrolled to the bottom, the last status button is not hidden behind the bar.
        dash_duo.driver.execute_script("window.scrollTo(0, document.body.scrollHeight);")
        last = dash_duo.driver.execute_script(
            ON_SCREEN.replace("document.getElementById(arguments[0])",
                              "document.querySelector(arguments[0])"), f"#{ids.CREW_SHARE}")
        assert last["reachable"], f"the share button hides behind the EMERGENCY bar: {last}"
        # And it still works from there: two taps raise the alarm.
        button = dash_duo.find_element(f"#{ids.CREW_EMERGENCY}")
        button.click()
        dash_duo.wait_for_contains_text(f"#{ids.CREW_EMERGENCY}", "TAP AGAIN", timeout=5)
        button.click()
        wait_until(lambda: store.live_rows().statuses[UNIT]["status"] == "EMERGENCY", 10,
                   what="EMERGENCY stored")
        if __import__("os").environ.get("PATROL_WRITE_SCREENSHOT"):
            shots = seed.ROOT / "docs/screenshots"
            shots.mkdir(parents=True, exist_ok=True)
            dash_duo.driver.execute_script("window.scrollTo(0, 0);")
            dash_duo.driver.save_screenshot(str(shots / "crew-360x640.png"))
    finally:
        deps.publisher.close()
