"""The control-room page in headless Chromium: what a person at the wall screen would see."""

from __future__ import annotations

import math
import os
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from dash.testing.composite import DashComposite

from dashboard import ids
from dashboard.app import create_app
from dashboard.palette import HOTSPOT_LOOK, STATUS_LOOK
from patrolwatch.core.model import Position, Status
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from tests.browser import fleet as seed
from tests.services import free_port, redis_server, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

NO_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"  # refused at once: the map must not need tiles
SCREENSHOT = seed.ROOT / "docs/screenshot.png"
GAP = "nte-soho-old-compton-st"

# Read what the Leaflet map really holds: unit markers and hotspot pins/areas with colours.
READ_MAP = """
const map = window.patrolwatch && window.patrolwatch.map;
if (!map) { return null; }
const out = {zoom: map.getZoom(), center: [map.getCenter().lat, map.getCenter().lng],
             units: {}, pins: {}, areas: {}};
map.eachLayer(function (layer) {
  const f = layer.feature;
  if (!f || !f.properties) { return; }
  const p = f.properties;
  if (p.s) {
    const ll = layer.getLatLng();
    out.units[p.id] = {lat: ll.lat, lon: ll.lng, s: p.s, lost: !!p.l,
                       emergency: !!layer.getElement && !layer.setStyle};
  } else if (p.pin) {
    out.pins[p.id] = layer.options.color;
  } else {
    out.areas[p.id] = layer.options.color;
  }
});
return out;
"""


# A click on a hotspot's pin, as Leaflet delivers it from the canvas to the GeoJSON layer.
CLICK_PIN = """
const wanted = arguments[0];
let done = false;
window.patrolwatch.map.eachLayer(function (layer) {
  const p = layer.feature && layer.feature.properties;
  if (!done && p && p.pin && p.id === wanted) {
    layer.fire("click", {latlng: layer.getLatLng()}, true);
    done = true;
  }
});
return done;
"""


def settings_for(redis_url: str, **extra: Any) -> Settings:
    return Settings(redis_url=redis_url, hotspots=seed.HOTSPOTS, units=seed.UNITS,  # type: ignore[arg-type]
                    tile_url=NO_TILES, open_access=True, **extra)  # no users: opted in


def read_map(dash_duo: DashComposite) -> dict[str, Any] | None:
    return dash_duo.driver.execute_script(READ_MAP)  # type: ignore[no-any-return]


def start(dash_duo: DashComposite, settings: Settings, store: Store) -> None:
    app = create_app(settings, store, seed.roster(), seed.hotspot_set())
    dash_duo.start_server(app, port=free_port())
    dash_duo.wait_for_element(".leaflet-container", timeout=15)


def text(dash_duo: DashComposite, selector: str) -> str:
    return str(dash_duo.find_element(selector).text)


def severe_errors(dash_duo: DashComposite) -> list[str]:
    """Console errors, except the tile requests this machine cannot make."""
    return [e["message"] for e in dash_duo.get_logs()
            if e["level"] == "SEVERE" and "127.0.0.1:9/" not in e["message"]]


def check_counts(dash_duo: DashComposite, seeded: seed.Fleet) -> None:
    """The big numbers match what was put in Redis."""
    dash_duo.wait_for_text_to_equal("#pw-count-total .pw-big", str(len(seeded.unit_ids)))
    assert text(dash_duo, "#pw-count-emergency .pw-big") == "1"
    assert text(dash_duo, "#pw-count-lost .pw-big") == "1"
    assert text(dash_duo, "#pw-count-gaps .pw-big") == "1"
    for status, look in STATUS_LOOK.items():
        if status is not Status.EMERGENCY:
            expected = seeded.by_status.get(status, 0)
            assert text(dash_duo, f"#count-{status.value} .pw-status-n") == str(expected), look


def check_emergency(dash_duo: DashComposite, callsign: str) -> None:
    """EMERGENCY is impossible to miss: the banner names the unit, its marker pulses."""
    banner = dash_duo.find_element(f"#{ids.EMERGENCY}")
    assert "pw-hidden" not in str(banner.get_attribute("class"))
    assert "EMERGENCY" in banner.text and callsign in banner.text
    assert dash_duo.find_elements(".pw-alarm-icon .pw-alarm-ring")
    assert callsign in text(dash_duo, ".pw-alarm-label")


def test_live_map_counts_emergency_gap_and_updates_without_losing_zoom(
    dash_duo: DashComposite, redis_url: str
) -> None:
    store = Store.from_url(redis_url)
    hotspots, roster = seed.hotspot_set(), seed.roster()
    now = time.time()
    seeded = seed.fleet(hotspots, list(roster.units)[:50], now)
    store.write_batch(seeded.batch, now=now)
    store.write_coverage(seed.coverage_snapshot(hotspots, now, [GAP],
                                                suggestions=[seeded.unit_ids[3]]))
    start(dash_duo, settings_for(redis_url), store)
    drawn = 50 - len(seeded.off_duty)

    # Units and hotspots are on the map, coloured by status and state.
    state = wait_until(lambda: (m := read_map(dash_duo)) and len(m["units"]) == drawn and m,
                       20, what=f"{drawn} units drawn on the map")
    assert set(state["units"]) == set(seeded.unit_ids) - set(seeded.off_duty)
    assert state["units"][seeded.stale]["lost"] is True
    assert state["units"][seeded.emergency]["s"] == "E"
    assert len(state["pins"]) == len(hotspots.hotspots)
    assert state["pins"][GAP] == state["areas"][GAP] == HOTSPOT_LOOK["gap"].colour
    assert {c for h, c in state["pins"].items() if h != GAP} == {HOTSPOT_LOOK["covered"].colour}

    check_counts(dash_duo, seeded)
    check_emergency(dash_duo, roster.units[seeded.emergency].callsign)

    # The gap is listed; clicking it centres the map on the hotspot.
    gap_name = hotspots.by_id[GAP].name
    dash_duo.wait_for_contains_text(f"#{ids.GAPS}", gap_name)
    assert len(dash_duo.find_elements(f"#{ids.GAPS} .pw-gap")) == 1
    dash_duo.find_element(f"#{ids.GAPS} .pw-gap").click()
    lat, lon = hotspots.by_id[GAP].centroid

    def centred() -> dict[str, Any] | None:
        m = read_map(dash_duo)
        near = m and abs(m["center"][0] - lat) < 1e-4 and abs(m["center"][1] - lon) < 1e-4
        return m if near and m["zoom"] == 16 else None

    view = wait_until(centred, 10, what="map centred on the gap's hotspot")
    dash_duo.wait_for_contains_text(f"#{ids.HOTSPOT_PANEL}", gap_name)

    # A new position moves the unit on the map; zoom and centre stay where the user put them.
    mover = seeded.unit_ids[5]
    before = view["units"][mover]
    new_lat, new_lon = round(before["lat"] + 0.002, 5), round(before["lon"] - 0.003, 5)
    store.write_batch(Batch(positions=[Position(mover, time.time(), new_lat, new_lon)]))

    def moved() -> dict[str, Any] | None:
        m = read_map(dash_duo)
        u = m and m["units"].get(mover)
        there = u and math.isclose(u["lat"], new_lat) and math.isclose(u["lon"], new_lon)
        return m if there else None

    after = wait_until(moved, 10, what=f"{mover} drawn at its new position")
    assert after["zoom"] == 16, "a refresh must not reset the zoom"
    assert after["center"] == view["center"], "a refresh must not move the map"

    # Clicking a hotspot on the map opens its panel and leaves the map where it is.
    other = "transport-kings-cross"
    assert dash_duo.driver.execute_script(CLICK_PIN, other)
    dash_duo.wait_for_contains_text(f"#{ids.HOTSPOT_PANEL}", hotspots.by_id[other].name)
    assert read_map(dash_duo)["center"] == view["center"]  # type: ignore[index]
    assert severe_errors(dash_duo) == []


def test_degraded_banner_when_redis_goes_and_comes_back(
    dash_duo: DashComposite, tmp_path: Path
) -> None:
    server = redis_server(tmp_path)
    try:
        store = Store.from_url(server.url)
        hotspots, roster = seed.hotspot_set(), seed.roster()
        now = time.time()
        seeded = seed.fleet(hotspots, list(roster.units)[:10], now)
        store.write_batch(seeded.batch, now=now)
        store.write_coverage(seed.coverage_snapshot(hotspots, now, []))
        start(dash_duo, settings_for(server.url), store)
        dash_duo.wait_for_text_to_equal("#pw-count-total .pw-big", "10", timeout=15)
        dash_duo.wait_for_element(f"#{ids.DEGRADED}.pw-hidden")

        server.kill()
        dash_duo.wait_for_contains_text(f"#{ids.DEGRADED}", "Live store unreachable", timeout=15)
        assert "pw-hidden" not in str(dash_duo.find_element(f"#{ids.DEGRADED}")
                                      .get_attribute("class"))
        assert text(dash_duo, "#pw-count-total .pw-big") == "10", "last data stays on screen"
        assert len(read_map(dash_duo)["units"]) == 10 - len(seeded.off_duty)  # type: ignore[index]

        server.start()
        # Redis comes back empty (no persistence): the feed is now silent, and the page says so.
        dash_duo.wait_for_contains_text(f"#{ids.DEGRADED}", "No message received", timeout=15)
        dash_duo.wait_for_text_to_equal("#pw-count-total .pw-big", "0", timeout=15)
    finally:
        server.terminate()


def png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def test_control_room_screenshot_search_and_dosage_download(
    dash_duo: DashComposite, redis_url: str, tmp_path: Path
) -> None:
    store = Store.from_url(redis_url)
    hotspots, roster = seed.hotspot_set(), seed.roster()
    now = time.time()
    seeded = seed.fleet(hotspots, list(roster.units)[:150], now, seed=11)
    store.write_batch(seeded.batch, now=now)
    gaps = [GAP, "transport-victoria", "school-homerton"]
    present = {"nte-leicester-square": [seeded.unit_ids[8]],
               "transport-kings-cross": [seeded.unit_ids[9], seeded.unit_ids[10]]}
    snapshot = seed.coverage_snapshot(
        hotspots, now, gaps, present=present, due_ids=["nte-camden-high-st", "uni-kings-strand"],
        inactive_ids=["school-peckham", "school-walworth"], suggestions=seeded.unit_ids[20:26])
    snapshot["predictability"] = [{"hotspot": "transport-waterloo", "name": "Waterloo station",
                                   "days": ["Tue", "Wed", "Thu"], "typical_time": "22:10"}]
    store.write_coverage(snapshot)
    store.apply_visit_delta([], [
        {"unit": u, "hotspot": GAP, "start": now - h * 3600, "end": now - h * 3600 + m * 60,
         "pings": int(m)}
        for u, h, m in ((seeded.unit_ids[4], 20, 14), (seeded.unit_ids[5], 16, 6),
                        (seeded.unit_ids[4], 9, 22), (seeded.unit_ids[6], 4.2, 12),
                        (seeded.unit_ids[7], 3, 4))])
    start(dash_duo, settings_for(redis_url, map_zoom=13, map_center_lat=51.508,
                                 map_center_lon=-0.118), store)
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 1600, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    dash_duo.wait_for_text_to_equal("#pw-count-total .pw-big", "150", timeout=15)
    dash_duo.wait_for_contains_text(f"#{ids.PREDICTABILITY}", "Waterloo station", timeout=15)

    # Choose the gap's hotspot from the picker: its panel and 24 h timeline fill in.
    dash_duo.find_element(f"#{ids.GAPS} .pw-gap").click()
    dash_duo.wait_for_contains_text(f"#{ids.HOTSPOT_PANEL}", "Last qualifying visit")
    wait_until(lambda: len(dash_duo.find_elements(f"#{ids.TIMELINE} .trace.bars .point")) == 5,
               10, what="five visits on the timeline")
    # Back to the city-wide view a control room keeps on the wall.
    dash_duo.driver.execute_script("window.patrolwatch.map.setView([51.508, -0.118], 13, "
                                   "{animate: false});")
    wait_until(lambda: (m := read_map(dash_duo)) and m["zoom"] == 13, 10, what="zoom 13")
    # README's image is rewritten only when asked (`make screenshots`): a test run leaves
    # the checkout clean.
    shot = SCREENSHOT if os.environ.get("PATROL_WRITE_SCREENSHOT") == "1" else tmp_path / "s.png"
    shot.parent.mkdir(exist_ok=True)
    dash_duo.driver.save_screenshot(str(shot))
    assert png_size(shot) == (1600, 1000)

    # The unit list filters as the operator types.
    dash_duo.find_element(f"#{ids.TABS} .tab:nth-child(2)").click()
    # On duty, so it is drawn and the map must fly to it; and a search hits only it.
    wanted = next(u for u in seeded.unit_ids[12:] if u not in seeded.off_duty
                  and not any(o != u and u in o for o in roster.units))
    target = roster.units[wanted]
    # Report it again where it is, so "seen" is recent however long the steps above took.
    here = next(p for p in seeded.batch.positions if p.unit == wanted)
    store.write_batch(Batch(positions=[Position(wanted, time.time(), here.lat, here.lon,
                                                acc=here.acc)]))
    dash_duo.find_element(f"#{ids.SEARCH}").send_keys(wanted)
    wait_until(lambda: len(dash_duo.find_elements(f"#{ids.UNIT_LIST} .pw-unit-row")) == 1, 10,
               what="one unit left after searching")
    row = text(dash_duo, f"#{ids.UNIT_LIST} .pw-unit-row")
    assert target.callsign in row and ("just now" in row or " s ago" in row), row
    # Clicking the row flies the map to the unit.
    where = read_map(dash_duo)["units"].get(wanted)  # type: ignore[index]
    assert where is not None, f"{wanted} is on duty and must be on the map"
    dash_duo.find_element(f"#{ids.UNIT_LIST} .pw-unit-row").click()
    wait_until(lambda: (m := read_map(dash_duo)) and m["zoom"] == 17
               and abs(m["center"][0] - where["lat"]) < 1e-4
               and abs(m["center"][1] - where["lon"]) < 1e-4, 10, what="map on the unit")

    # The dosage table is there and downloads as CSV.
    dash_duo.find_element(f"#{ids.TABS} .tab:nth-child(4)").click()
    dash_duo.wait_for_contains_text(f"#{ids.DOSAGE_TABLE}", "Old Compton Street")
    dash_duo.find_element(f"#{ids.DOSAGE_CSV}").click()
    download = Path(dash_duo.download_path)
    csv_file = wait_until(lambda: next(iter(download.glob("dosage-*.csv")), None), 10,
                          what="the dosage CSV download")
    lines = csv_file.read_text().splitlines()
    assert lines[0].startswith("hotspot_id,Hotspot,Category")
    assert len(lines) == 1 + len(hotspots.hotspots)
    assert severe_errors(dash_duo) == []
