"""The control room at the sizes it meets: a laptop, a 1080p desk, a 4K wall, a phone.

Sizes are checked every run; with ``PATROL_WRITE_SCREENSHOT=1`` (``make screenshots``) each size
is also saved in docs/screenshots/ for the README and for a person to look at.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from dash.testing.composite import DashComposite

from dashboard import ids
from patrolwatch.store import Store
from tests.browser import fleet as seed
from tests.browser.test_control_room import GAP, read_map, settings_for, start
from tests.services import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SHOTS = seed.ROOT / "docs/screenshots"
SIZES = [(1366, 768, False), (1920, 1080, False), (3840, 2160, False), (390, 844, True)]

# What a person would see of the layout: type sizes, the header's line, tabs, overflow.
MEASURE = """
const px = (el) => el ? parseFloat(getComputedStyle(el).fontSize) : null;
const header = document.querySelector(".pw-header");
const parts = Array.from(header.children).filter(e => e.offsetParent !== null);
const mids = parts.map(e => {
  const r = e.getBoundingClientRect(); return (r.top + r.bottom) / 2; });
const side = document.querySelector(".pw-side").getBoundingClientRect();
const tabs = Array.from(document.querySelectorAll(".pw-side .tab")).map(t => {
  const r = t.getBoundingClientRect();
  return {text: t.textContent, cut: t.scrollWidth > t.clientWidth + 1,
          inside: r.left >= side.left - 1 && r.right <= side.right + 1};
});
let radius = null;
const map = window.patrolwatch && window.patrolwatch.map;
if (map) {
  map.eachLayer(l => { const p = l.feature && l.feature.properties;
    if (p && p.s && p.s !== "E" && l.options.radius) { radius = l.options.radius; } });
}
const banner = document.getElementById(arguments[0]).getBoundingClientRect();
return {legend: px(document.querySelector("#legend .pw-legend-row")),
        body: px(document.body), header_height: header.getBoundingClientRect().height,
        header_spread: Math.max(...mids) - Math.min(...mids), header_parts: parts.length,
        tabs: tabs, unit_radius: radius,
        page_width: document.documentElement.scrollWidth, banner_top: banner.top,
        banner_height: banner.height};
"""

FITS = """
const box = document.getElementById(arguments[0]);
const table = box.querySelector("table");
const panel = document.querySelector(".pw-side .tab-content") || box.parentElement;
return {table: table ? table.getBoundingClientRect().width : 0,
        panel: panel.getBoundingClientRect().width,
        scroll: panel.scrollWidth, client: panel.clientWidth};
"""


def seeded(redis_url: str) -> Store:
    store = Store.from_url(redis_url)
    hotspots, roster = seed.hotspot_set(), seed.roster()
    now = time.time()
    fleet = seed.fleet(hotspots, list(roster.units)[:150], now, seed=11)
    store.write_batch(fleet.batch, now=now)
    present = {"nte-leicester-square": [fleet.unit_ids[8]],
               "transport-kings-cross": [fleet.unit_ids[9], fleet.unit_ids[10]]}
    snapshot = seed.coverage_snapshot(
        hotspots, now, [GAP, "transport-victoria", "school-homerton"], present=present,
        due_ids=["nte-camden-high-st", "uni-kings-strand"],
        inactive_ids=["school-peckham", "school-walworth"], suggestions=fleet.unit_ids[20:26])
    store.write_coverage(snapshot)
    return store


def resize(dash_duo: DashComposite, width: int, height: int, mobile: bool) -> None:
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
    dash_duo.driver.refresh()
    dash_duo.wait_for_text_to_equal("#pw-count-total .pw-big", "150", timeout=20)
    wait_until(lambda: (m := read_map(dash_duo)) and len(m["units"]) > 100, 20,
               what="units drawn")
    dash_duo.wait_for_element(".leaflet-tooltip.pw-alarm-label", timeout=10)


def test_sizes_from_laptop_to_wall_and_phone(dash_duo: DashComposite, redis_url: str) -> None:
    store = seeded(redis_url)
    start(dash_duo, settings_for(redis_url, map_zoom=13, map_center_lat=51.508,
                                 map_center_lon=-0.118), store)
    seen: dict[tuple[int, int], dict[str, Any]] = {}
    for width, height, mobile in SIZES:
        resize(dash_duo, width, height, mobile)
        seen[(width, height)] = m = dash_duo.driver.execute_script(MEASURE, ids.EMERGENCY)
        assert m["page_width"] <= width + 1, f"sideways scrolling at {width}x{height}: {m}"
        assert 0 <= m["banner_top"] < height / 3 and m["banner_height"] > 0, m
        if os.environ.get("PATROL_WRITE_SCREENSHOT"):
            SHOTS.mkdir(parents=True, exist_ok=True)
            dash_duo.driver.save_screenshot(str(SHOTS / f"control-room-{width}x{height}.png"))

    # Dosage at the laptop size: shift and week side by side, nothing wider than the panel.
    resize(dash_duo, 1366, 768, False)
    dash_duo.find_element(f"#{ids.TABS} .tab:nth-child(4)").click()
    dash_duo.wait_for_contains_text(f"#{ids.DOSAGE_TABLE}", "Operation week", timeout=15)
    fit = dash_duo.driver.execute_script(FITS, ids.DOSAGE_TABLE)
    assert fit["table"] <= fit["panel"] + 1 and fit["scroll"] <= fit["client"] + 1, fit
    assert "This shift" in dash_duo.find_element(f"#{ids.DOSAGE_TABLE}").text
    if os.environ.get("PATROL_WRITE_SCREENSHOT"):
        dash_duo.driver.save_screenshot(str(SHOTS / "dosage-1366x768.png"))

    laptop, desk, wall = seen[(1366, 768)], seen[(1920, 1080)], seen[(3840, 2160)]
    assert laptop["header_spread"] < 6 and laptop["header_height"] < 3.2 * laptop["body"], (
        f"the header wraps at 1366 x 768: {laptop}")
    assert laptop["tabs"] and all(t["inside"] and not t["cut"] for t in laptop["tabs"]), (
        laptop["tabs"])
    assert desk["legend"] >= 14, f"legend {desk['legend']} px at 1080p"
    assert wall["legend"] >= 1.4 * desk["legend"] and wall["body"] >= 1.4 * desk["body"], (
        "type grows on a 4K wall")
    assert wall["unit_radius"] >= 1.8 * laptop["unit_radius"], "markers grow on a 4K wall"
