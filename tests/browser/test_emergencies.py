"""Two emergencies side by side: each its own alarm, its own acknowledgement, its own label."""

from __future__ import annotations

import time
from typing import Any

import pytest
from dash.testing.composite import DashComposite

from dashboard import ids
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.store import Batch
from tests.browser import fleet as seed
from tests.browser.test_control_room import settings_for, start
from tests.services import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

GAP = "nte-soho-old-compton-st"

# Every permanent label on the map (EMERGENCY and GAP) and the pairs that overlap.
LABELS = """
const els = Array.from(document.querySelectorAll(
  ".leaflet-tooltip.pw-alarm-label, .leaflet-tooltip.pw-gap-label"));
const boxes = els.map(e => ({text: e.textContent, r: e.getBoundingClientRect()}));
const hits = [];
for (let i = 0; i < boxes.length; i++) {
  for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i].r, b = boxes[j].r;
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) {
      hits.push([boxes[i].text, boxes[j].text]);
    }
  }
}
return {labels: boxes.map(b => b.text), overlaps: hits};
"""


def cards(dash_duo: DashComposite) -> list[dict[str, Any]]:
    """Return each alarm card's text and whether it holds an Acknowledge button."""
    out = []
    for card in dash_duo.find_elements(f"#{ids.EMERGENCY} .pw-alarm"):
        out.append({"text": card.text, "alarm": card.get_attribute("data-alarm"),
                    "button": bool(card.find_elements("css selector", ".pw-ack"))})
    return out


def test_two_emergencies_each_its_own_alarm_label_and_acknowledgement(
    dash_duo: DashComposite, redis_url: str
) -> None:
    from patrolwatch.store import Store

    store = Store.from_url(redis_url)
    hotspots, roster = seed.hotspot_set(), seed.roster()
    now = time.time()
    units = list(roster.units)[:20]
    seeded = seed.fleet(hotspots, units, now, seed=5)
    store.write_batch(seeded.batch, now=now)
    # Two officers press the button a few metres apart, beside a hotspot in gap.
    lat, lon = hotspots.by_id[GAP].centroid
    first, second = units[2], units[3]
    store.write_batch(Batch(
        positions=[Position(first, now, lat + 0.0001, lon + 0.0002),
                   Position(second, now, lat + 0.00012, lon + 0.00025)],
        statuses=[StatusChange(first, now - 40, Status.EMERGENCY),
                  StatusChange(second, now - 20, Status.EMERGENCY)]), now=now)
    store.write_coverage(seed.coverage_snapshot(hotspots, now, [GAP]))
    start(dash_duo, settings_for(redis_url, map_zoom=16, map_center_lat=lat,
                                 map_center_lon=lon), store)
    names = {u: roster.units[u].callsign for u in (seeded.emergency, first, second)}

    # Three emergencies, three cards, three buttons: none hides another.
    wait_until(lambda: len(cards(dash_duo)) == 3, 15, what="three alarm cards")
    shown = cards(dash_duo)
    for card, unit in zip(shown, [seeded.emergency, first, second], strict=True):
        assert names[unit] in card["text"] and card["button"], shown
        assert card["alarm"].startswith(f"{unit}."), "the store's alarm id"
    labels = wait_until(lambda: (m := dash_duo.driver.execute_script(LABELS))
                        and len(m["labels"]) >= 3 and m, 15, what="the map's labels")
    assert sum("EMERGENCY" in t for t in labels["labels"]) == 3
    assert any("GAP" in t for t in labels["labels"])
    wait_until(lambda: dash_duo.driver.execute_script(LABELS)["overlaps"] == [], 10,
               what="no label over another")

    # Acknowledging the second one changes its card only, in its own card.
    button = dash_duo.find_elements(f"#{ids.EMERGENCY} .pw-alarm")[2].find_element(
        "css selector", ".pw-ack")
    button.click()
    wait_until(lambda: any("acknowledged by" in c["text"] for c in cards(dash_duo)), 10,
               what="the acknowledgement on screen")
    after = cards(dash_duo)
    done = [c for c in after if "acknowledged by" in c["text"]]
    assert len(done) == 1 and names[second] in done[0]["text"] and not done[0]["button"]
    assert [c["button"] for c in after] == [True, True, False], "acknowledged ones go last"
    assert "pw-emergency-loud" in str(dash_duo.find_element(f"#{ids.EMERGENCY}")
                                      .get_attribute("class")), "two are still unanswered"
    assert store.emergency_acks()[second]["status_ts"] == pytest.approx(now - 20)
    assert set(store.emergency_acks()) == {second}
    assert dash_duo.driver.execute_script(LABELS)["overlaps"] == []
