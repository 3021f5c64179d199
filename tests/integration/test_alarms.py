"""Alarm rules end to end: real Mosquitto, Redis and `patrolwatch ingest` processes (issue 18).

Thresholds are seconds long through the alerts file (PATROL_ALERTS), never minutes of sleep.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.mqtt import Inbound, MqttClient
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from tests.integration.ingest_process import ROOT, IngestProcess
from tests.services import wait_until

pytestmark = pytest.mark.integration

SECRET = "test-secret-0123456789"
FOOT = ("TSG-U11A", "TSG-U11B", "TSG-U12A")


def nte_spot() -> tuple[float, float]:
    """Return a point inside a night-time-economy hotspot of the shipped file."""
    settings = Settings()
    spots = load_hotspots(ROOT / "config/hotspots.geojson",
                          CoverageDefaults.from_settings(settings), settings.zone)
    return next(h.centroid for h in spots if h.category == "night_time_economy")


def alerts_file(tmp_path: Path, webhook: str | None = None, **rules: Any) -> Path:
    """Write a rules file with seconds-long thresholds (and nothing else firing by accident)."""
    data: dict[str, Any] = {
        "status_max_minutes": {"AT_SCENE": 0.05},  # 3 s
        "welfare": {"hours": {"start": "00:00", "end": "00:00"}, "quiet_minutes": 60,
                    "answer_minutes": 0.05},
        "escalate_after_minutes": 600,
        **rules,
    }
    if webhook:
        data["webhooks"] = [{"url": webhook, "secret": SECRET}]
    path = tmp_path / "alerts.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


class Listener:
    """A real MQTT subscriber keeping what arrives on the alarm and check-in topics."""

    def __init__(self, url: str) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.client = MqttClient(url, f"listener-{uuid.uuid4().hex[:6]}",
                                 subscriptions=[("patrol/+/alarm", 1), ("patrol/+/checkin", 1)],
                                 on_message=self._keep)
        assert self.client.start(wait_s=10)

    def _keep(self, msg: Inbound) -> None:
        self.got.append((msg.topic, json.loads(msg.payload)))

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [p for t, p in list(self.got) if t == topic]


@pytest.fixture
def listener(mqtt_url: str) -> Iterator[Listener]:
    one = Listener(mqtt_url)
    yield one
    one.client.stop()


@pytest.fixture
def device(mqtt_url: str) -> Iterator[MqttClient]:
    client = MqttClient(mqtt_url, f"device-{uuid.uuid4().hex[:6]}")
    assert client.start(wait_s=10)
    yield client
    client.stop()


def ingest(mqtt_url: str, redis_url: str, tmp_path: Path, alerts: Path,
           name: str = "a") -> IngestProcess:
    proc = IngestProcess(mqtt_url, redis_url, tmp_path / f"ingest-{name}.log",
                         env={"PATROL_ALERTS": str(alerts)}, client_id=f"test-alarms-{name}")
    proc.start()
    return proc


def send(device: MqttClient, unit: str, kind: str, **payload: Any) -> None:
    device.publish_and_wait(f"patrol/{unit}/{kind}", json.dumps(payload))


def of_kind(store: Store, kind: str, unit: str | None = None) -> list[dict[str, Any]]:
    return [a for a in store.all_alarms()
            if a.get("kind") == kind and (unit is None or a["unit"] == unit)]


def test_status_too_long_raises_one_alarm_through_a_restart(
        mqtt_url: str, redis_url: str, tmp_path: Path, device: MqttClient,
        listener: Listener) -> None:
    store = Store.from_url(redis_url)
    alerts = alerts_file(tmp_path)
    first = ingest(mqtt_url, redis_url, tmp_path, alerts)
    try:
        first.wait_storing(store)
        send(device, FOOT[0], "status", ts=time.time(), status="AT_SCENE")
        wait_until(lambda: of_kind(store, "status_too_long", FOOT[0]), 30,
                   what=f"the alarm: {first.log()[-2000:]}")
    finally:
        first.stop()
    second = ingest(mqtt_url, redis_url, tmp_path, alerts, "b")
    try:
        second.wait_storing(store)
        # A second unit's alarm after the restart shows the new process has evaluated.
        send(device, FOOT[1], "status", ts=time.time(), status="AT_SCENE")
        wait_until(lambda: of_kind(store, "status_too_long", FOOT[1]), 30,
                   what=f"the second unit's alarm: {second.log()[-2000:]}")
        wait_until(lambda: any(p["id"].startswith(FOOT[1]) for p in
                               listener.on(f"patrol/{FOOT[1]}/alarm")), 15, what="its notice")
    finally:
        second.stop()
    assert len(of_kind(store, "status_too_long", FOOT[0])) == 1
    opened = listener.on(f"patrol/{FOOT[0]}/alarm")
    assert [(p["kind"], p["state"]) for p in opened] == [("status_too_long", "OPEN")], opened


def test_check_in_reaches_the_device_ok_closes_it_and_silence_raises_welfare(
        mqtt_url: str, redis_url: str, tmp_path: Path, device: MqttClient,
        listener: Listener) -> None:
    store = Store.from_url(redis_url)
    alerts = alerts_file(tmp_path, welfare={"hours": {"start": "00:00", "end": "00:00"},
                                            "quiet_minutes": 0.1, "answer_minutes": 0.05})
    proc = ingest(mqtt_url, redis_url, tmp_path, alerts)
    lat, lon = nte_spot()
    try:
        proc.wait_storing(store)
        now = time.time()
        for unit in FOOT[:2]:  # two lone officers in a night-time-economy street, quiet
            send(device, unit, "status", ts=now - 30, status="ON_PATROL")
            send(device, unit, "position", ts=now, lat=lat, lon=lon)
        prompts = wait_until(lambda: {p["id"]: u for u in FOOT[:2]
                                      for p in listener.on(f"patrol/{u}/checkin")}
                             if all(listener.on(f"patrol/{u}/checkin") for u in FOOT[:2])
                             else None, 30, what=f"both check-ins: {proc.log()[-2000:]}")
        ok_id = next(i for i, u in prompts.items() if u == FOOT[0])
        first = listener.on(f"patrol/{FOOT[0]}/checkin")[0]
        assert {"id", "ts", "reason", "answer_by"} <= set(first)
        # The first answers "I am OK" on its ack topic; the second says nothing.
        send(device, FOOT[0], "ack", id=ok_id, ts=time.time(), accepted=True)
        wait_until(lambda: (store.checkin(ok_id) or {}).get("state") == "OK", 15,
                   what="the OK answer")
        welfare = wait_until(lambda: of_kind(store, "welfare", FOOT[1]), 30,
                             what="the welfare alarm of the silent officer")
        assert welfare[0]["detail"] == "no answer to the welfare check-in"
        # The one who answered is asked again after a new quiet spell, and has no alarm.
        wait_until(lambda: len(listener.on(f"patrol/{FOOT[0]}/checkin")) >= 2, 30,
                   what="the next check-in after the answer")
        assert of_kind(store, "welfare", FOOT[0]) == []
        notices = listener.on(f"patrol/{FOOT[1]}/alarm")
        wait_until(lambda: listener.on(f"patrol/{FOOT[1]}/alarm"), 15, what="alarm notice")
        notices = listener.on(f"patrol/{FOOT[1]}/alarm")
        assert notices[0]["kind"] == "welfare" and notices[0]["state"] == "OPEN"
    finally:
        proc.stop()


def test_need_help_raises_welfare_at_once(mqtt_url: str, redis_url: str, tmp_path: Path,
                                          device: MqttClient, listener: Listener) -> None:
    store = Store.from_url(redis_url)
    alerts = alerts_file(tmp_path, welfare={"hours": {"start": "00:00", "end": "00:00"},
                                            "quiet_minutes": 0.05, "answer_minutes": 30})
    proc = ingest(mqtt_url, redis_url, tmp_path, alerts)
    lat, lon = nte_spot()
    try:
        proc.wait_storing(store)
        send(device, FOOT[2], "status", ts=time.time() - 30, status="ON_PATROL")
        send(device, FOOT[2], "position", ts=time.time(), lat=lat, lon=lon)
        prompt = wait_until(lambda: listener.on(f"patrol/{FOOT[2]}/checkin"), 30,
                            what="the check-in")[0]
        send(device, FOOT[2], "ack", id=prompt["id"], ts=time.time(), accepted=False)
        found = wait_until(lambda: of_kind(store, "welfare", FOOT[2]), 15, what="the alarm")
        assert found[0]["detail"] == "asked for help at a welfare check-in"
        assert (store.checkin(prompt["id"]) or {})["state"] == "HELP"
    finally:
        proc.stop()


def test_two_ingest_workers_raise_and_announce_it_once(
        mqtt_url: str, redis_url: str, tmp_path: Path, device: MqttClient,
        listener: Listener) -> None:
    store = Store.from_url(redis_url)
    alerts = alerts_file(tmp_path)
    procs = [ingest(mqtt_url, redis_url, tmp_path, alerts, name) for name in ("a", "b")]
    try:
        for p in procs:
            p.wait_storing(store)
        send(device, FOOT[0], "status", ts=time.time(), status="AT_SCENE")
        wait_until(lambda: of_kind(store, "status_too_long", FOOT[0]), 30, what="the alarm")
        # A later alarm, announced after the first: by then both workers have seen the first.
        send(device, FOOT[1], "status", ts=time.time(), status="AT_SCENE")
        wait_until(lambda: listener.on(f"patrol/{FOOT[1]}/alarm"), 30, what="second notice")
    finally:
        for p in procs:
            p.stop()
    assert len(of_kind(store, "status_too_long", FOOT[0])) == 1
    assert len(listener.on(f"patrol/{FOOT[0]}/alarm")) == 1


class Receiver(BaseHTTPRequestHandler):
    """A real HTTP receiver: keeps (signature, body); answers 500 to the very first call."""

    calls: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.calls.append((self.headers.get("X-PatrolWatch-Signature", ""), body))
        self.send_response(500 if len(Receiver.calls) == 1 else 204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_is_signed_retried_and_the_ack_reaches_the_device(
        mqtt_url: str, redis_url: str, tmp_path: Path, device: MqttClient,
        listener: Listener) -> None:
    Receiver.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    store = Store.from_url(redis_url)
    alerts = alerts_file(tmp_path, webhook=url, escalate_after_minutes=0.05)
    proc = ingest(mqtt_url, redis_url, tmp_path, alerts)
    try:
        proc.wait_storing(store)
        send(device, FOOT[0], "status", ts=time.time(), status="AT_SCENE")

        def events() -> list[str]:
            return [json.loads(b)["event"] for _, b in Receiver.calls]

        # Raised (refused once, then delivered again with backoff) and escalated.
        wait_until(lambda: events().count("raised") >= 2 and "escalated" in events(), 60,
                   what=f"raise and escalation calls: {events()} {proc.log()[-1500:]}")
        alarm = of_kind(store, "status_too_long", FOOT[0])[0]
        assert store.acknowledge(alarm["id"], "sup1", time.time()) is not None
        wait_until(lambda: "acknowledged" in events(), 30, what="the acknowledgement call")
        acked = wait_until(lambda: [p for p in listener.on(f"patrol/{FOOT[0]}/alarm")
                                    if p["state"] == "ACKNOWLEDGED"], 15,
                           what="the acknowledgement on the device")
        assert acked[0] == {"id": alarm["id"], "kind": "status_too_long",
                            "state": "ACKNOWLEDGED", "ts": acked[0]["ts"], "by": "sup1"}
    finally:
        proc.stop()
        server.shutdown()
        server.server_close()
    for sig, body in Receiver.calls:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(sig, expected), (sig, body)
        alarm_json = json.loads(body)["alarm"]
        assert alarm_json["id"] == alarm["id"] and alarm_json["callsign"] == "U11 Alpha"
    audit = [e for e in store.audit_log() if e.get("alarm") == alarm["id"]]
    assert audit and audit[0]["kind"] == "alarm_ack" and audit[0]["actor"] == "sup1"


def test_lost_contact_on_duty_is_raised_once_and_cleared_by_the_next_message(
        mqtt_url: str, redis_url: str, tmp_path: Path, device: MqttClient,
        listener: Listener) -> None:
    store = Store.from_url(redis_url)
    alerts = alerts_file(tmp_path, lost_contact_minutes=0.05)  # 3 s beyond the stale time
    proc = IngestProcess(mqtt_url, redis_url, tmp_path / "ingest.log",
                         env={"PATROL_ALERTS": str(alerts), "PATROL_STALE_AFTER_S": "2"},
                         client_id="test-alarms-lost")
    proc.start()
    try:
        proc.wait_storing(store)
        send(device, FOOT[0], "status", ts=time.time(), status="ON_PATROL")
        send(device, FOOT[1], "status", ts=time.time(), status="OFF_DUTY")  # never alarmed
        lost = wait_until(lambda: of_kind(store, "lost_contact", FOOT[0]), 30,
                          what=f"lost contact: {proc.log()[-1500:]}")[0]
        send(device, FOOT[0], "position", ts=time.time(), lat=51.5, lon=-0.1)
        closed = wait_until(lambda: [p for p in listener.on(f"patrol/{FOOT[0]}/alarm")
                                     if p["state"] == "CLOSED"], 30, what="cleared")
        assert closed[0]["id"] == lost["id"] and closed[0]["kind"] == "lost_contact"
        assert (store.alarm(lost["id"]) or {}).get("closed_at") is not None
        assert of_kind(store, "lost_contact", FOOT[1]) == []
    finally:
        proc.stop()
