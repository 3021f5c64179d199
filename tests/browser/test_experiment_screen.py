"""The demo's experiment on screen: the allocation page with arm badges, the arm line in the
hotspot panel's data, and the crew page's treated places (real browser, real Redis)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dash.testing.composite import DashComposite

from dashboard.app import create_app
from dashboard.coverage import view as coverage_view
from patrolwatch.experiments.design import load_experiment
from patrolwatch.experiments.service import day_allocation, local_day
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from tests.browser import fleet as seed
from tests.browser.conftest import sign_in, sign_out
from tests.services import free_port

pytestmark = [pytest.mark.browser, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]
TRIAL = ROOT / "config/experiment.demo.yaml"
NO_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"


def test_the_demo_trial_is_on_the_allocation_page_and_the_crew_page(
        dash_duo: DashComposite, redis_url: str, tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    hotspots, roster = seed.hotspot_set(), seed.roster()
    users = seed.write_users(tmp_path / "users.yaml", ("vic", "viewer", None),
                             ("pc.khan", "crew", "CW-401"))
    settings = Settings(redis_url=redis_url, users=users, hotspots=seed.HOTSPOTS,  # type: ignore[arg-type]
                        units=seed.UNITS, tile_url=NO_TILES, experiment=TRIAL)
    exp = load_experiment(TRIAL)
    alloc = day_allocation(exp, local_day(time.time(), settings.zone), store)
    app = create_app(settings, store, roster, hotspots)
    dash_duo.start_server(app, navigate=False, port=free_port())
    base = dash_duo.server.url.rstrip("/")

    sign_in(dash_duo, base, "vic")
    dash_duo.wait_for_contains_text("#experiment-link", f"{len(alloc.treatment)} / ", timeout=15)
    assert exp.name in dash_duo.find_element("#experiment-link").text  # on the control room
    dash_duo.driver.get(f"{base}/experiment")
    dash_duo.wait_for_contains_text("#experiment-page", exp.name, timeout=15)
    page = dash_duo.find_element("#experiment-page").text
    assert page.count("TREATED") == len(alloc.treatment) + 1  # the legend's too
    assert page.count("CONTROL") == len(alloc.control) + 1
    for h in alloc.treatment + alloc.control:
        assert hotspots.by_id[h].name in page
    assert alloc.digest in page
    sign_out(dash_duo, base)

    sign_in(dash_duo, base, "pc.khan")
    dash_duo.wait_for_element("#crew-treated-places", timeout=15)
    listed = dash_duo.find_element("#crew-treated-places").text.splitlines()
    assert listed == [hotspots.by_id[h].name for h in alloc.treatment]

    # The hotspot panel's lines for a control and a treated place (what a click shows).
    entry = {"arm": "control", "experiment": exp.id, "target_minutes": None}
    detail = coverage_view.hotspot_detail(hotspots.by_id[alloc.control[0]], entry, "inactive",
                                          now=time.time(), zone=settings.zone, callsigns={})
    assert ("Experiment", f"{exp.id}: control today: no target, never suggested "
                          "(business as usual)") in detail.lines
