"""Alarm cards of every kind on the control room, and the crew's check-in at 360 x 640."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from dash.testing.composite import DashComposite

from dashboard import ids
from dashboard.app import create_app
from patrolwatch.core import alarms as rules
from patrolwatch.core.model import Status, StatusChange
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from tests.browser import fleet as seed
from tests.browser.conftest import sign_in
from tests.services import free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

UNIT = "CW-401"

CARDS = f"""
return Array.from(document.querySelectorAll('#{ids.RULE_ALARMS} .pw-rule-alarm')).map(c => ({{
  kind: c.getAttribute('data-kind'), id: c.getAttribute('data-alarm'), text: c.innerText,
  head: getComputedStyle(c.querySelector('.pw-rule-alarm-head')).backgroundColor,
  button: !!c.querySelector('.pw-ack')}}));
"""

ORDER = f"""
const e = document.getElementById('{ids.EMERGENCY}');
const r = document.getElementById('{ids.RULE_ALARMS}');
return e.compareDocumentPosition(r) & Node.DOCUMENT_POSITION_FOLLOWING;
"""


def test_every_kind_has_its_own_card_under_the_red_emergency_and_is_acknowledged_alone(
        dash_duo: DashComposite, redis_url: str, tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    roster = seed.roster()
    units = list(roster.units)
    now = time.time()
    store.write_batch(Batch(statuses=[StatusChange(units[0], now - 5, Status.EMERGENCY)]),
                      now=now)
    store.raise_alarm(rules.Raise(units[1], rules.STATUS_TOO_LONG, now - 3000,
                                  "AT_SCENE for more than 45 min"), now - 60)
    store.raise_alarm(rules.Raise(units[2], rules.WELFARE, now - 1500,
                                  "no answer to the welfare check-in"), now - 400)
    store.escalate([rules.alarm_id(units[2], rules.WELFARE, now - 1500)], now - 200)
    users = seed.write_users(tmp_path / "users.yaml", ("sgt.jones", "supervisor", None))
    settings = Settings(redis_url=redis_url, hotspots=seed.HOTSPOTS, units=seed.UNITS,  # type: ignore[arg-type]
                        users=users, tile_url="http://127.0.0.1:9/{z}/{x}/{y}.png")
    app = create_app(settings, store, roster, seed.hotspot_set())
    dash_duo.start_server(app, navigate=False, port=free_port())
    sign_in(dash_duo, dash_duo.server.url.rstrip("/"), "sgt.jones")

    def cards() -> list[dict[str, Any]]:
        return dash_duo.driver.execute_script(CARDS)  # type: ignore[no-any-return]

    shown = wait_until(lambda: len(cards()) == 2 and cards(), 20, what="two alarm cards")
    # Escalated welfare first (red header), then the amber status-too-long; each its button.
    assert [c["kind"] for c in shown] == ["welfare", "status_too_long"]
    flashing_red = {"rgb(185, 28, 28)", "rgb(239, 68, 68)"}  # the EMERGENCY's own flash
    assert "ESCALATED" in shown[0]["text"] and shown[0]["head"] in flashing_red
    assert shown[1]["head"] == "rgb(217, 119, 6)" and all(c["button"] for c in shown)
    assert roster.units[units[1]].callsign in shown[1]["text"]
    assert dash_duo.driver.execute_script(ORDER), "EMERGENCY stays above every other kind"
    assert "pw-rule-alarms-escalated" in str(
        dash_duo.find_element(f"#{ids.RULE_ALARMS}").get_attribute("class"))
    wait_until(lambda: dash_duo.find_elements(f"#{ids.EMERGENCY} .pw-alarm"), 10,
               what="the EMERGENCY card")
    assert len(dash_duo.find_elements(f"#{ids.EMERGENCY} .pw-alarm")) == 1, \
        "other kinds are not EMERGENCY cards"

    # Acknowledge the status-too-long card: only it changes.
    dash_duo.find_elements(f"#{ids.RULE_ALARMS} .pw-rule-alarm")[1].find_element(
        "css selector", ".pw-ack").click()
    wait_until(lambda: any("acknowledged by sgt.jones" in c["text"] for c in cards()), 10,
               what="acknowledged on screen")
    after = cards()
    assert [(c["kind"], c["button"]) for c in after] == [("welfare", True),
                                                         ("status_too_long", False)]
    acked = store.alarm(rules.alarm_id(units[1], rules.STATUS_TOO_LONG, now - 3000))
    assert acked is not None and acked["acked_by"] == "sgt.jones"


def test_crew_check_in_at_360x640_ok_answers_it(
        dash_duo: DashComposite, redis_url: str, ingest_worker: Settings,
        tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    users = seed.write_users(tmp_path / "users.yaml", ("pc.khan", "crew", UNIT))
    settings = ingest_worker.model_copy(update={"users": users})
    app = create_app(settings, store, seed.roster(), seed.hotspot_set())
    now = time.time()
    checkin = {"id": rules.checkin_id(UNIT, now - 1500), "unit": UNIT, "ts": now,
               "since": now - 1500, "answer_by": now + 600, "reason": "quiet", "state": "OPEN"}
    assert store.open_checkin(checkin)
    try:
        dash_duo.start_server(app, navigate=False, port=free_port())
        dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 360, "height": 640, "deviceScaleFactor": 2, "mobile": True})
        sign_in(dash_duo, dash_duo.server.url.rstrip("/"), "pc.khan")
        box = f"#{ids.CREW_CHECKIN}"
        wait_until(lambda: "pw-hidden" not in str(
            dash_duo.find_element(box).get_attribute("class")), 15, what="the check-in box")
        assert "Are you OK?" in dash_duo.find_element(box).text
        for button in (ids.CREW_CHECKIN_OK, ids.CREW_CHECKIN_HELP):
            r = dash_duo.driver.execute_script(
                "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
                "return [r.left, r.right, r.top, r.bottom, innerWidth, innerHeight];", button)
            assert r[0] >= 0 and r[1] <= r[4] and r[2] >= 0 and r[3] <= r[5], (button, r)
        dash_duo.find_element(f"#{ids.CREW_CHECKIN_OK}").click()
        wait_until(lambda: (store.checkin(checkin["id"]) or {}).get("state") == "OK", 15,
                   what="the answer through MQTT and the ingest worker")
        wait_until(lambda: "pw-hidden" in str(
            dash_duo.find_element(box).get_attribute("class")), 15, what="the box gone")
    finally:
        app.server.extensions["patrolwatch"].publisher.close()
