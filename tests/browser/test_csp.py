"""Every page works under the strict Content-Security-Policy, and a hostile basemap runs nothing.

The policy allows scripts from this site and the hashes of Dash's own inline scripts only
(``hardening.content_security_policy``). Chromium reports each refused script or handler
in its console ("...violates the following Content Security Policy directive"), which the
dash_duo driver's logs hold: every page is opened and used, and those logs must hold none.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from dash.testing.composite import DashComposite

from dashboard import ids
from dashboard.app import create_app
from patrolwatch.core.messages import Reason, Rejection
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from tests.browser import fleet as seed
from tests.browser.conftest import sign_in, sign_out
from tests.browser.test_basemap import CENTRE, ZOOM, tiles_around, write_mbtiles
from tests.browser.test_control_room import NO_TILES
from tests.services import free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOSTILE = ('<img src=x onerror="document.title=\'pwned\';window.__pwned=1">Evil tiles '
           '<a href="https://tiles.example/">&copy; Example</a>')
UNIT = "CW-401"


def csp_violations(dash_duo: DashComposite) -> list[str]:
    """Return every console message about a refused script, handler or resource."""
    return [e["message"] for e in dash_duo.get_logs()
            if "Content Security Policy" in e["message"] or "Content-Security-Policy"
            in e["message"]]


def lines_of(dash_duo: DashComposite, text: str) -> int:
    """Return on how many lines the table cell holding exactly ``text`` is drawn."""
    return int(dash_duo.driver.execute_script("""
      const cell = Array.from(document.querySelectorAll('.pw-admin-table td'))
        .find(td => td.textContent === arguments[0]);
      if (!cell) { return -1; }
      const range = document.createRange();
      range.selectNodeContents(cell);
      const tops = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
      return tops.size;""", text))


def test_every_page_runs_under_the_strict_policy(dash_duo: DashComposite, redis_url: str,
                                                 tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    store.write_coverage(seed.coverage_snapshot(seed.hotspot_set(), now, []))
    # Long details and an unbroken hostile payload: the columns compete for the width.
    store.write_batch(Batch(rejections=[Rejection(
        Reason.INVALID_JSON, "the payload is not JSON: Expecting value: line 1 column 1 " * 3,
        "patrol/CW-402/position", b"{" + b"A" * 300)]))
    square = {"type": "Polygon", "coordinates": [[[-0.135, 51.51], [-0.125, 51.51],
                                                   [-0.125, 51.515], [-0.135, 51.515],
                                                   [-0.135, 51.51]]]}
    store.log_access({"ts": now - 60, "user": "supervisor", "what": "presence",
                      "polygon": json.dumps(square)})
    users = seed.write_users(tmp_path / "users.yaml", ("boss", "admin", None),
                             ("pc.khan", "crew", UNIT))
    settings = Settings(redis_url=redis_url, users=users, hotspots=seed.HOTSPOTS,  # type: ignore[arg-type]
                        units=seed.UNITS, tile_url=NO_TILES, archive=str(tmp_path / "a"))
    app = create_app(settings, store, seed.roster(), seed.hotspot_set())
    dash_duo.start_server(app, navigate=False, port=free_port())
    base = dash_duo.server.url.rstrip("/")
    driver = dash_duo.driver
    driver.set_window_size(1366, 768)

    driver.get(f"{base}/login")
    dash_duo.wait_for_element("#sign-in", timeout=10)
    sign_in(dash_duo, base, "boss")
    dash_duo.wait_for_element(".leaflet-container", timeout=20)
    dash_duo.wait_for_element(f"#{ids.ADMIN_LINK}", timeout=10)  # callbacks answered
    wait_until(lambda: driver.execute_script("return !!window.dash_clientside"), 10,
               what="the clientside callbacks loaded")

    driver.get(f"{base}/replay")
    dash_duo.wait_for_element(f"#{ids.REPLAY_PLAY}", timeout=30)
    clock = dash_duo.find_element(f"#{ids.REPLAY_AT}")
    wait_until(lambda: bool(clock.text.strip()), 30, what="the replay clock drawn")

    driver.get(f"{base}/admin")
    dash_duo.wait_for_contains_text(f"#{ids.ADMIN_REJECTIONS}", "invalid_json", timeout=20)
    dash_duo.wait_for_contains_text(f"#{ids.ADMIN_ACCESS}", "drawn area ≈", timeout=20)
    assert "coordinates" not in dash_duo.find_element(f"#{ids.ADMIN_ACCESS}").text
    # Words are never broken in the middle ("supervi sor", "invalid_jso n") at 1366.
    assert lines_of(dash_duo, "supervisor") == 1
    assert lines_of(dash_duo, "invalid_json") == 1
    rejections = dash_duo.find_element(f"#{ids.ADMIN_REJECTIONS}").location["y"]
    assert rejections < 768, "the rejections are on the first screen, not below the log"

    sign_out(dash_duo, base)  # the GET page's button POSTs /logout
    sign_in(dash_duo, base, "pc.khan")
    wait_until(lambda: driver.current_url.rstrip("/").endswith("/crew"), 10, what="/crew")
    dash_duo.wait_for_element(f"#{ids.CREW_UNIT}", timeout=15)
    driver.get(f"{base}/logout")
    dash_duo.wait_for_element("#sign-out", timeout=10)
    assert csp_violations(dash_duo) == []


def test_a_hostile_basemap_attribution_is_shown_as_text_and_runs_nothing(
        dash_duo: DashComposite, redis_url: str, tmp_path: Path) -> None:
    path = write_mbtiles(tmp_path / "hostile.mbtiles", tiles_around(*CENTRE, ZOOM, r=1))
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("UPDATE metadata SET value=? WHERE name='attribution'", (HOSTILE,))
    db.commit()
    db.close()
    settings = Settings(redis_url=redis_url, hotspots=seed.HOTSPOTS,  # type: ignore[arg-type]
                        units=seed.UNITS, map_zoom=ZOOM, map_center_lat=CENTRE[0],
                        map_center_lon=CENTRE[1], open_access=True, basemap=path)
    store = Store.from_url(redis_url)
    store.write_coverage(seed.coverage_snapshot(seed.hotspot_set(), time.time(), []))
    app = create_app(settings, store, seed.roster(), seed.hotspot_set())
    dash_duo.start_server(app, port=free_port())
    attribution = dash_duo.wait_for_element(".leaflet-control-attribution", timeout=15)
    wait_until(lambda: "Evil tiles" in attribution.text, 10, what="the attribution shown")
    assert "© Example" in attribution.text  # the words of the markup, as text
    seen: dict[str, Any] = dash_duo.driver.execute_script(
        "return {pwned: window.__pwned === 1, title: document.title,"
        " imgs: document.querySelectorAll('.leaflet-control-attribution img').length,"
        " links: document.querySelectorAll('.leaflet-control-attribution a[href*=\"tiles."
        "example\"]').length};")
    assert seen == {"pwned": False, "title": "PatrolWatch", "imgs": 0, "links": 0}, seen
    assert csp_violations(dash_duo) == []
