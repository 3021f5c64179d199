"""Alarms as an API and as the store keeps them, on real Redis (issue 18, issue 15 part)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.alarms import actions, components, view
from dashboard.app import create_app
from patrolwatch.core.alarms import Raise
from patrolwatch.core.model import Status, StatusChange
from patrolwatch.store import Batch, Store
from patrolwatch.users import User, hash_password, save_users
from tests.unit.test_taskings_api import PASSWORD, basic, deps_for, dumps, settings_for

pytestmark = pytest.mark.integration
UNIT, OTHER = "TSG-U11A", "TSG-U11B"


@pytest.fixture
def app(redis_url: str, mqtt_url: str, tmp_path: Path) -> Iterator[Any]:
    users = tmp_path / "users.yaml"
    save_users(users, {n: User(n, r, hash_password(PASSWORD, rounds=4), u) for n, r, u in (
        ("sgt.jones", "supervisor", None), ("viewer", "viewer", None),
        ("crew1", "crew", UNIT))})
    settings = settings_for(redis_url, mqtt_url, users)
    deps = deps_for(settings)
    dash_app = create_app(settings, deps.store, deps.roster, deps.hotspots)
    yield dash_app
    dash_app.server.extensions["patrolwatch"].publisher.close()


def test_a_cause_is_raised_once_repeats_fold_and_the_count_is_bounded(redis_url: str) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    first = Raise(UNIT, "status_too_long", now - 3000, "AT_SCENE for more than 45 min")
    assert store.raise_alarm(first, now) == 1
    assert store.raise_alarm(first, now + 1) == 0  # the same cause again: nothing
    # A new cause of the same kind while the first is open folds into it: one card, count 2.
    assert store.raise_alarm(Raise(UNIT, "status_too_long", now - 10, "again"), now + 2) == 2
    assert store.raise_alarm(Raise(UNIT, "status_too_long", now - 10, "again"), now + 3) == 0
    records = store.open_alarm_records()
    assert len(records) == 1 and records[0]["repeats"] == 1
    # Lost contact cleared by the unit, then lost again soon: re-opened, not a new alarm.
    lost = Raise(UNIT, "lost_contact", now - 600, "silent")
    assert store.raise_alarm(lost, now) == 1
    assert store.close_alarm(lost.id, now + 5) is not None
    assert store.raise_alarm(Raise(UNIT, "lost_contact", now - 60, "silent"), now + 60) == 2
    assert {a["kind"] for a in store.open_alarm_records()} == {"status_too_long", "lost_contact"}
    # Acknowledged, a new cause raises a new alarm.
    assert store.acknowledge(first.id, "sgt", now + 70) is not None
    assert store.raise_alarm(Raise(UNIT, "status_too_long", now + 80, "3rd"), now + 90) == 1
    # The emergency banner lists EMERGENCY records only.
    assert store.open_alarms() == []


def test_get_alarms_lists_every_kind_emergency_first_and_ack_is_audited(
        app: Any, redis_url: str) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    store.raise_alarm(Raise(UNIT, "welfare", now - 100, "no answer to the welfare check-in"),
                      now - 50)
    store.write_batch(Batch(statuses=[StatusChange(OTHER, now - 5, Status.EMERGENCY)]), now=now)
    http = app.server.test_client()
    assert http.get("/api/alarms", headers=basic("crew1")).status_code == 403
    got = http.get("/api/alarms", headers=basic("viewer")).get_json()["alarms"]
    assert [a["kind"] for a in got] == ["emergency", "welfare"]
    welfare = got[1]
    assert {"id", "unit", "callsign", "kind", "state", "raised", "count", "detail"} <= set(welfare)
    assert (welfare["callsign"], welfare["state"], welfare["count"]) == ("U11 Alpha", "OPEN", 1)

    url = f"/api/alarms/{welfare['id']}/ack"
    assert http.post(url, headers=basic("viewer")).status_code == 403
    answer = http.post(url, headers=basic("sgt.jones"))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["acknowledged_by"] == "sgt.jones"
    assert http.post(url, headers=basic("sgt.jones")).status_code == 409
    assert http.post("/api/alarms/nope/ack", headers=basic("sgt.jones")).status_code == 404
    again = http.get("/api/alarms", headers=basic("viewer")).get_json()["alarms"]
    assert [(a["kind"], a["state"]) for a in again] == [("emergency", "OPEN"),
                                                        ("welfare", "ACKNOWLEDGED")]
    assert again[1]["acknowledged_at"] is not None
    entry = next(e for e in store.audit_log() if e.get("alarm") == welfare["id"])
    assert (entry["kind"], entry["actor"], entry["alarm_kind"]) == ("alarm_ack", "sgt.jones",
                                                                    "welfare")
    # An EMERGENCY through the same route: its audit says so, the banner keeps who.
    emergency = again[0]
    assert http.post(f"/api/alarms/{emergency['id']}/ack",
                     headers=basic("sgt.jones")).status_code == 200
    assert store.emergency_acks()[OTHER]["by"] == "sgt.jones"


def test_cards_are_amber_escalated_red_and_each_has_its_own_button(redis_url: str) -> None:
    now = time.time()
    records = [
        {"id": "a", "unit": UNIT, "kind": "status_too_long", "ts": now, "arrival": now - 60,
         "detail": "AT_SCENE for more than 45 min"},
        {"id": "b", "unit": OTHER, "kind": "lost_contact", "ts": now, "arrival": now - 300,
         "escalated_at": now - 100, "detail": "no message for 9 min"},
        {"id": "c", "unit": OTHER, "kind": "battery_low", "ts": now, "arrival": now - 30,
         "detail": "battery low (12 %)"},
        {"id": "e", "unit": OTHER, "ts": now, "arrival": now - 30},  # emergency: its own banner
    ]
    shown = view.cards(records, {UNIT: "U11 Alpha"}, now)
    assert [c.alarm_id for c in shown] == ["b", "a", "c"]
    assert view.banner_class(shown).endswith("pw-rule-alarms-escalated")
    assert view.banner_class(shown[1:]).endswith("pw-rule-alarms-new")
    assert view.banner_class(shown[2:]) == "pw-rule-alarms"  # a warning alone is quiet
    from zoneinfo import ZoneInfo

    html = dumps(components.render_cards(shown, ZoneInfo("Europe/London"), can_ack=True))
    assert html.count("\"Acknowledge\"") == 3 and "ESCALATED" in html and "U11 Alpha" in html
    viewer = dumps(components.render_cards(shown, ZoneInfo("Europe/London"), can_ack=False))
    assert "Acknowledge" not in viewer and "not acknowledged" in viewer
    assert actions.ALARM_ID_MAX >= 100


def test_the_operation_report_lists_every_alarm_with_time_to_acknowledge(
        app: Any, redis_url: str) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    found = Raise(UNIT, "status_too_long", now - 3000, "AT_SCENE for more than 45 min")
    store.raise_alarm(found, now - 600)
    store.acknowledge(found.id, "sgt.jones", now - 450)  # 2.5 minutes later
    http = app.server.test_client()
    answer = http.get("/api/reports/operation?format=csv&table=alarms", headers=basic("sgt.jones"))
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    text = answer.get_data(as_text=True)
    assert "alarm_kind,unit,callsign,raised,detail,count,state,escalated,minutes_to_ack" in text
    line = next(x for x in text.splitlines() if x.startswith("status_too_long,"))
    assert "U11 Alpha" in line and ",ACKNOWLEDGED,,2.5,sgt.jones" in line
    page = http.get("/api/reports/operation?format=html", headers=basic("sgt.jones"))
    assert "Alarms (every kind)" in page.get_data(as_text=True)


def test_cleared_alarms_and_answered_check_ins_are_forgotten_after_retention(
        redis_url: str) -> None:
    store = Store.from_url(redis_url, audit_retention_s=3600.0)
    now = time.time()
    lost = Raise(UNIT, "lost_contact", now - 9000, "silent")
    store.raise_alarm(lost, now - 8000)
    store.close_alarm(lost.id, now - 7200)
    kept = Raise(OTHER, "lost_contact", now - 600, "silent")
    store.raise_alarm(kept, now - 500)
    store.close_alarm(kept.id, now - 60)
    store.forget_closed_alarms(now)
    assert store.alarm(lost.id) is None and store.alarm(kept.id) is not None
