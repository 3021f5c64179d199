"""Taskings end to end on real Redis and a real broker: the API, the supervisor's and crew's
handlers, and the pure views behind the taskings, audit and emergency panels."""

from __future__ import annotations

import base64
import json
import queue
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from plotly.io.json import to_json_plotly

from dashboard import ids
from dashboard.api import BadRequestError, read_json_object
from dashboard.app import create_app
from dashboard.control_room import components as control_room_components
from dashboard.control_room import view as control_room_view
from dashboard.coverage import components as coverage_components
from dashboard.coverage import view as coverage_view
from dashboard.crew import actions as crew_actions
from dashboard.crew import view as crew_view
from dashboard.deps import Deps
from dashboard.picture.build import FLAG_ACKED
from dashboard.publisher import BrokerUnavailableError, Publisher
from dashboard.redeploy import actions as redeploy_actions
from dashboard.redeploy import view as redeploy_view
from patrolwatch.core.coverage import Gap
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.core.model import Position, Status, StatusChange, UnitState
from patrolwatch.core.suggest import Suggestion
from patrolwatch.mqtt import Inbound, MqttClient
from patrolwatch.roster import load_roster
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from patrolwatch.users import User, hash_password, save_users
from tests.services import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
LONDON = ZoneInfo("Europe/London")
PASSWORD = "correct horse battery"
SOHO = "nte-soho-old-compton-st"
UNIT = "CW-401"
NOW = 1_795_000_000.0


def dumps(component: Any) -> str:
    """Serialise Dash components as Dash sends them, with non-ASCII text kept readable."""
    return json.dumps(json.loads(to_json_plotly(component)), ensure_ascii=False)


def settings_for(redis_url: str, mqtt_url: str, users: Path) -> Settings:
    return Settings(redis_url=redis_url, mqtt_url=mqtt_url, users=users,  # type: ignore[arg-type]
                    hotspots=ROOT / "config/hotspots.geojson", units=ROOT / "config/units.yaml",
                    open_access=True)  # tests without a users file opt in to open access


def deps_for(settings: Settings) -> Deps:
    return Deps(settings=settings, store=Store.from_url(settings.redis_url),
                roster=load_roster(settings.units),
                hotspots=load_hotspots(settings.hotspots, CoverageDefaults(), settings.zone))


def basic(name: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()}


class Listener:
    """A subscriber on the test broker that keeps what it receives."""

    def __init__(self, url: str, *filters: str) -> None:
        self.inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        self.seen: list[Inbound] = []
        self.client = MqttClient(url, f"test-listen-{uuid.uuid4().hex[:8]}",
                                 subscriptions=[(f, 1) for f in filters],
                                 on_message=self.inbox.put)
        assert self.client.start(wait_s=10), "listener could not connect"

    def on(self, topic: str) -> list[dict[str, Any]]:
        while not self.inbox.empty():
            self.seen.append(self.inbox.get())
        return [json.loads(m.payload) for m in self.seen if m.topic == topic]


@pytest.fixture
def listener(mqtt_url: str) -> Iterator[Listener]:
    got = Listener(mqtt_url, "patrol/#")
    # Subscribed once our own marker comes back: nothing published later can be missed.
    marker = f"patrol/marker-{uuid.uuid4().hex[:6]}/tasking"
    wait_until(lambda: got.client.publish(marker, "{}") is not None and got.on(marker), 10,
               interval=0.2, what="listener subscribed")
    yield got
    got.client.stop()


@pytest.fixture
def app(redis_url: str, mqtt_url: str, tmp_path: Path) -> Iterator[Any]:
    users = tmp_path / "users.yaml"
    save_users(users, {n: User(n, r, hash_password(PASSWORD, rounds=4), u) for n, r, u in (
        ("sgt.jones", "supervisor", None), ("viewer", "viewer", None),
        ("root", "admin", None), ("crew1", "crew", UNIT))})
    settings = settings_for(redis_url, mqtt_url, users)
    deps = deps_for(settings)
    dash_app = create_app(settings, deps.store, deps.roster, deps.hotspots)
    yield dash_app
    dash_app.server.extensions["patrolwatch"].publisher.close()


def post(http: FlaskClient, body: Any, user: str = "sgt.jones", **kwargs: Any) -> Any:
    if "data" in kwargs:
        return http.post("/api/taskings", headers=basic(user), **kwargs)
    return http.post("/api/taskings", headers=basic(user), json=body)


# --- POST and GET /api/taskings ----------------------------------------------------------------
@pytest.mark.integration
def test_a_supervisor_tasks_a_unit_it_is_published_recorded_and_listed(
        app: Any, listener: Listener, redis_url: str) -> None:
    http = app.server.test_client()
    before = time.time()
    response = post(http, {"unit": UNIT, "hotspot": SOHO, "note": "disorder outside No. 12"})
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert (made["unit"], made["hotspot"], made["state"], made["by"]) == (
        UNIT, SOHO, "SENT", "sgt.jones")

    got = wait_until(lambda: listener.on(f"patrol/{UNIT}/tasking"), 10, what="tasking on MQTT")
    message = got[0]
    assert set(message) == {"id", "ts", "kind", "hotspot", "name", "lat", "lon", "note", "by"}
    assert message["id"] == made["id"] and message["kind"] == "REDEPLOY"
    assert (message["hotspot"], message["name"]) == (SOHO, "Old Compton Street, Soho")
    assert message["by"] == "sgt.jones" and message["note"] == "disorder outside No. 12"
    assert before <= message["ts"] <= time.time()
    assert 51.51 < message["lat"] < 51.52 and -0.14 < message["lon"] < -0.12

    stored = Store.from_url(redis_url).tasking(made["id"])
    assert stored is not None and stored["by"] == "sgt.jones" and stored["state"] == "SENT"
    listed = http.get("/api/taskings", headers=basic("viewer")).get_json()["taskings"]
    assert [t["id"] for t in listed] == [made["id"]]
    assert {"id", "unit", "hotspot", "state", "created", "by"} <= set(listed[0])
    assert listed[0]["created"].endswith("Z")
    audit = Store.from_url(redis_url).audit_log()
    assert audit[0]["kind"] == "tasking" and audit[0]["actor"] == "sgt.jones"


@pytest.mark.integration
def test_an_admin_may_task_and_a_second_identical_tasking_is_a_conflict(
        app: Any, listener: Listener) -> None:
    http = app.server.test_client()
    first = post(http, {"unit": UNIT, "hotspot": SOHO}, user="root")
    assert first.status_code == 201 and first.get_json()["by"] == "root"
    again = post(http, {"unit": UNIT, "hotspot": SOHO})
    assert again.status_code == 409
    assert f"already holds open tasking {first.get_json()['id']}" in again.get_json()["error"]
    wait_until(lambda: listener.on(f"patrol/{UNIT}/tasking"), 10, what="first tasking")
    assert len(listener.on(f"patrol/{UNIT}/tasking")) == 1


@pytest.mark.integration
@pytest.mark.parametrize(("body", "status", "says"), [
    ({"unit": "NOBODY-9", "hotspot": SOHO}, 400, "unknown unit 'NOBODY-9'"),
    ({"unit": UNIT, "hotspot": "atlantis"}, 400, "unknown hotspot 'atlantis'"),
    ({"unit": 401, "hotspot": SOHO}, 400, "`unit` must be a unit id"),
    ({"unit": "bad id!", "hotspot": SOHO}, 400, "`unit` must be a unit id"),
    ({"unit": UNIT, "hotspot": ["x"]}, 400, "`hotspot` must be a hotspot id"),
    ({"unit": UNIT}, 400, "`hotspot` must be a hotspot id"),
    ({"unit": UNIT, "hotspot": SOHO, "note": 7}, 400, "`note` must be text"),
    ({"unit": UNIT, "hotspot": SOHO, "note": "x" * 201}, 400, "at most 200"),
    ({"unit": UNIT, "hotspot": SOHO, "priority": 1}, 400, "unknown field(s) 'priority'"),
    ([UNIT, SOHO], 400, "must be a JSON object"),
    ("tasking", 400, "must be a JSON object"),
])
def test_bad_tasking_bodies_are_clear_4xx(app: Any, redis_url: str, body: Any, status: int,
                                          says: str) -> None:
    response = post(app.server.test_client(), body)
    assert response.status_code == status
    assert says in response.get_json()["error"]
    assert Store.from_url(redis_url).taskings() == []


@pytest.mark.integration
@pytest.mark.parametrize(("data", "content_type", "status", "says"), [
    ('{"unit": "CW-401", "hotspot":', "application/json", 400, "not valid JSON"),
    (b"\xff\xfe{}", "application/json", 400, "not valid JSON"),
    ('{"unit": "CW-401", "hotspot": "x"}', "text/plain", 415, "Content-Type: application/json"),
    ('{"unit": "CW-401", "hotspot": "x"}', None, 415, "Content-Type: application/json"),
    ('{"note": "' + "x" * 5000 + '"}', "application/json", 413, "at most 4096"),
])
def test_malformed_and_oversize_bodies_are_json_4xx(app: Any, data: Any, content_type: str | None,
                                                    status: int, says: str) -> None:
    http = app.server.test_client()
    response = post(http, None, data=data, content_type=content_type)
    assert response.status_code == status
    assert says in response.get_json()["error"]


@pytest.mark.parametrize(("length", "body", "status"), [
    (None, b'{"unit": "A", "hotspot": "b"}', None),
    (None, b"{" + b" " * 5000 + b"}", 413),  # chunked: no Content-Length, still bounded
    (10, b"{}", None),
])
def test_read_json_object_reads_at_most_the_limit(length: int | None, body: bytes,
                                                  status: int | None) -> None:
    reads: list[int] = []

    def read(n: int) -> bytes:
        reads.append(n)
        return body[:n]

    if status is None:
        assert isinstance(read_json_object("application/json", length, read, 4096), dict)
    else:
        with pytest.raises(BadRequestError) as err:
            read_json_object("application/json", length, read, 4096)
        assert err.value.status == status
    assert reads == [4097]


@pytest.mark.integration
def test_wrong_method_on_the_api_is_json(app: Any) -> None:
    response = app.server.test_client().delete("/api/taskings", headers=basic("sgt.jones"))
    assert response.status_code == 405
    assert "DELETE is not allowed" in response.get_json()["error"]


@pytest.mark.integration
def test_broker_down_is_503_and_nothing_is_recorded(redis_url: str, tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    save_users(users, {"sgt": User("sgt", "supervisor", hash_password(PASSWORD, rounds=4))})
    settings = settings_for(redis_url, f"mqtt://127.0.0.1:{free_port()}", users)
    deps = deps_for(settings)
    publisher = Publisher(settings.mqtt_url, connect_timeout_s=0.5)
    dash_app = create_app(settings, deps.store, deps.roster, deps.hotspots, publisher)
    try:
        response = post(dash_app.server.test_client(), {"unit": UNIT, "hotspot": SOHO}, "sgt")
        assert response.status_code == 503
        assert "cannot reach the MQTT broker" in response.get_json()["error"]
        assert "nothing was sent" in response.get_json()["error"]
        assert deps.store.taskings() == [] and deps.store.audit_log() == []
    finally:
        publisher.close()


# --- the supervisor's handlers --------------------------------------------------------------------
def seed_units(store: Store, now: float) -> None:
    """Three units near Soho and Leicester Square, one of them in EMERGENCY."""
    store.write_batch(Batch(
        positions=[Position("CW-401", now - 5, 51.5138, -0.1320),
                   Position("CW-402", now - 5, 51.5105, -0.1300),
                   Position("CW-403", now - 5, 51.5300, -0.1000)],
        statuses=[StatusChange("CW-401", now - 60, Status.AVAILABLE),
                  StatusChange("CW-402", now - 60, Status.ON_PATROL),
                  StatusChange("CW-403", now - 30, Status.EMERGENCY)]), now=now)


def snapshot_with_gaps(deps: Deps, now: float, *hotspots: str) -> dict[str, Any]:
    gaps = []
    for i, hid in enumerate(hotspots):
        h = deps.hotspots.by_id[hid]
        gaps.append({"hotspot": hid, "name": h.name, "kind": "presence_gap",
                     "since": now - 600, "priority": h.priority, "overdue_minutes": 10.0 - i,
                     "lat": h.centroid[0], "lon": h.centroid[1], "suggested_units": []})
    return {"evaluated_at": now, "feed_fresh": True, "hotspots": {}, "gaps": gaps}


@pytest.fixture
def deps(redis_url: str, mqtt_url: str, tmp_path: Path) -> Iterator[Deps]:
    made = deps_for(settings_for(redis_url, mqtt_url, tmp_path / "no-users.yaml"))
    yield made
    made.publisher.close()


@pytest.mark.integration
def test_optimise_all_gaps_plans_one_unit_per_gap_and_sends_on_confirm(
        deps: Deps, listener: Listener) -> None:
    now = time.time()
    seed_units(deps.store, now)
    deps.store.write_coverage(snapshot_with_gaps(deps, now, SOHO, "nte-leicester-square"))
    shown, table, plan, send = redeploy_actions.plan_dialog(deps, ids.OPTIMISE, now)
    assert shown == redeploy_actions.SHOW and "pw-hidden" not in send
    text = dumps(table)
    assert "CW401" in text and "CW402" in text and "CW403" not in text, "EMERGENCY never goes"
    assert sorted(p["unit"] for p in plan) == ["CW-401", "CW-402"]
    assert {p["hotspot"] for p in plan} == {SOHO, "nte-leicester-square"}

    hidden, _, toast = redeploy_actions.confirm_plan(deps, plan, "sgt.jones", time.time())
    assert hidden == redeploy_actions.HIDE and "Sent 2 taskings" in dumps(toast)
    wait_until(lambda: len(listener.on("patrol/CW-401/tasking"))
               + len(listener.on("patrol/CW-402/tasking")) == 2, 10, what="both taskings")
    assert {t["by"] for t in deps.store.taskings()} == {"sgt.jones"}

    # Until the evaluator's next pass, the gap list names who is tasked and offers them no more.
    snapshot = snapshot_with_gaps(deps, time.time(), SOHO)
    snapshot["gaps"][0]["suggested_units"] = [{"id": "CW-401", "distance_m": 30, "eta_s": 20}]
    deps.store.write_coverage(snapshot)
    gaps = dumps(supervise_refresh(deps, time.time())["gaps"])
    assert "Tasked: CW40" in gaps and '"unit": "CW-401"' not in gaps

    # A second plan leaves the tasked gaps alone and says so.
    _, again, pairs, send = redeploy_actions.plan_dialog(deps, ids.OPTIMISE, time.time())
    assert pairs is None and "pw-hidden" in send, "nothing to send: no Send all button"
    assert "Old Compton Street, Soho: already has CW401 sent" in dumps(again)


@pytest.mark.integration
def test_no_plan_from_an_old_coverage_snapshot(deps: Deps) -> None:
    now = time.time()
    deps.store.write_coverage({**snapshot_with_gaps(deps, now, SOHO), "evaluated_at": now - 3600})
    _, table, plan, _ = redeploy_actions.plan_dialog(deps, ids.OPTIMISE, now)
    assert plan is None and "not been evaluated recently" in dumps(table)


@pytest.mark.integration
def test_task_dialog_names_the_unit_and_eta_then_sends_with_the_note(
        deps: Deps, listener: Listener) -> None:
    now = time.time()
    seed_units(deps.store, now)
    button = {"type": ids.TASK_ITEM, "hotspot": SOHO, "unit": "CW-402", "at": "gap"}
    shown, summary, pending, note, error = redeploy_actions.open_task_dialog(deps, button, 1, now)
    assert shown == redeploy_actions.SHOW and pending == {"unit": "CW-402", "hotspot": SOHO}
    assert summary.startswith("Send CW402 (CW-402) to Old Compton Street, Soho (priority 1)?")
    assert "ETA" in summary and "On patrol" in summary and (note, error) == ("", "")
    assert redeploy_actions.open_task_dialog(deps, button, 0, now) \
        == (redeploy_actions.no_update,) * 5
    busy = redeploy_actions.open_task_dialog(deps, {**button, "unit": "CW-403"}, 1, now)[1]
    assert "Status now: Emergency. Warning: it is not available" in busy

    hidden, err, toast = redeploy_actions.confirm_task(deps, pending, "  see the door staff ",
                                                "sgt.jones", time.time())
    assert (hidden, err) == (redeploy_actions.HIDE, "") and "sent: CW402" in dumps(toast)
    message = wait_until(lambda: listener.on("patrol/CW-402/tasking"), 10, what="tasking")[0]
    assert message["note"] == "see the door staff"

    shown, err, _ = redeploy_actions.confirm_task(deps, pending, None, "sgt.jones", time.time())
    assert shown == redeploy_actions.SHOW and "already holds open tasking" in err


@pytest.mark.integration
def test_acknowledging_an_emergency_is_audited_and_a_new_one_raises_it_again(
        deps: Deps) -> None:
    now = time.time()
    seed_units(deps.store, now)
    trigger = {"type": ids.ACK_ITEM, "alarm": f"CW-403@{now - 30:.3f}"}
    toast = redeploy_actions.acknowledge(deps, trigger, 1, "sgt.jones", now)
    assert "EMERGENCY of CW403 acknowledged by sgt.jones" in dumps(toast)
    ack = deps.store.emergency_acks()["CW-403"]
    assert ack["status_ts"] == pytest.approx(now - 30)
    assert deps.store.audit_log()[0]["kind"] == "emergency_ack"

    out = supervise_refresh(deps, now)
    assert "pw-emergency-acked" in out["alarms_class"] and "pw-emergency-loud" not in \
        out["alarms_class"]
    assert "acknowledged by sgt.jones" in dumps(out["alarms"])
    emergency = next(e for e in json.loads(out["picture"])["u"] if e[0] == "CW-403")
    assert emergency[4] & FLAG_ACKED, "the marker stops pulsing"

    later = now + 5
    deps.store.write_batch(Batch(statuses=[StatusChange("CW-403", later, Status.EMERGENCY)]),
                           now=later)
    out = supervise_refresh(deps, later)
    assert "pw-emergency-loud" in out["alarms_class"], "a new EMERGENCY is loud again"
    assert "Acknowledge" in dumps(out["alarms"])
    # The old alarm's button does not acknowledge the new press: a press while the unit is
    # still in EMERGENCY is an alarm of its own (CONTRACT.md s. 3, one alarm per press).
    assert "already acknowledged by sgt.jones" in dumps(
        redeploy_actions.acknowledge(deps, trigger, 1, "sgt.jones", later))
    assert deps.store.emergency_acks()["CW-403"]["status_ts"] == pytest.approx(now - 30)
    assert [a for a in deps.store.open_alarms() if a["unit"] == "CW-403"], "the new one stays"
    assert "pw-emergency-loud" in supervise_refresh(deps, later)["alarms_class"]

    deps.store.write_batch(Batch(statuses=[StatusChange("CW-402", later, Status.AVAILABLE)]),
                           now=later)
    assert "no longer in EMERGENCY" in dumps(
        redeploy_actions.acknowledge(deps, {"type": ids.ACK_ITEM, "alarm": f"CW-402@{now:.3f}"}, 1,
                                     "x", later))


def supervise_refresh(deps: Deps, now: float) -> dict[str, Any]:
    """Build the picture as the producer would, then refresh a new supervisor's screen."""
    from dashboard.picture import serve
    from dashboard.picture.producer import PictureProducer

    PictureProducer(deps).publish(now, deps.store.live_version())
    return serve.refresh(serve.Screens(deps), "", None, {}, now, can_act=True)


# --- the crew's handlers ------------------------------------------------------------------------
@pytest.mark.integration
def test_crew_status_answer_and_emergency_are_published_as_the_unit(
        deps: Deps, listener: Listener) -> None:
    now = time.time()
    assert "Status sent: On patrol" in dumps(crew_actions.send_status(deps, UNIT, "ON_PATROL", now))
    assert "Unknown status" in dumps(crew_actions.send_status(deps, UNIT, "COMMITTED_X", now))
    status = wait_until(lambda: listener.on(f"patrol/{UNIT}/status"), 10, what="status")[0]
    assert status == {"ts": round(now, 3), "status": "ON_PATROL"}

    tasking = redeploy_actions.send_tasking(deps, unit=UNIT, hotspot=SOHO, note=None, by="sgt",
                                     now=now)
    seen, text, answer_box, tid = crew_actions.tick(deps, UNIT, now)
    assert tid == tasking.id and answer_box == "pw-crew-answer"
    assert "no status from you yet" in seen, "no ingest worker runs here: Redis has none"
    assert "Go to Old Compton Street" in dumps(text)
    assert "Accept" not in dumps(text)
    declined = crew_actions.answer(deps, UNIT, ids.CREW_DECLINE, tasking.id, " with a prisoner ",
                                   now)
    assert "Declined" in dumps(declined)
    ack = wait_until(lambda: listener.on(f"patrol/{UNIT}/ack"), 10, what="ack")[0]
    assert ack == {"id": tasking.id, "ts": round(now, 3), "accepted": False,
                   "reason": "with a prisoner"}
    other = crew_actions.answer(deps, "CW-402", ids.CREW_ACCEPT, tasking.id, None, now)
    assert "no longer waiting" in dumps(other), "a unit cannot answer another's tasking"

    armed = crew_actions.emergency(deps, UNIT, ids.CREW_EMERGENCY, None, now)
    assert armed[0] == now and "TAP AGAIN" in armed[1] and armed[3] is False
    assert not listener.on(f"patrol/{UNIT}/status")[1:], "one tap sends nothing"
    sent = crew_actions.emergency(deps, UNIT, ids.CREW_EMERGENCY, now, now + 2)
    assert "EMERGENCY sent" in dumps(sent[4]) and sent[0] is None
    statuses = wait_until(lambda: (s := listener.on(f"patrol/{UNIT}/status"))[1:] and s, 10,
                          what="EMERGENCY")
    assert statuses[1]["status"] == "EMERGENCY"
    late = crew_actions.emergency(deps, UNIT, ids.CREW_EMERGENCY, now, now + 30)
    assert "TAP AGAIN" in late[1], "a second tap long after the first only re-arms"


@pytest.mark.parametrize(("position", "stamp", "expected"), [
    ({"lat": 51.5, "lon": -0.1, "accuracy": 8.4, "speed": 1.25, "heading": 90.0}, NOW * 1000,
     {"ts": NOW, "lat": 51.5, "lon": -0.1, "acc": 8.4, "speed": 1.25, "heading": 90.0}),
    ({"lat": 51.5, "lon": -0.1, "accuracy": 20, "speed": None, "heading": None}, None,
     {"ts": NOW, "lat": 51.5, "lon": -0.1, "acc": 20.0}),
    ({"lat": 51.5, "lon": -0.1, "speed": float("nan")}, (NOW + 3600) * 1000,
     {"ts": NOW, "lat": 51.5, "lon": -0.1}),
    ({"lat": 91.0, "lon": -0.1}, None, "no usable position"),
    ({"lat": "51.5", "lon": -0.1}, None, "no usable position"),
    (None, None, "no position"),
    ({"lat": 51.5, "lon": -0.1}, (NOW - 600) * 1000, "600 s old"),
])
def test_position_from_the_browser(position: Any, stamp: Any, expected: Any) -> None:
    body = crew_view.position_body(position, stamp, NOW)
    if isinstance(expected, str):
        assert isinstance(body, str) and expected in body
    else:
        assert body == expected


# --- pure views ----------------------------------------------------------------------------------
def tasking(tid: str, unit: str, state: str, created: float, hotspot: str = "soho",
            **extra: Any) -> dict[str, Any]:
    return {"id": tid, "unit": unit, "hotspot": hotspot, "name": hotspot.title(), "lat": 51.5,
            "lon": -0.1, "by": "sgt", "created": created, "state": state,
            "updated": extra.pop("updated", created), "note": None, "reason": None, **extra}


def test_tasking_rows_open_first_then_recently_closed() -> None:
    rows = redeploy_view.tasking_rows([
        tasking("T1", "A", "COMPLETED", NOW - 3000, updated=NOW - 600),
        tasking("T2", "B", "SENT", NOW - 60),
        tasking("T3", "C", "EXPIRED", NOW - 90_000, updated=NOW - 80_000),
        tasking("T4", "D", "ACKNOWLEDGED", NOW - 300),
        tasking("T5", "E", "DECLINED", NOW - 100, reason="busy"),
    ], {"B": "Bravo"}, NOW)
    assert [r.id for r in rows] == ["T2", "T4", "T5", "T1"]
    assert rows[0].callsign == "Bravo" and rows[0].open and not rows[2].open
    assert rows[2].reason == "busy" and rows[2].label == "Declined"
    text = dumps(panels_taskings(rows))
    assert "Reason: busy" in text and "\"data-state\": \"DECLINED\"" in text


def panels_taskings(rows: list[redeploy_view.TaskingRow]) -> Any:
    from dashboard.redeploy import components as redeploy_components

    return redeploy_components.render_taskings(rows)


def test_tasked_by_hotspot_and_duplicates() -> None:
    rows = [tasking("T1", "A", "SENT", NOW), tasking("T2", "B", "DECLINED", NOW),
            tasking("T3", "C", "ARRIVED", NOW - 5)]
    assert redeploy_view.tasked_by_hotspot(rows, {"A": "Alpha"}) == {
        "soho": ["C arrived", "Alpha sent"]}
    # Which tasking: not A's closed one to soho, nor its open one elsewhere, but T1.
    noise = [tasking("T0", "A", "COMPLETED", NOW - 60), tasking("T9", "A", "SENT", NOW, "camden")]
    assert redeploy_view.duplicate_of([*noise, *rows], "A", "soho")["id"] == "T1"  # type: ignore[index]
    assert redeploy_view.duplicate_of(rows, "B", "soho") is None
    assert redeploy_view.duplicate_of(noise, "A", "soho") is None
    assert redeploy_view.open_for_unit(rows, "C")["id"] == "T3"  # type: ignore[index]


def test_audit_rows_newest_first_with_the_change() -> None:
    rows = redeploy_view.audit_rows([
        {"ts": NOW - 10, "kind": "tasking", "tasking": "T1", "from": None, "to": "SENT",
         "actor": "sgt", "detail": "A tasked to Soho"},
        {"ts": NOW, "kind": "emergency_ack", "unit": "A", "actor": "sgt",
         "detail": "emergency of A acknowledged by sgt"},
    ], LONDON)
    assert [r.kind for r in rows] == ["Emergency", "Tasking"]
    assert rows[1].change == "new → SENT" and "(T1)" in rows[1].detail
    # People read callsigns and teams, not unit or alarm ids.
    named = redeploy_view.audit_rows([
        {"ts": NOW, "kind": "emergency_ack", "unit": "CW-401", "alarm": "CW-401.1796666296.03",
         "actor": "sgt.jones", "detail": "emergency CW-401.1796666296.03 of CW-401 acknowledged"},
        {"ts": NOW - 5, "kind": "tasking", "tasking": "T2", "unit": "CW-401", "to": "SENT",
         "actor": "sgt.jones", "detail": "CW-401 tasked to Soho"},
    ], LONDON, units={"CW-401": "CW401 (Team X)"})
    assert named[0].detail == "Emergency of CW401 (Team X) acknowledged by sgt.jones"
    assert named[1].detail.startswith("CW401 (Team X) tasked to Soho")


def test_plan_rows_follow_gap_urgency_and_say_what_is_left() -> None:
    gaps = [Gap("b", "Bee", "presence_gap", NOW, 2, 5.0, 51.5, -0.1),
            Gap("a", "Ay", "presence_gap", NOW, 1, 1.0, 51.5, -0.1),
            Gap("c", "Sea", "shortfall", NOW, 3, 0.0, 51.5, -0.1)]
    plan = redeploy_view.plan(gaps, [("b", Suggestion("U2", 900.0, 640.0)),
                                 ("a", Suggestion("U1", 300.0, 200.0))], {"U1": "One"},
                          {"d": ["Two sent"]})
    assert [(r.hotspot, r.callsign, r.distance, r.eta) for r in plan.rows] == [
        ("a", "One", "300 m", "3 min"), ("b", "U2", "900 m", "10 min")]
    assert plan.pairs() == [{"unit": "U1", "hotspot": "a"}, {"unit": "U2", "hotspot": "b"}]
    assert plan.notes == ["d: already has Two sent", "No unit available for: Sea"]
    named = redeploy_view.plan(gaps, [], {}, {"d": ["Two sent"]}, {"d": "Dee Street"})
    assert named.notes[0] == "Dee Street: already has Two sent"


def unit_in(status: Status, uid: str = "E1", status_ts: float = NOW - 60) -> UnitState:
    return UnitState(id=uid, callsign=uid, team="T", kind="foot", registered=True, lat=51.5,
                     lon=-0.1, ts=NOW, status=status, status_ts=status_ts, last_seen=NOW)


@pytest.mark.parametrize(("ack", "loud"), [
    (None, True),
    ({"by": "sgt", "ts": NOW - 10, "status_ts": NOW - 60}, False),
    ({"by": "sgt", "ts": NOW - 100, "status_ts": NOW - 120}, True),  # an earlier EMERGENCY
])
def test_alarm_is_loud_until_acknowledged(ack: dict[str, Any] | None, loud: bool) -> None:
    alarms = control_room_view.alarms([unit_in(Status.EMERGENCY)], LONDON,
                                      {"E1": ack} if ack else {})
    children, cls = control_room_components.render_alarms(alarms, can_ack=True)
    assert ("pw-emergency-loud" in cls) is loud
    assert ("Acknowledge" in dumps(children)) is loud
    viewer, _ = control_room_components.render_alarms(alarms, can_ack=False)
    assert "Acknowledge" not in dumps(viewer), "no action controls for viewers"


def test_gap_list_has_task_buttons_only_for_supervisors() -> None:
    snapshot = {"gaps": [{"hotspot": "soho", "name": "Soho", "kind": "presence_gap",
                          "since": NOW - 600, "priority": 1, "overdue_minutes": 5,
                          "suggested_units": [{"id": "U1", "distance_m": 420, "eta_s": 300}]}],
                "hotspots": {}}
    rows = coverage_view.gap_rows(snapshot, NOW, LONDON, {"U1": "Uniform 1"})
    supervisor = dumps(coverage_components.render_gaps(rows, True, {"soho": ["U9 sent"]}))
    viewer = dumps(coverage_components.render_gaps(rows))
    assert "Uniform 1" in viewer and "400 m · ETA 5 min" in viewer
    assert ids.TASK_ITEM in supervisor and ids.TASK_ITEM not in viewer
    assert "Tasked: U9 sent" in supervisor


def test_publisher_to_nowhere_says_nothing_was_sent() -> None:
    publisher = Publisher(f"mqtt://127.0.0.1:{free_port()}", connect_timeout_s=0.3)
    try:
        with pytest.raises(BrokerUnavailableError, match="nothing was sent"):
            publisher.publish("patrol/X/status", "{}")
        assert not publisher.connected
    finally:
        publisher.close()
