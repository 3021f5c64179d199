"""A handheld client for one unit: send position, status and acks; listen for taskings.

Operators and tests use it to act as a crew (``patrolwatch device UNIT ...``). ``listen``
keeps a persistent MQTT session (client id ``device-<unit>``), so taskings sent while the
handheld was off are delivered when it comes back (on Mosquitto; see docs/deployment.md).
"""

from __future__ import annotations

import json
import math
import queue
import socket
import sys
import threading
import time
import uuid
from typing import Any, TextIO

from patrolwatch.core.model import Status
from patrolwatch.core.topics import ack_topic, position_topic, status_topic, tasking_topic
from patrolwatch.errors import CommandError, ConfigError
from patrolwatch.mqtt import BrokerAddress, Inbound, MqttClient, publish_once
from patrolwatch.roster import load_status_codes
from patrolwatch.settings import Settings

CONNECT_TIMEOUT_S = 8.0
NOTE_MAX = 200  # CONTRACT.md section 3


class DeviceError(CommandError):
    """A device command that cannot be carried out; the message says what to do."""


class BrokerUnreachableError(DeviceError, ConnectionError):
    """The MQTT broker did not accept a connection in time."""


def _unreachable(settings: Settings, why: str | None = None) -> BrokerUnreachableError:
    address = BrokerAddress.from_url(settings.mqtt_url)
    why = why or f"no answer within {CONNECT_TIMEOUT_S:.0f} s"
    return BrokerUnreachableError(
        f"cannot reach the MQTT broker at {address} ({why}): check that it is running and that "
        "PATROL_MQTT_URL points at it (the demo prints its URL)")


def _check_reachable(settings: Settings) -> None:
    """Fail at once with the network's reason (refused, unknown host) rather than after retries."""
    address = BrokerAddress.from_url(settings.mqtt_url)
    try:
        with socket.create_connection((address.host, address.port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise _unreachable(settings, exc.strerror or str(exc)) from None


def _topic(unit: str, kind: str) -> str:
    make = {"position": position_topic, "status": status_topic, "ack": ack_topic,
            "tasking": tasking_topic}[kind]
    try:
        return make(unit)
    except ValueError as exc:  # says what a valid unit id looks like
        raise DeviceError(str(exc)) from None


def _now() -> float:
    return round(time.time(), 3)


def _send(settings: Settings, unit: str, kind: str, body: dict[str, Any]) -> None:
    topic = _topic(unit, kind)
    payload = json.dumps(body, separators=(",", ":"))
    _check_reachable(settings)
    try:
        # A fresh client id per command: two commands for one unit never knock each other off.
        publish_once(settings.mqtt_url, [(topic, payload)], timeout_s=CONNECT_TIMEOUT_S,
                     client_id=f"device-{unit}-{uuid.uuid4().hex[:8]}")
    except ConnectionError:
        raise _unreachable(settings) from None
    except TimeoutError as exc:
        raise BrokerUnreachableError(f"the broker did not acknowledge {topic}: {exc}") from None


def send_position(settings: Settings, unit: str, lat: float, lon: float,
                  acc: float | None = None) -> None:
    """Publish the unit's position now (QoS 1, waits for the broker to take it)."""
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise DeviceError(f"latitude {lat} is out of range: use -90 to 90 (e.g. 51.5136)")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise DeviceError(f"longitude {lon} is out of range: use -180 to 180 (e.g. -0.1318)")
    body: dict[str, Any] = {"ts": _now(), "lat": lat, "lon": lon}
    if acc is not None:
        if not (math.isfinite(acc) and acc >= 0):
            raise DeviceError(f"accuracy {acc} must be a non-negative number of metres")
        body["acc"] = acc
    _send(settings, unit, "position", body)


def _canonical_status(settings: Settings, status: str) -> str:
    """Return the status as the contract spells it: a canonical name or a local code."""
    if status.upper() in Status.__members__:
        return status.upper()
    try:
        codes = load_status_codes(settings.status_codes)
    except ConfigError:
        codes = {}
    if status in codes:
        return status  # the worker maps the force's local code
    local = f" or one of the local codes {', '.join(codes)}" if codes else ""
    raise DeviceError(f"unknown status {status!r}: use one of {', '.join(Status)}{local}")


def send_status(settings: Settings, unit: str, status: str, note: str | None = None) -> None:
    """Publish a status change now."""
    body: dict[str, Any] = {"ts": _now(), "status": _canonical_status(settings, status)}
    if note is not None:
        if len(note) > NOTE_MAX:
            raise DeviceError(f"the note is {len(note)} characters; at most {NOTE_MAX} are sent")
        body["note"] = note
    _send(settings, unit, "status", body)


def send_ack(settings: Settings, unit: str, tasking_id: str, accepted: bool = True,
             reason: str | None = None) -> None:
    """Accept (or decline, with a reason) a tasking."""
    if not tasking_id.strip():
        raise DeviceError("give the tasking id to acknowledge (`listen` prints it)")
    body: dict[str, Any] = {"id": tasking_id, "ts": _now(), "accepted": accepted}
    if reason:
        body["reason"] = reason
    _send(settings, unit, "ack", body)


def describe_tasking(body: dict[str, Any]) -> str:
    """Return one line a crew reads: what, where, by whom."""
    where = f"{body.get('name') or body.get('hotspot') or 'a location'}"
    if body.get("hotspot") and body.get("name"):
        where += f" ({body['hotspot']})"
    lat, lon = body.get("lat"), body.get("lon")
    coords = f" at {lat:.5f},{lon:.5f}" if isinstance(lat, float | int) and isinstance(
        lon, float | int) else ""
    by = f" by {body['by']}" if body.get("by") else ""
    note = f" - {body['note']}" if body.get("note") else ""
    what = body.get("kind", "REDEPLOY")
    return f"TASKING {body.get('id', '?')}: {what} to {where}{coords}{by}{note}"


def listen(settings: Settings, unit: str, *, out: TextIO = sys.stdout,
           stop: threading.Event | None = None, count: int | None = None) -> int:
    """Print each tasking the unit receives (text, then its JSON); return how many."""
    topic = _topic(unit, "tasking")
    _check_reachable(settings)
    inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
    # Acknowledge a tasking only once it is printed: one that arrives as we stop is kept by
    # the broker for the next `listen`.
    client = MqttClient(settings.mqtt_url, f"device-{unit}", clean_session=False,
                        manual_ack=True, subscriptions=[(topic, 1)], on_message=inbox.put)
    stop = stop or threading.Event()
    received = 0
    try:
        if not client.start(wait_s=CONNECT_TIMEOUT_S):
            raise _unreachable(settings)
        while not stop.is_set() and (count is None or received < count):
            try:
                message = inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                body = json.loads(message.payload)
                if not isinstance(body, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                print(f"ignored a message on {message.topic} that is not a tasking ({exc}): "
                      f"{message.payload[:200]!r}", file=sys.stderr)
            else:
                out.write(f"{describe_tasking(body)}  {json.dumps(body, sort_keys=True)}\n")
                out.flush()
                received += 1
            client.ack(message)
    finally:
        client.stop()
    return received
