"""What the alarm parts do: list and acknowledge alarms (API and cards), the crew's answer."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from dash import no_update

from dashboard import ids
from dashboard.alarms import components, view
from dashboard.deps import Deps
from dashboard.publisher import BrokerUnavailableError
from patrolwatch.core.alarm_records import alarm_row, listed
from patrolwatch.core.alarms import EMERGENCY, kind_of
from patrolwatch.core.model import Status

log = logging.getLogger(__name__)
ALARM_ID_MAX = 200  # ids come from the page and the URL: bounded before they reach Redis


def alarms_json(deps: Deps, now: float) -> dict[str, Any]:
    """Return ``GET /api/alarms``: open and recently acknowledged alarms, EMERGENCY first."""
    records = listed(deps.store.recent_alarms(now), now)
    return {"alarms": [alarm_row(r, deps.callsigns.get(str(r.get("unit", ""))))
                       for r in records]}


def acknowledge(deps: Deps, alarm_id: str, by: str, now: float) -> tuple[int, dict[str, Any]]:
    """Acknowledge one alarm of any kind (audited); return (HTTP status, body).

    The device hears it on ``patrol/{unit}/alarm`` from the ingest's alarm evaluator, which
    announces every acknowledgement once, whichever screen or route made it.
    """
    if not alarm_id or len(alarm_id) > ALARM_ID_MAX:
        return 404, {"error": "no such alarm"}
    stored = deps.store.alarm(alarm_id)
    if stored is None:
        return 404, {"error": f"no alarm {alarm_id!r}: see GET /api/alarms for the ids"}
    done = deps.store.acknowledge(alarm_id, by, now)
    if done is None:
        again = deps.store.alarm(alarm_id) or stored
        who = again.get("acked_by")
        return 409, {"error": f"alarm {alarm_id} is not open" +
                     (f": already acknowledged by {who}" if who else " (cleared)")}
    if kind_of(done) == EMERGENCY:
        _note_emergency(deps, str(done["unit"]), by, now)
    log.warning("%s alarm %s of %s acknowledged by %s", kind_of(done), alarm_id,
                done["unit"], by)
    return 200, alarm_row(done, deps.callsigns.get(str(done["unit"])))


def _note_emergency(deps: Deps, unit: str, by: str, now: float) -> None:
    """Keep the emergency banner's "acknowledged by" once the unit's last one is answered."""
    status = deps.store.unit_status(unit) or {}
    ts = status.get("ts")
    if (status.get("status") == Status.EMERGENCY.value and ts is not None
            and not any(a.get("unit") == unit for a in deps.store.open_alarms())):
        deps.store.note_emergency_ack(unit, by, float(ts), now)


# --- the cards --------------------------------------------------------------------------
def refresh(deps: Deps, now: float, can_ack: bool) -> tuple[Any, Any]:
    """Return the alarm cards and the banner's class."""
    try:
        shown = view.cards(deps.store.recent_alarms(now, view.SHOWN_ACKED_S),
                           deps.callsigns, now)
    except redis.RedisError:
        return no_update, no_update  # the control room's degraded banner says why
    return components.render_cards(shown, deps.settings.zone, can_ack), view.banner_class(shown)


def click_ack(deps: Deps, trigger: Any, clicked: Any, by: str, now: float) -> Any:
    """Acknowledge the card whose button was clicked; return the toast."""
    if not isinstance(trigger, dict) or trigger.get("type") != ids.RULE_ALARM_ACK or not clicked:
        return no_update
    key = trigger.get("alarm")
    if not isinstance(key, str):
        return no_update
    try:
        status, body = acknowledge(deps, key, by, now)
    except redis.RedisError as exc:
        return _toast(f"Not acknowledged: live store unreachable ({type(exc).__name__})", False)
    if status != 200:
        return _toast(str(body.get("error")), False)
    return _toast(f"{view.LABELS[body['kind']]} alarm of {body['callsign']} acknowledged "
                  f"by {by}.", True)


def _toast(text: str, ok: bool) -> Any:
    from dashboard.redeploy.components import toast

    return toast(text, ok)


# --- the crew's check-in ----------------------------------------------------------------
def crew_tick(deps: Deps, unit: str) -> tuple[Any, Any, Any]:
    """Return (line, box class, check-in id) for the unit's open check-in."""
    try:
        mine = view.unit_checkin(deps.store.open_checkins(), unit)
    except redis.RedisError:
        return no_update, no_update, no_update
    line, cls = components.checkin_text(mine, deps.settings.zone)
    return line, cls, None if mine is None else mine["id"]


def crew_answer(deps: Deps, unit: str, trigger: Any, checkin_id: Any, now: float) -> Any:
    """Answer the check-in as the device would (``patrol/{unit}/ack``); return the line."""
    if trigger not in (ids.CREW_CHECKIN_OK, ids.CREW_CHECKIN_HELP):
        return no_update
    if not isinstance(checkin_id, str) or not checkin_id:
        return "Nothing to answer."
    ok = trigger == ids.CREW_CHECKIN_OK
    body = {"id": checkin_id, "ts": round(now, 3), "accepted": ok}
    try:
        deps.publisher.publish(f"patrol/{unit}/ack", json.dumps(body, separators=(",", ":")))
    except BrokerUnavailableError as exc:
        return f"Not sent: {exc}"
    return "Thank you: the control room knows you are OK." if ok else \
        "Help is asked for: the control room is alerted."
