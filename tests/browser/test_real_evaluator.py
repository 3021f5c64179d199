"""The control room fed by the real coverage evaluator, not a hand-built snapshot.

Positions go into Redis through ``Store.write_batch`` (the ingest worker's write, change feed
included); a ``CoverageEvaluator`` thread turns them into the snapshot the page reads. A change
in the snapshot's shape that the page does not follow breaks this test.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dash.testing.composite import DashComposite

from dashboard import ids
from dashboard.app import create_app
from dashboard.palette import HOTSPOT_LOOK
from ingest.evaluator import CoverageEvaluator
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet, load_hotspots
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from tests.browser import fleet as seed
from tests.browser.test_control_room import (
    CLICK_PIN,
    NO_TILES,
    read_map,
    severe_errors,
    text,
)
from tests.services import free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PRESENT = ("rt-present", 51.5136, -0.1318)
COVERED = ("rt-covered", 51.5308, -0.1238)
GAP = ("rt-gap", 51.5031, -0.1132)


def _hotspot(hid: str, lat: float, lon: float, **target: float) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"id": hid, "name": f"Spot {hid[3:]}", "category": "other",
                           "priority": 1, "radius_m": 100, "target": target}}


def _north(lat: float, metres: float) -> float:
    return lat + metres / 111_320.0


def fleet(roster_ids: list[str], now: float) -> tuple[Batch, dict[str, str]]:
    """Return positions that make one hotspot present, one covered, one a gap."""
    at_present, visitor, near_gap, watcher = roster_ids[:4]
    batch = Batch()
    for unit in roster_ids[:4]:
        batch.statuses.append(StatusChange(unit, now - 3600, Status.ON_PATROL))
    # The watcher has reported every minute for 25 minutes: observed time, far from all three.
    for k in range(26):
        batch.positions.append(Position(watcher, now - 1500 + 60 * k, 51.56, -0.05, acc=8.0))
    # A 10-minute visit to COVERED that ended 6 minutes ago, then the unit moved on.
    _, clat, clon = COVERED
    for k in range(21):
        batch.positions.append(Position(visitor, now - 960 + 30 * k, clat, clon, acc=8.0))
    batch.positions.append(Position(visitor, now - 300, _north(clat, 800), clon, acc=8.0))
    batch.positions.append(Position(visitor, now - 5, _north(clat, 800), clon, acc=8.0))
    _, plat, plon = PRESENT
    batch.positions.append(Position(at_present, now - 5, plat, plon, acc=8.0))
    _, glat, glon = GAP
    batch.positions.append(Position(near_gap, now - 5, _north(glat, 300), glon, acc=8.0))
    return batch, {"present": at_present, "visitor": visitor, "near_gap": near_gap}


@pytest.fixture
def hotspots_file(tmp_path: Path) -> Path:
    """Three always-active hotspots; the gap's 5-minute target is long overdue."""
    path = tmp_path / "hotspots.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        _hotspot(*PRESENT, max_gap_minutes=120, min_visit_minutes=5),
        _hotspot(*COVERED, max_gap_minutes=120, min_visit_minutes=5),
        _hotspot(*GAP, max_gap_minutes=5, min_visit_minutes=5),
    ]}))
    return path


@pytest.fixture
def evaluated(redis_url: str, hotspots_file: Path) -> Iterator[tuple[Settings, HotspotSet,
                                                                    dict[str, str]]]:
    """Seed the fleet and run the real evaluator on a thread until the test ends."""
    settings = Settings(redis_url=redis_url, open_access=True,
                        hotspots=hotspots_file,  # type: ignore[arg-type]
                        units=seed.UNITS, tile_url=NO_TILES, evaluate_every_s=0.5,
                        map_center_lat=51.515, map_center_lon=-0.12, map_zoom=13)
    hotspots = load_hotspots(hotspots_file, CoverageDefaults.from_settings(settings),
                             settings.zone)
    store = Store.from_url(redis_url)
    batch, who = fleet(list(seed.roster().units), time.time())
    store.write_batch(batch)
    evaluator = CoverageEvaluator(settings, store, hotspots, seed.roster())
    stop = threading.Event()
    thread = threading.Thread(target=evaluator.run, args=(stop,), daemon=True)
    thread.start()
    wait_until(lambda: store.coverage() is not None, 20, what="the evaluator's first snapshot")
    yield settings, hotspots, who
    stop.set()
    thread.join(15)


def test_the_page_shows_what_the_evaluator_computed(
        dash_duo: DashComposite, redis_url: str,
        evaluated: tuple[Settings, HotspotSet, dict[str, str]]) -> None:
    settings, hotspots, who = evaluated
    store = Store.from_url(redis_url)
    snapshot = store.coverage()
    assert snapshot is not None
    # What the evaluator says, which the page must show.
    states = {hid: h["state"] for hid, h in snapshot["hotspots"].items()}
    assert states == {PRESENT[0]: "present", COVERED[0]: "covered", GAP[0]: "gap"}, states
    roster = seed.roster()
    callsign = roster.units[who["near_gap"]].callsign

    app = create_app(settings, store, roster, hotspots)
    dash_duo.start_server(app, port=free_port())
    dash_duo.wait_for_element(".leaflet-container", timeout=15)

    # Hotspot pins coloured by the evaluator's states. The layout draws the three pins "no
    # data" before the page's first refresh brings the picture: wait for the colours, not
    # for the pins alone (that read raced the first refresh, and lost under load).
    expected = {hid: HOTSPOT_LOOK[state].colour for hid, state in states.items()}
    seen: dict[str, Any] = {}

    def coloured() -> bool:
        seen["pins"] = (read_map(dash_duo) or {}).get("pins")
        return bool(seen["pins"] == expected)

    with contextlib.suppress(TimeoutError):
        wait_until(coloured, 20, what="the evaluator's colours on the hotspot pins")
    assert seen["pins"] == expected, seen["pins"]
    dash_duo.wait_for_text_to_equal("#pw-count-gaps .pw-big", "1", timeout=15)

    # The gap is listed with how long it has had no presence and the nearest free unit.
    dash_duo.wait_for_contains_text(f"#{ids.GAPS}", "Spot gap", timeout=15)
    assert len(dash_duo.find_elements(f"#{ids.GAPS} .pw-gap")) == 1
    gap_text = text(dash_duo, f"#{ids.GAPS}")
    assert "no presence since" in gap_text and "overdue" in gap_text, gap_text
    assert callsign in gap_text, gap_text

    # The covered hotspot's panel shows the visit the evaluator found.
    assert dash_duo.driver.execute_script(CLICK_PIN, COVERED[0])
    dash_duo.wait_for_contains_text(f"#{ids.HOTSPOT_PANEL}", "Spot covered", timeout=10)
    dash_duo.wait_for_contains_text(f"#{ids.HOTSPOT_PANEL}", "Last qualifying visit",
                                    timeout=10)

    # Dosage rows come from the evaluator too: every hotspot, one qualifying visit in all.
    dash_duo.find_element(f"#{ids.TABS} .tab:nth-child(4)").click()
    for name in ("Spot present", "Spot covered", "Spot gap"):
        dash_duo.wait_for_contains_text(f"#{ids.DOSAGE_TABLE}", name, timeout=10)
    rows = {r["hotspot"]: r for r in snapshot["dosage"]}
    assert rows[COVERED[0]]["qualifying_visits"] == 1, rows
    assert severe_errors(dash_duo) == []
