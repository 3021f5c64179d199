"""The replay page in headless Chromium: a supervisor plays the last hour and sees a unit
move and a hotspot change state; clicking the unit follows it and draws its track."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from dash.testing.composite import DashComposite
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from dashboard import ids
from dashboard.app import create_app
from dashboard.palette import HOTSPOT_LOOK
from dashboard.replay.view import local_input
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from tests.browser import fleet as seed
from tests.browser.conftest import sign_in
from tests.services import free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]
SOHO = "nte-soho-old-compton-st"
NO_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"
LAYERS = """
var m = window.patrolwatch && window.patrolwatch.map; if (!m) { return null; }
var out = {units: {}, hotspots: {}};
m.eachLayer(function (l) {
  var p = l.feature && l.feature.properties; if (!p) { return; }
  if (p.s && l.getLatLng) { out.units[p.id] = [l.getLatLng().lat, l.getLatLng().lng]; }
  else if (p.id && !p.pin && l.options) { out.hotspots[p.id] = l.options.fillColor; }
});
return out;
"""


def layers(dash_duo: DashComposite) -> dict[str, Any] | None:
    return dash_duo.driver.execute_script(LAYERS)  # type: ignore[no-any-return]


def typed(dash_duo: DashComposite, element_id: str, text: str) -> None:
    field = dash_duo.find_element(f"#{element_id}")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(text, Keys.TAB)


def test_a_supervisor_replays_a_unit_moving_and_a_hotspot_changing(
        dash_duo: DashComposite, redis_url: str, tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    start = now - 3000
    # CW-401 walks east along Old Compton Street from 50 to 20 minutes ago.
    store.write_batch(Batch(
        positions=[Position("CW-401", start + i * 20.0, 51.51315 - 0.0004 * i / 89,
                            -0.1332 + 0.0035 * i / 89, acc=8.0) for i in range(90)],
        statuses=[StatusChange("CW-401", start - 60, Status.ON_PATROL)]), now=now)
    for ts in range(int(start) - 120, int(now), 60):  # the evaluator's minute-by-minute states
        store.record_hotspot_states(ts, {SOHO: "gap" if ts < start + 300 else "present"}, True)
    users = seed.write_users(tmp_path / "users.yaml", ("sgt.jones", "supervisor", None))
    settings = Settings(redis_url=redis_url, users=users, hotspots=seed.HOTSPOTS,  # type: ignore[arg-type]
                        units=seed.UNITS, tile_url=NO_TILES, archive=str(tmp_path / "archive"))
    app = create_app(settings, store, seed.roster(), seed.hotspot_set())
    dash_duo.start_server(app, navigate=False, port=free_port())
    base = dash_duo.server.url.rstrip("/")
    sign_in(dash_duo, base, "sgt.jones")
    dash_duo.driver.get(f"{base}/replay")
    dash_duo.wait_for_element(f"#{ids.REPLAY_PLAY}", timeout=60)

    typed(dash_duo, ids.REPLAY_FROM, local_input(start + 120, settings.zone))
    typed(dash_duo, ids.REPLAY_TO, local_input(now - 600, settings.zone))
    dash_duo.find_element(f"#{ids.REPLAY_LOAD}").click()
    first = wait_until(lambda: (got := layers(dash_duo)) and "CW-401" in got["units"] and got, 60,
                       what="CW-401 drawn at the start of the period")
    assert first["hotspots"][SOHO] == HOTSPOT_LOOK["gap"].colour

    # Play at 120x: two minutes of replay a second.
    speed = dash_duo.find_element(f"#{ids.REPLAY_SPEED}")
    speed.click()
    dash_duo.driver.find_element(By.XPATH, "//*[text()='120×']").click()
    dash_duo.find_element(f"#{ids.REPLAY_PLAY}").click()
    later = wait_until(
        lambda: (got := layers(dash_duo)) and got["units"].get("CW-401", [0, -1])[1]
        > first["units"]["CW-401"][1] + 0.0005 and got, 120, what="CW-401 moving east")
    wait_until(lambda: layers(dash_duo)["hotspots"][SOHO] == HOTSPOT_LOOK["present"].colour,
               120, what="Soho turning present")
    assert later["units"]["CW-401"][0] < first["units"]["CW-401"][0]  # and a little south
    dash_duo.find_element(f"#{ids.REPLAY_PLAY}").click()  # pause

    # Click the unit: the page follows it and draws its track. Until then there is nothing
    # to stop following: the button shows only while a unit is followed.
    assert not dash_duo.find_element(f"#{ids.REPLAY_UNFOLLOW}").is_displayed()
    dash_duo.driver.execute_script("""
      var m = window.patrolwatch.map;
      m.eachLayer(function (l) { var p = l.feature && l.feature.properties;
        if (p && p.id === 'CW-401' && l.fire) {
          l.fire('click', {latlng: l.getLatLng()}, true); } });
    """)
    wait_until(lambda: "Following" in dash_duo.find_element(f"#{ids.REPLAY_FOLLOW}").text, 60,
               what="the follow label")
    assert dash_duo.find_element(f"#{ids.REPLAY_UNFOLLOW}").is_displayed()
    wait_until(lambda: dash_duo.driver.execute_script(
        "var n = 0; window.patrolwatch.map.eachLayer(function (l) {"
        " if (l.getLatLngs && !l.feature && l.getLatLngs().length > 2) { n += 1; } });"
        " return n;"), 60, what="the followed unit's track")
    # Dozens of frames and follow steps were read: one entry per loaded period (the default
    # one and the one typed in) and one for the followed unit, not one per frame.
    whats = [e["what"] for e in store.access_log()]
    assert whats.count("replay") <= 2 and whats.count("replay_follow") == 1, whats
    assert len(whats) <= 3, whats
