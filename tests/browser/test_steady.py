"""A steady gap list: unchanged data changes nothing on screen, and a click lands where aimed.

An evaluator-like thread rewrites the coverage snapshot several times a second, as the real
one does: a new ``evaluated_at``, overdue minutes growing, suggested units a few metres
and seconds nearer. None of that changes what the list shows, so the page must not change.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from dash.testing.composite import DashComposite
from selenium.webdriver.common.action_chains import ActionChains

from dashboard import ids
from patrolwatch.store import Store
from tests.browser import fleet as seed
from tests.browser.test_control_room import settings_for, start
from tests.services import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HELD = getattr(ids, "GAP_HELD", "gap-held")  # the "list paused" note
GAPS = ["nte-soho-old-compton-st", "transport-victoria", "school-homerton"]

# Count DOM changes inside the gap list, except the relative times the browser itself
# writes once a second into span.pw-ago ("for 2 h 10 min"): those are not re-renders.
OBSERVE = """
window.__gapChanges = 0;
const list = document.getElementById(arguments[0]);
window.__gapObserver = new MutationObserver(function (records) {
  for (const r of records) {
    const node = r.target.nodeType === 1 ? r.target : r.target.parentElement;
    if (node && node.closest && node.closest("span.pw-ago")) { continue; }
    window.__gapChanges += 1;
    window.__gapLog = (window.__gapLog || []).concat([r.type + " " + (r.attributeName || "") +
      " " + (node ? node.outerHTML.slice(0, 160) : "")]);
  }
});
window.__gapObserver.observe(list, {childList: true, subtree: true, characterData: true,
                                    attributes: true});
return true;
"""


@contextmanager
def evaluator(store: Store, make: Callable[[float, int], dict[str, Any]]) -> Iterator[None]:
    """Rewrite the coverage snapshot every 0.25 s (as the evaluator does) until the block ends."""
    stop = threading.Event()

    def run() -> None:
        n = 0
        while not stop.is_set():
            store.write_coverage(make(time.time(), n))
            n += 1
            stop.wait(0.25)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def jittered(base: dict[str, Any], now: float, n: int) -> dict[str, Any]:
    """Return the snapshot re-evaluated at ``now``: same gaps, units a little nearer."""
    snap = copy.deepcopy(base)
    snap["evaluated_at"] = now
    for gap in snap["gaps"]:
        gap["overdue_minutes"] = (now - gap["since"]) / 60
        for s in gap["suggested_units"]:
            s["distance_m"] -= (n % 7) * 1.5  # metres nearer: the same to the nearest 100 m
            s["eta_s"] -= n % 7  # seconds sooner: the same in whole minutes
    return snap


def seeded(redis_url: str) -> tuple[Store, seed.Fleet, dict[str, Any]]:
    store = Store.from_url(redis_url)
    hotspots, roster = seed.hotspot_set(), seed.roster()
    now = time.time()
    fleet = seed.fleet(hotspots, list(roster.units)[:40], now, seed=3)
    store.write_batch(fleet.batch, now=now)
    base = seed.coverage_snapshot(hotspots, now, GAPS, suggestions=fleet.unit_ids[10:16])
    for gap in base["gaps"]:  # mid-bucket, so the jitter stays inside it
        for s in gap["suggested_units"]:
            s["distance_m"] = 1000 * round(s["distance_m"] / 1000, 1) + 30
            s["eta_s"] = 60 * (s["eta_s"] // 60) + 40
    store.write_coverage(base)
    return store, fleet, base


def test_gap_list_does_not_change_while_its_data_does_not(
    dash_duo: DashComposite, redis_url: str
) -> None:
    store, _, base = seeded(redis_url)
    start(dash_duo, settings_for(redis_url), store)
    wait_until(lambda: len(dash_duo.find_elements(f"#{ids.GAPS} .pw-gap")) == len(GAPS), 15,
               what="three gaps listed")
    with evaluator(store, lambda now, n: jittered(base, now, n)):
        assert dash_duo.driver.execute_script(OBSERVE, ids.GAPS)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            changes = dash_duo.driver.execute_script("return window.__gapChanges;")
            assert changes == 0, (f"the gap list changed {changes} times with nothing new in it: "
                                  + str(dash_duo.driver.execute_script("return window.__gapLog;")))
            time.sleep(0.2)  # polling the page while the 10 s window runs
    names = [e.text for e in dash_duo.find_elements(f"#{ids.GAPS} .pw-gap-name")]
    assert len(names) == len(GAPS)


def test_click_on_task_lands_while_the_list_updates(
    dash_duo: DashComposite, redis_url: str
) -> None:
    store, fleet, _ = seeded(redis_url)
    hotspots = seed.hotspot_set()
    start(dash_duo, settings_for(redis_url), store)
    wait_until(lambda: len(dash_duo.find_elements(f"#{ids.GAPS} .pw-gap")) == len(GAPS), 15,
               what="three gaps listed")
    # The second gap's first Task button: the supervisor aims at it.
    aimed_gap = dash_duo.find_elements(f"#{ids.GAPS} .pw-gap")[1]
    aimed_name = aimed_gap.find_element("css selector", ".pw-gap-name").text
    buttons = dash_duo.find_elements(f"#{ids.GAPS} .pw-task")
    aimed = buttons[2]  # two suggestions per gap: the second gap's first unit
    aimed_title = aimed.get_attribute("title")
    ActionChains(dash_duo.driver).move_to_element(aimed).pause(0.3).perform()

    # Meanwhile a new, more urgent gap opens: it sorts above the one being read.
    urgent = next(h for h in hotspots.hotspots if h.priority == 1 and h.id not in GAPS)
    grown = seed.coverage_snapshot(hotspots, time.time(), [*GAPS, urgent.id],
                                   suggestions=fleet.unit_ids[10:18])
    for gap in grown["gaps"]:
        if gap["hotspot"] == urgent.id:
            gap["since"] -= 3600  # the most overdue of all
    with evaluator(store, lambda now, n: jittered(grown, now, n)):
        wait_until(lambda: urgent.name in dash_duo.find_element(f"#{ids.GAPS}").text
                   or "pw-invisible" not in str(dash_duo.find_element(f"#{HELD}")
                                             .get_attribute("class")),
                   15, what="the new gap reaches the page")
        ActionChains(dash_duo.driver).click().perform()  # where the pointer is now
        dash_duo.wait_for_element(f"#{ids.TASK_DIALOG}:not(.pw-hidden)", timeout=10)
        summary = dash_duo.find_element(f"#{ids.TASK_SUMMARY}").text
    callsign = str(aimed_title).removeprefix("Send ").removesuffix(" here")
    assert callsign in summary and aimed_name in summary, (
        f"aimed at {aimed_title} for {aimed_name}, the dialog says: {summary}")
    # Once the pointer leaves, the list catches up with the new gap.
    ActionChains(dash_duo.driver).move_by_offset(-600, 0).perform()
    dash_duo.find_element(f"#{ids.TASK_CANCEL}").click()
    dash_duo.wait_for_contains_text(f"#{ids.GAPS}", urgent.name, timeout=15)
