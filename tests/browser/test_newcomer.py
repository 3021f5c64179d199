"""What a newcomer meets, at a laptop, a 1080p desk, a 4K wall and a phone (issue 17).

Real Chromium, the real app on a real Redis. Checked at every size: nothing past the
viewport's right edge, no replay control narrower than its content, the side panel's tabs
reachable on a phone, the unit picked in the list drawn differently on the map, the gap
list never claiming an all-clear it cannot know. With ``PATROL_NEWCOMER_SHOTS=<folder>``
each view is also saved there (for a person to look at; not part of the repository).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from dash.testing.composite import DashComposite

from dashboard import ids
from dashboard.app import create_app
from dashboard.replay.view import local_input
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from tests.browser import fleet as seed
from tests.browser.conftest import sign_in
from tests.services import free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

NO_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"
SIZES = [(1366, 768, False), (1920, 1080, False), (3840, 2160, False), (390, 844, True)]
SOHO = "nte-soho-old-compton-st"

# Visible elements whose right edge lies past the viewport (the map's panes aside).
PAST_RIGHT = """
const w = arguments[0], out = [];
document.querySelectorAll('.pw-page *').forEach(function (el) {
  if (el.closest('.leaflet-pane, .leaflet-control-container, .js-plotly-plot')) { return; }
  const r = el.getBoundingClientRect();
  const shown = r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  if (shown && r.right > w + 1) {
    const name = (el.id || el.className || el.tagName).toString().slice(0, 60);
    out.push(name + ' right=' + Math.round(r.right));
  }
});
return {page: document.documentElement.scrollWidth, width: w, past: out.slice(0, 10)};
"""

# Replay controls narrower than their content: inputs by their text, the rest by scrollWidth.
CUT_CONTROLS = """
const out = [];
const box = document.querySelector('.pw-replay-controls');
if (!box) { return ['no replay controls']; }
const probe = document.createElement('span');
probe.style.cssText = 'position:absolute;visibility:hidden;white-space:pre';
document.body.appendChild(probe);
box.querySelectorAll('input, button, .Select-value-label, .Select-placeholder, .pw-replay-at')
  .forEach(function (el) {
    if (el.offsetParent === null) { return; }
    let need = el.scrollWidth, have = el.clientWidth;
    if (el.tagName === 'INPUT') {
      const cs = getComputedStyle(el);
      probe.style.font = cs.font;
      probe.textContent = el.value || el.placeholder || '';
      need = probe.getBoundingClientRect().width + parseFloat(cs.paddingLeft)
             + parseFloat(cs.paddingRight);
      have = el.clientWidth;
    }
    if (need > have + 1) {
      out.push((el.id || el.textContent || el.className).toString().slice(0, 40)
               + ' ' + Math.round(need) + '>' + have);
    }
    const r = el.getBoundingClientRect();
    if (r.right > arguments[0] + 1) { out.push('past the edge: ' + (el.id || el.textContent)); }
  });
probe.remove();
return out;
"""

READ_ZOOM = "return window.patrolwatch.map ? window.patrolwatch.map.getZoom() : 0;"

SELECTED = """
const map = window.patrolwatch && window.patrolwatch.map;
const wanted = arguments[0];
if (!map) { return null; }
let ring = null, marker = null;
map.eachLayer(function (l) {
  const p = l.feature && l.feature.properties;
  if (l.options && l.options.pwSelected === wanted) { ring = l.options.radius || true; }
  if (p && p.id === wanted && p.s) { marker = true; }
});
return {ring: ring, marker: marker};
"""


def shoot(dash_duo: DashComposite, name: str) -> None:
    folder = os.environ.get("PATROL_NEWCOMER_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        dash_duo.driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def resize(dash_duo: DashComposite, width: int, height: int, mobile: bool) -> None:
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


def young_feed(store: Store, now: float) -> None:
    """A demo 20 s after start: units reporting, every active hotspot without data yet."""
    snapshot = seed.coverage_snapshot(seed.hotspot_set(), now, [],
                                      inactive_ids=["school-peckham"])
    for entry in snapshot["hotspots"].values():
        if entry["active"]:
            entry["state"] = "no_data"
    snapshot["observed_since"] = now - 20
    snapshot["feed_fresh"] = True
    store.write_coverage(snapshot)  # the evaluator would write it again every few seconds


def test_control_room_at_every_size_knows_what_it_cannot_know(
        dash_duo: DashComposite, redis_url: str) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    fleet = seed.fleet(seed.hotspot_set(), list(seed.roster().units)[:150], now, seed=11)
    store.write_batch(fleet.batch, now=now)
    young_feed(store, now)
    settings = Settings(redis_url=redis_url, hotspots=seed.HOTSPOTS, units=seed.UNITS,  # type: ignore[arg-type]
                        tile_url=NO_TILES, open_access=True)
    app = create_app(settings, store, seed.roster(), seed.hotspot_set())
    dash_duo.start_server(app, port=free_port())
    for width, height, mobile in SIZES:
        young_feed(store, time.time())
        resize(dash_duo, width, height, mobile)
        dash_duo.driver.refresh()
        dash_duo.wait_for_text_to_equal("#pw-count-total .pw-big", "150", timeout=30)
        # Item 1: the gap list says coverage is not known yet, and why; never "No gaps".
        gaps_text = wait_until(lambda: dash_duo.find_element(f"#{ids.GAPS}").text, 20,
                               what="the gap list")
        shoot(dash_duo, f"control-room-young-feed-{width}x{height}")
        assert "Coverage not known yet" in gaps_text, gaps_text
        assert "No gaps" not in gaps_text and "the feed started" in gaps_text, gaps_text
        assert dash_duo.find_element("#pw-count-gaps .pw-big").text == "?"
        layout = dash_duo.driver.execute_script(PAST_RIGHT, width)
        assert layout["page"] <= width + 1 and not layout["past"], (width, layout)
        cut_labels = dash_duo.driver.execute_script(
            "return Array.from(document.querySelectorAll('.pw-status-label, .pw-big-label'))"
            ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent);")
        assert not cut_labels, (width, cut_labels)  # "Refreshm…" no more

        # Item 6: the unit picked in the list is drawn differently on the map.
        picked_is_ringed(dash_duo, f"{width}x{height}")

        if mobile:  # Item 5: every tab's content can be scrolled to on a phone.
            reachable = dash_duo.driver.execute_script(TAB_REACH)
            assert all(r["reachable"] for r in reachable), reachable


def picked_is_ringed(dash_duo: DashComposite, size: str) -> None:
    """Pick the first unit in the list: it is ringed on the map until its panel closes."""
    dash_duo.find_element(f"#{ids.TABS} .tab:nth-child(2)").click()  # Units
    unit_id = wait_until(lambda: dash_duo.driver.execute_script(
        f"var b = document.querySelector('#{ids.UNIT_LIST} .pw-unit-row');"
        "return b && JSON.parse(b.id).unit;"), 10, what="a unit row")
    first = dash_duo.find_element(f"#{ids.UNIT_LIST} .pw-unit-row")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", first)
    first.click()
    wait_until(lambda: dash_duo.find_element(f"#{ids.UNIT_PANEL}").text, 15,
               what="the unit's panel")
    wait_until(lambda: dash_duo.driver.execute_script(READ_ZOOM) >= 16, 15,
               what="the map flown to the unit")
    dash_duo.driver.execute_script("window.scrollTo(0, 0);")
    shoot(dash_duo, f"control-room-selected-{size}")
    picked = wait_until(lambda: dash_duo.driver.execute_script(SELECTED, unit_id), 15,
                        what="the map")
    assert picked["ring"], f"{unit_id} is not drawn differently once picked: {picked}"
    dash_duo.find_element(f"#{ids.UNIT_CLOSE}").click()
    wait_until(lambda: not dash_duo.driver.execute_script(SELECTED, unit_id)["ring"], 10,
               what="the ring gone once the panel is closed")
    dash_duo.find_element(f"#{ids.TABS} .tab:nth-child(1)").click()


GLIDE = """
const done = arguments[arguments.length - 1];
const pw = window.patrolwatch, map = pw.map;
const context = {map: map, hideout: {st: {P: ["On patrol", "#2563eb"]}, cs: {}, lost: ["", ""]}};
const feature = (lat) => ({type: "Feature", properties: {id: "GLIDE-1", s: "P"},
                           geometry: {type: "Point", coordinates: [-0.13, lat]}});
map.addLayer(pw.replay.pointToLayer(feature(51.51), L.latLng(51.51, -0.13), context));
const layer = pw.replay.pointToLayer(feature(51.511), L.latLng(51.511, -0.13), context);
map.addLayer(layer);
const seen = [layer.getLatLng().lat];
const look = () => {
  const lat = layer.getLatLng().lat;
  seen.push(lat);
  if (lat >= 51.511 || seen.length > 600) { map.removeLayer(layer); done(seen); }
  else { requestAnimationFrame(look); }
};
requestAnimationFrame(look);
"""


TAB_REACH = """
const out = [];
const tabs = Array.from(document.querySelectorAll('.pw-side .tab'));
const page = document.scrollingElement;
tabs.forEach(function (t) {
  t.click();
  const box = document.querySelector('.pw-side .tab-content') ||
              document.querySelector('.pw-side [role=tabpanel]');
  const r = box ? box.getBoundingClientRect() : null;
  const top = r ? r.top + page.scrollTop : Infinity;
  out.push({tab: t.textContent, top: Math.round(top), page: page.scrollHeight,
            reachable: !!r && r.height > 0 && top + 20 < page.scrollHeight});
});
return out;
"""


def test_replay_controls_fit_their_content_at_every_size(
        dash_duo: DashComposite, redis_url: str, tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    start = now - 3000
    store.write_batch(Batch(
        positions=[Position("CW-401", start + i * 20.0, 51.51315 - 0.0004 * i / 89,
                            -0.1332 + 0.0035 * i / 89, acc=8.0) for i in range(90)],
        statuses=[StatusChange("CW-401", start - 60, Status.ON_PATROL)]), now=now)
    for ts in range(int(start) - 120, int(now), 60):
        store.record_hotspot_states(ts, {SOHO: "gap" if ts < start + 300 else "present"}, True)
    store.replace_observed_after(0.0, [(start, now)])  # as the evaluator keeps it
    users = seed.write_users(tmp_path / "users.yaml", ("sgt.jones", "supervisor", None))
    settings = Settings(redis_url=redis_url, users=users, hotspots=seed.HOTSPOTS,  # type: ignore[arg-type]
                        units=seed.UNITS, archive=str(tmp_path / "archive"))  # no basemap
    app = create_app(settings, store, seed.roster(), seed.hotspot_set())
    dash_duo.start_server(app, navigate=False, port=free_port())
    base = dash_duo.server.url.rstrip("/")
    sign_in(dash_duo, base, "sgt.jones")
    for width, height, mobile in SIZES:
        resize(dash_duo, width, height, mobile)
        dash_duo.driver.get(f"{base}/replay")
        dash_duo.wait_for_element(f"#{ids.REPLAY_PLAY}", timeout=60)
        dash_duo.wait_for_element(f"#{ids.REPLAY_TIMELINE} .main-svg", timeout=30)
        shoot(dash_duo, f"replay-{width}x{height}")
        # The default period starts where the data starts, not hours before any.
        frm = dash_duo.find_element(f"#{ids.REPLAY_FROM}").get_attribute("value")
        assert frm <= local_input(start + 60, settings.zone), frm
        assert frm >= local_input(start - 3600, settings.zone), (frm, "starts before the data")
        wait_until(lambda: dash_duo.driver.execute_script(
            "var n = 0; window.patrolwatch.map.eachLayer(function (l) {"
            " var p = l.feature && l.feature.properties; if (p && p.s) { n += 1; } });"
            " return n;"), 30, what="units drawn at the period's start")
        cut = dash_duo.driver.execute_script(CUT_CONTROLS, width)
        assert not cut, (width, cut)
        layout = dash_duo.driver.execute_script(PAST_RIGHT, width)
        assert layout["page"] <= width + 1 and not layout["past"], (width, layout)
        text = dash_duo.driver.find_element("css selector", "body").text
        assert "OpenStreetMap" not in text  # no basemap: its notice, not its credit
        assert "+10 min" in text
        # Playback glides: a unit's next frame is drawn moving from where it was, through
        # the places between, not jumping there.
        path = dash_duo.driver.execute_async_script(GLIDE)
        between = [lat for lat in path if 51.5100 < lat < 51.5110]
        assert path[0] == 51.51 and path[-1] == 51.511 and between, path


def test_panels_change_together_after_a_tasking_and_an_emergency(
        dash_duo: DashComposite, redis_url: str, fresh_mqtt_url: str, tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    hotspots, roster = seed.hotspot_set(), seed.roster()
    now = time.time()
    seeded = seed.fleet(hotspots, list(roster.units)[:40], now)
    store.write_batch(seeded.batch, now=now)
    suggested = seeded.unit_ids[3:5]
    store.write_coverage(seed.coverage_snapshot(hotspots, now, [SOHO], suggestions=suggested))
    users = seed.write_users(tmp_path / "users.yaml", ("sgt.jones", "supervisor", None))
    settings = Settings(redis_url=redis_url, mqtt_url=fresh_mqtt_url, users=users,  # type: ignore[arg-type]
                        hotspots=seed.HOTSPOTS, units=seed.UNITS, tile_url=NO_TILES)
    app = create_app(settings, store, roster, hotspots)
    try:
        dash_duo.start_server(app, navigate=False, port=free_port())
        sign_in(dash_duo, dash_duo.server.url.rstrip("/"), "sgt.jones")
        callsign = roster.units[suggested[0]].callsign
        dash_duo.wait_for_contains_text(f"#{ids.GAPS}", callsign, timeout=15)
        dash_duo.find_element(f"#{ids.GAPS} .pw-gap").click()  # the hotspot's panel opens
        task = wait_until(lambda: dash_duo.find_elements(f"#{ids.HOTSPOT_PANEL} .pw-task"), 15,
                          what="a unit offered in the hotspot panel")[0]
        chosen = json.loads(task.get_attribute("id"))["unit"]
        callsign = roster.units[chosen].callsign
        dash_duo.wait_for_text_to_equal(f"#{ids.TASKINGS_TAB}", "Taskings (0)", timeout=10)
        task.click()
        dash_duo.wait_for_element(f"#{ids.TASK_DIALOG}:not(.pw-hidden)", timeout=10)
        dash_duo.find_element(f"#{ids.TASK_CONFIRM}").click()
        dash_duo.wait_for_contains_text(f"#{ids.TOAST}", "sent:", timeout=15)
        # In the same answer as the toast: the tab counts it, the panel names it.
        tab = dash_duo.find_element(f"#{ids.TASKINGS_TAB}").text
        panel = dash_duo.find_element(f"#{ids.HOTSPOT_PANEL}").text
        assert tab == "Taskings (1)", tab
        assert f"Already tasked here: {callsign} sent" in panel, panel
        tasks = dash_duo.find_elements(f"#{ids.HOTSPOT_PANEL} .pw-task")
        assert all(json.loads(t.get_attribute("id"))["unit"] != chosen for t in tasks)

        # An EMERGENCY: the open unit panel says so with the banner and the list, one picture.
        unit = seeded.unit_ids[6]
        dash_duo.find_element(f"#{ids.TABS} .tab:nth-child(2)").click()
        dash_duo.find_element(f"#{ids.SEARCH}").send_keys(roster.units[unit].callsign)
        # The list is redrawn as the search is typed: a click on a row that the next redraw
        # replaces is lost (the row it went to is gone), as a person would see and click
        # again. So: click the unit's row until its panel opens.
        def opened() -> bool:
            if dash_duo.find_element(f"#{ids.UNIT_PANEL}").text:
                return True
            dash_duo.driver.execute_script(
                "var rows = document.querySelectorAll(arguments[0]);"
                "for (var i = 0; i < rows.length; i++) {"
                "  if (JSON.parse(rows[i].id).unit === arguments[1]) { rows[i].click(); }"
                "}", f"#{ids.UNIT_LIST} .pw-unit-row", unit)
            return False

        wait_until(opened, 20, interval=1.0, what="the unit panel, its row clicked")
        store.write_batch(Batch(statuses=[StatusChange(unit, time.time(), Status.EMERGENCY)]),
                          now=time.time())
        dash_duo.wait_for_contains_text(f"#{ids.EMERGENCY}", roster.units[unit].callsign,
                                        timeout=15)
        wait_until(lambda: "Emergency" in dash_duo.find_element(f"#{ids.UNIT_PANEL}").text,
                   5, what="the unit panel saying Emergency with the banner")
    finally:
        app.server.extensions["patrolwatch"].publisher.close()
