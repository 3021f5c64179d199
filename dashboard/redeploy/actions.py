"""What the supervisor's controls do: task a unit, plan all gaps, acknowledge an emergency.

Plain functions of ``Deps`` and plain values; callbacks.py checks the role and hands the
signed-in name in as ``by``. The API's ``POST /api/taskings`` goes through ``send_tasking``
too, so the screen and machine clients obey the same rules.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from dash import no_update

from dashboard import changes, ids
from dashboard.control_room.view import parse_alarm_id
from dashboard.coverage import view as coverage_view
from dashboard.deps import Deps
from dashboard.palette import STATUS_LOOK
from dashboard.publisher import BrokerUnavailableError
from dashboard.redeploy import components, view
from dashboard.times import local_clock
from patrolwatch.core.model import ELIGIBLE_STATUSES, Status
from patrolwatch.core.suggest import Suggestion, assign, suggest_units
from patrolwatch.core.taskings import Tasking
from patrolwatch.dispatch import TaskingError, create_tasking
from patrolwatch.live import unit_states

log = logging.getLogger(__name__)


SHOW = "pw-overlay"


HIDE = "pw-overlay pw-hidden"


PLAN_MAX = 50  # one confirm sends at most this many taskings


class DuplicateTaskingError(TaskingError):
    """The unit already holds an open tasking to the same hotspot."""


def send_tasking(deps: Deps, *, unit: object, hotspot: object, note: object, by: str,
                 now: float) -> Tasking:
    """Check, record and publish one tasking; raise TaskingError or BrokerUnavailableError.

    The broker is reached first: a tasking is recorded only when it can be sent at once.
    A second open tasking of the same unit to the same hotspot is refused (a double click).
    """
    deps.publisher.ensure_connected()
    if isinstance(unit, str) and isinstance(hotspot, str):
        same = view.duplicate_of(deps.store.open_taskings(), unit, hotspot)
        if same is not None:
            raise DuplicateTaskingError(
                f"{unit} already holds open tasking {same['id']} to {hotspot} "
                f"({same['state']}): nothing new was sent")
    if isinstance(note, str):
        note = note.strip() or None
    tasking = create_tasking(deps.store, deps.publisher.publish, deps.roster, deps.hotspots,
                             unit=unit, hotspot=hotspot, note=note, by=by, now=now)
    log.info("tasking %s: %s to %s by %s", tasking.id, tasking.unit, tasking.hotspot, by)
    return tasking


def _failure(exc: Exception) -> str:
    if isinstance(exc, redis.RedisError):
        return f"Live store unreachable ({type(exc).__name__}): try again shortly."
    return str(exc)


# --- one tasking -------------------------------------------------------------------------
def open_task_dialog(deps: Deps, trigger: Any, clicked: Any, now: float) -> tuple[Any, ...]:
    """Return (dialog class, summary, pending choice, note, error) after a Task or Cancel click."""
    if trigger == ids.TASK_CANCEL:
        return HIDE, no_update, None, "", ""
    if not isinstance(trigger, dict) or trigger.get("type") != ids.TASK_ITEM or not clicked:
        return (no_update,) * 5
    unit, hotspot_id = str(trigger.get("unit")), str(trigger.get("hotspot"))
    hotspot = deps.hotspots.by_id.get(hotspot_id)
    if hotspot is None:
        return (no_update,) * 5
    callsign = deps.callsigns.get(unit, unit)
    try:
        rows = deps.store.live_rows()
        units = {u.id: u for u in unit_states(rows, deps.roster, now, deps.settings.stale_after_s)}
    except redis.RedisError as exc:
        return SHOW, f"Send {callsign} to {hotspot.name}?", None, "", _failure(exc)
    found = units.get(unit)
    where = ""
    if found is not None:
        eta = view.eta_to(found.lat, found.lon, hotspot.centroid,
                               deps.speeds.get(found.kind) or min(deps.speeds.values()))
        where = f" It is {eta[0]} away, ETA {eta[1]}." if eta else ""
        where += f" Status now: {STATUS_LOOK[found.status].label}."
        if found.stale:
            where += " Warning: lost contact, it may not receive this."
        elif found.status not in ELIGIBLE_STATUSES:
            where += " Warning: it is not available or on patrol."
    summary = (f"Send {callsign} ({unit}) to {hotspot.name} (priority {hotspot.priority})?"
               f"{where}")
    return SHOW, summary, {"unit": unit, "hotspot": hotspot_id}, "", ""


def confirm_task(deps: Deps, pending: Any, note: str | None, by: str,
                 now: float) -> tuple[Any, Any, Any]:
    """Return (dialog class, dialog error, toast) after the supervisor confirms a tasking."""
    if not isinstance(pending, dict):
        return HIDE, "", no_update
    try:
        t = send_tasking(deps, unit=pending.get("unit"), hotspot=pending.get("hotspot"),
                         note=note, by=by, now=now)
    except (TaskingError, BrokerUnavailableError, redis.RedisError) as exc:
        return SHOW, f"Not sent: {_failure(exc)}", no_update
    callsign = deps.callsigns.get(t.unit, t.unit)
    return HIDE, "", components.toast(f"Tasking {t.id} sent: {callsign} to {t.name}.")


def confirm_and_refresh(deps: Deps, pending: Any, note: str | None, by: str,
                        picked: str | None, now: float) -> tuple[Any, ...]:
    """Return ``confirm_task``'s outputs, then the Taskings tab label and the hotspot panel.

    Every panel that shows the new tasking changes in the same answer as the dialog closes:
    the tab counts it, and the open hotspot's panel names the unit as tasked there and no
    longer offers it with a Task button (issue 17: they lagged the toast by a tick).
    """
    from dashboard.coverage import actions as coverage_actions  # coverage imports this module

    dialog, error, toast = confirm_task(deps, pending, note, by, now)
    if toast is no_update:
        return dialog, error, toast, no_update, no_update
    try:
        open_count = sum(1 for r in view.tasking_rows(deps.store.taskings(), deps.callsigns, now)
                         if r.open)
        label: Any = f"Taskings ({open_count})"
    except redis.RedisError:
        label = no_update
    panel = (coverage_actions.hotspot_panel(deps, picked, now, True)[0] if picked
             else no_update)
    return dialog, error, toast, label, panel


# --- optimise all gaps -------------------------------------------------------------------
def plan_dialog(deps: Deps, trigger: Any, now: float) -> tuple[Any, Any, Any, Any]:
    """Return (dialog class, plan table, plan, send button class) for Optimise or Cancel."""
    shown, table, plan = _plan(deps, trigger, now)
    send = no_update if shown is no_update else "pw-button pw-button-go" + (
        "" if plan else " pw-hidden")
    return shown, table, plan, send


def _plan(deps: Deps, trigger: Any, now: float) -> tuple[Any, Any, Any]:
    if trigger == ids.PLAN_CANCEL:
        return HIDE, [], None
    if trigger != ids.OPTIMISE:
        return no_update, no_update, no_update
    try:
        rows, snapshot, _ = deps.store.dashboard_state()
        open_taskings = deps.store.open_taskings()
    except redis.RedisError as exc:
        return SHOW, components.render_plan(None, _failure(exc)), None
    if not coverage_view.coverage_usable(snapshot, now, deps.coverage_max_age_s):
        return SHOW, components.render_plan(
            None, "Coverage has not been evaluated recently: gaps cannot be trusted, so no "
                  "plan is made. Is the coverage evaluator running?"), None
    units = unit_states(rows, deps.roster, now, deps.settings.stale_after_s)
    already = view.tasked_by_hotspot(open_taskings, deps.callsigns)
    gaps = view.gaps_from_snapshot(snapshot)
    untasked = [g for g in gaps if g.hotspot not in already]  # a unit is on its way to the rest
    busy = {str(t.get("unit")) for t in open_taskings}
    pairs = assign(untasked, units, deps.speeds, busy, now, deps.settings.stale_after_s)
    plan = view.plan(gaps, pairs[:PLAN_MAX], deps.callsigns, already,
                     {h.id: h.name for h in deps.hotspots.hotspots})
    return SHOW, components.render_plan(plan), plan.pairs() or None


def confirm_plan(deps: Deps, plan: Any, by: str, now: float) -> tuple[Any, Any, Any]:
    """Return (dialog class, plan table, toast) after "Send all": one tasking per line."""
    if not isinstance(plan, list) or not plan:
        return HIDE, [], components.toast("Nothing to send.", ok=False)
    sent, failed = [], []
    for line in plan[:PLAN_MAX]:
        if not isinstance(line, dict):
            continue
        try:
            t = send_tasking(deps, unit=line.get("unit"), hotspot=line.get("hotspot"),
                             note=None, by=by, now=now)
            sent.append(deps.callsigns.get(t.unit, t.unit))
        except BrokerUnavailableError as exc:
            failed.append(_failure(exc))
            break  # the rest would fail the same way
        except (TaskingError, redis.RedisError) as exc:
            failed.append(_failure(exc))
    text = f"Sent {len(sent)} tasking{'s' if len(sent) != 1 else ''}"
    text += f" ({', '.join(sent)})." if sent else "."
    if failed:
        text += " Not sent: " + "; ".join(failed)
    return HIDE, [], components.toast(text, ok=not failed)


# --- taskings and audit panels -----------------------------------------------------------
def unit_names(deps: Deps) -> dict[str, str]:
    """Return every roster unit as people name it: callsign and team."""
    return {u.id: f"{u.callsign} ({u.team})" if u.team else u.callsign
            for u in deps.roster.units.values()}


def task_panels(deps: Deps, digests: dict[str, Any] | None, now: float) -> tuple[Any, ...]:
    """Return (taskings list, taskings tab label, audit list, digests); unchanged: no_update."""
    digests = digests or {}
    try:
        taskings = deps.store.taskings()
        audit = deps.store.audit_log(view.AUDIT_SHOWN)
    except redis.RedisError:
        return no_update, no_update, no_update, no_update
    rows = view.tasking_rows(taskings, deps.callsigns, now)
    entries = view.audit_rows(audit, deps.settings.zone, units=unit_names(deps))
    new = {"taskings": changes.digest(rows), "audit": changes.digest(entries)}
    open_count = sum(1 for r in rows if r.open)
    return (components.render_taskings(rows) if new["taskings"] != digests.get("taskings")
            else no_update,
            f"Taskings ({open_count})",
            components.render_audit(entries) if new["audit"] != digests.get("audit")
            else no_update,
            new)


# --- emergencies -------------------------------------------------------------------------
def acknowledge(deps: Deps, trigger: Any, clicked: Any, by: str, now: float) -> Any:
    """Acknowledge one emergency, by its alarm id (audited); return the toast.

    The id is the store's alarm id (``store.acknowledge_alarm``): one alarm, whatever its
    unit sent since. A ``unit@status time`` id (an EMERGENCY the store holds no alarm
    record of) counts only if that very EMERGENCY is still the unit's status, so a newer
    one raised after the banner was drawn is never acknowledged by a click on the older one.
    """
    if not isinstance(trigger, dict) or trigger.get("type") != ids.ACK_ITEM or not clicked:
        return no_update
    key = trigger.get("alarm")
    if not isinstance(key, str) or not key or len(key) > ALARM_ID_MAX:
        return no_update
    try:
        stored = deps.store.alarm(key)
        if stored is not None:
            return _acknowledge_alarm(deps, key, stored, by, now)
    except redis.RedisError as exc:
        return components.toast(f"Not acknowledged: {_failure(exc)}", ok=False)
    parsed = parse_alarm_id(key)
    if parsed is None:
        return no_update
    unit, since = parsed
    callsign = deps.callsigns.get(unit, unit)
    try:
        status = deps.store.unit_status(unit) or {}
        # The status time comes from Redis, never from the page.
        ts = status.get("ts")
        if status.get("status") != Status.EMERGENCY.value or ts is None:
            return components.toast(f"{callsign} is no longer in EMERGENCY: nothing to "
                                    "acknowledge.", ok=False)
        if abs(float(ts) - since) > 0.001:
            return components.toast(f"{callsign} raised a newer EMERGENCY at "
                                    f"{local_clock(float(ts), deps.settings.zone)}: "
                                    "acknowledge that one.", ok=False)
        done = deps.store.emergency_acks().get(unit) or {}
        if abs(float(done.get("status_ts", -1.0)) - float(ts)) <= 0.001:
            # A press while still in EMERGENCY is one more alarm of its own (its own card):
            # this button acknowledged the first and must not stand for the next.
            return components.toast(f"That EMERGENCY of {callsign} was already acknowledged "
                                    f"by {done.get('by', 'someone')}.", ok=False)
        deps.store.acknowledge_emergency(unit, by, float(ts), now)
    except redis.RedisError as exc:
        return components.toast(f"Not acknowledged: {_failure(exc)}", ok=False)
    log.warning("EMERGENCY of %s acknowledged by %s", unit, by)
    return components.toast(f"EMERGENCY of {callsign} acknowledged by {by}.")


ALARM_ID_MAX = 200  # ids come from the page: bounded before they reach Redis


def _acknowledge_alarm(deps: Deps, alarm_id: str, stored: dict[str, Any], by: str,
                       now: float) -> Any:
    """Acknowledge one stored alarm (RedisError); return the toast."""
    unit = str(stored.get("unit", ""))
    callsign = deps.callsigns.get(unit, unit)
    if "acked_by" in stored or deps.store.acknowledge_alarm(alarm_id, by, now) is None:
        done = deps.store.alarm(alarm_id) or stored
        return components.toast(f"That EMERGENCY of {callsign} was already acknowledged by "
                                f"{done.get('acked_by', 'someone')}.", ok=False)
    status = deps.store.unit_status(unit) or {}
    ts = status.get("ts")
    if (status.get("status") == Status.EMERGENCY.value and ts is not None
            and not any(a.get("unit") == unit for a in deps.store.open_alarms())):
        # Its last open alarm: the banner keeps "acknowledged by" while it stays in EMERGENCY.
        deps.store.note_emergency_ack(unit, by, float(ts), now)
    log.warning("EMERGENCY %s of %s acknowledged by %s", alarm_id, unit, by)
    return components.toast(f"EMERGENCY of {callsign} acknowledged by {by}.")


def suggestions_for(deps: Deps, where: tuple[float, float], now: float,
                    limit: int = 3) -> list[Suggestion]:
    """Return the units that could go to a place now, soonest first (reads Redis)."""
    rows = deps.store.live_rows()
    units = unit_states(rows, deps.roster, now, deps.settings.stale_after_s)
    busy = {str(t.get("unit")) for t in deps.store.open_taskings()}
    return suggest_units(where[0], where[1], units, deps.speeds, busy, now,
                         deps.settings.stale_after_s, limit=limit)
