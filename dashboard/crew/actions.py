"""What the crew page does: publish the unit's status, position and answers over MQTT.

It speaks the same contract as any handheld (CONTRACT.md section 3), through the app's
``Publisher``. Every function takes the unit from the caller, which takes it from the
signed-in user on the server (``crew.callbacks.unit_of_request``), never from the page.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from dash import html, no_update

from dashboard import ids
from dashboard.crew.components import (
    ARM_MS,
    CREW_STATUSES,
    EMERGENCY_ARMED_LABEL,
    EMERGENCY_LABEL,
    geolocation,
    message,
)
from dashboard.crew.view import _stamp, emergency_line, position_body
from dashboard.deps import Deps
from dashboard.palette import STATUS_LOOK, TASK_STATE_LOOK
from dashboard.publisher import BrokerUnavailableError
from dashboard.redeploy.view import open_for_unit
from dashboard.times import local_clock
from patrolwatch.core.model import Status
from patrolwatch.core.taskings import TaskState
from patrolwatch.core.topics import ack_topic, position_topic, status_topic

REASON_MAX = 200


ARM_SLACK_S = 2.0  # the second tap travels to the server too


def _send(deps: Deps, topic: str, body: dict[str, Any]) -> str | None:
    """Publish one message; return None, or what went wrong in words for the crew."""
    try:
        deps.publisher.publish(topic, json.dumps(body, separators=(",", ":")))
    except BrokerUnavailableError as exc:
        return f"Not sent: {exc}"
    return None


# --- reading ------------------------------------------------------------------------------
def tick(deps: Deps, unit: str, now: float) -> tuple[Any, Any, Any, Any]:
    """Return (what the control room sees, tasking text, answer box class, tasking id)."""
    zone = deps.settings.zone
    try:
        latest = deps.store.unit_status(unit)
        mine = open_for_unit(deps.store.open_taskings(), unit)
        alarms = [a for a in deps.store.open_alarms() if a.get("unit") == unit]
        ack = None if alarms else deps.store.emergency_acks().get(unit)
    except redis.RedisError as exc:
        return (f"Control room unreachable ({type(exc).__name__}): retrying.", no_update,
                no_update, no_update)
    if latest and latest.get("ts") is not None:
        ts, code = float(latest["ts"]), str(latest.get("status"))
        label = STATUS_LOOK[Status(code)].label if code in Status.__members__ else code
        status_line = f"Control room sees you as {label} since {local_clock(ts, zone)}"
    else:
        status_line = "The control room has no status from you yet: pick one below."
    seen: Any = status_line
    emergency_seen = emergency_line(alarms, ack, latest, now, zone)
    if emergency_seen is not None:
        words, acknowledged = emergency_seen
        seen = [html.Div(status_line),
                html.Div(words, className="pw-crew-seen" if acknowledged else "pw-crew-waiting")]
    if mine is None:
        return seen, [html.Div("No tasking for you now.", className="pw-crew-small")], \
            "pw-hidden", None
    state = str(mine.get("state"))
    state_label = TASK_STATE_LOOK.get(state, TASK_STATE_LOOK["SENT"]).label
    lines: list[Any] = [
        html.Div(f"Go to {mine.get('name') or mine.get('hotspot')}", className="pw-crew-where"),
        html.Div(f"Sent {local_clock(mine.get('created'), zone)} by {mine.get('by')} · "
                 f"{state_label}", className="pw-crew-small"),
    ]
    if mine.get("note"):
        lines.append(html.Div(f"Note: {mine['note']}", className="pw-crew-note"))
    lat, lon = mine.get("lat"), mine.get("lon")
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        lines.append(html.A("Open the location on a map",
                            href=f"https://www.openstreetmap.org/?mlat={lat:.5f}&mlon={lon:.5f}"
                                 f"#map=17/{lat:.5f}/{lon:.5f}",
                            target="_blank", rel="noopener", className="pw-crew-link"))
    answer = "pw-crew-answer" if state == TaskState.SENT.value else "pw-hidden"
    return seen, lines, answer, mine.get("id")


# --- status and emergency -----------------------------------------------------------------
def send_status(deps: Deps, unit: str, status: Any, now: float) -> list[Any]:
    """Publish a status from one of the big buttons; return the feedback line."""
    allowed = {s.value for s in CREW_STATUSES}
    if status not in allowed:
        return message(f"Unknown status {status!r}.", ok=False)
    problem = _send(deps, status_topic(unit), {"ts": _stamp(now), "status": status})
    if problem:
        return message(problem, ok=False)
    label = STATUS_LOOK[Status(status)].label
    return message(f"Status sent: {label} at {local_clock(now, deps.settings.zone, True)}.")


def emergency(deps: Deps, unit: str, trigger: Any, armed_at: Any,
              now: float) -> tuple[Any, Any, Any, Any, Any]:
    """Return (armed time, button text, button class, disarm timer off, feedback).

    The first tap arms the button; a second tap within a few seconds sends EMERGENCY.
    """
    idle = (None, EMERGENCY_LABEL, "pw-crew-emergency", True)
    if trigger == ids.CREW_DISARM:
        return (*idle, no_update)
    if trigger != ids.CREW_EMERGENCY:
        return (no_update,) * 5
    armed = isinstance(armed_at, int | float) and 0 <= now - armed_at <= ARM_MS / 1000 + \
        ARM_SLACK_S
    if not armed:
        return now, EMERGENCY_ARMED_LABEL, "pw-crew-emergency pw-crew-armed", False, no_update
    problem = _send(deps, status_topic(unit), {"ts": _stamp(now), "status": "EMERGENCY"})
    if problem:
        return (*idle, message(f"EMERGENCY NOT SENT. {problem} Use your radio.", ok=False))
    return (*idle, message(f"EMERGENCY sent at {local_clock(now, deps.settings.zone, True)}: "
                           "the control room is alerted.", ok=False))


# --- taskings -----------------------------------------------------------------------------
def answer(deps: Deps, unit: str, trigger: Any, tasking_id: Any, reason: Any,
           now: float) -> Any:
    """Accept or decline the unit's open tasking; return the feedback line."""
    if trigger not in (ids.CREW_ACCEPT, ids.CREW_DECLINE) or not isinstance(tasking_id, str):
        return no_update
    try:
        mine = open_for_unit(deps.store.open_taskings(), unit)
    except redis.RedisError as exc:
        return message(f"Control room unreachable ({type(exc).__name__}): try again.", False)
    if mine is None or mine.get("id") != tasking_id or mine.get("state") != TaskState.SENT.value:
        return message("That tasking is no longer waiting for your answer.", ok=False)
    accepted = trigger == ids.CREW_ACCEPT
    body: dict[str, Any] = {"id": tasking_id, "ts": _stamp(now), "accepted": accepted}
    why = reason.strip()[:REASON_MAX] if isinstance(reason, str) else ""
    if why and not accepted:
        body["reason"] = why
    problem = _send(deps, ack_topic(unit), body)
    if problem:
        return message(problem, ok=False)
    where = mine.get("name") or mine.get("hotspot")
    return message(f"Accepted: go to {where}." if accepted else f"Declined {where}.")


# --- position -----------------------------------------------------------------------------
def share(trigger: Any, sharing: Any) -> tuple[Any, ...]:
    """Return (sharing, button text, button class, geo timer off, geolocation box, line).

    The geolocation reader is mounted only while sharing: the browser is asked for the
    position (and permission) only after the crew turns sharing on.
    """
    if trigger != ids.CREW_SHARE:
        return (no_update,) * 6
    if sharing:
        return (False, "Share my position: OFF", "pw-crew-share", True, [],
                "Your position is not being shared.")
    return (True, "Share my position: ON", "pw-crew-share pw-crew-share-on", False,
            [geolocation()], "Asking the browser for your position…")


def send_position(deps: Deps, unit: str, sharing: bool, position: Any, timestamp_ms: Any,
                  error: Any, now: float) -> Any:
    """Publish the browser's position as the unit's; return the line under the toggle."""
    if not sharing:
        return no_update  # a fix that arrived just after sharing was turned off
    if isinstance(error, dict) and error.get("message") and not position:
        return (f"Location unavailable: {error.get('message')}. Allow location for this site "
                "in the browser's settings.")
    body = position_body(position, timestamp_ms, now)
    if isinstance(body, str):
        return f"Position not sent: {body}."
    problem = _send(deps, position_topic(unit), body)
    if problem:
        return problem
    acc = f" (±{body['acc']:.0f} m)" if "acc" in body else ""
    return f"Position sent at {local_clock(body['ts'], deps.settings.zone, True)}{acc}."
