"""What the control room's tick does: read Redis through the Store, then call the pure views.

Every function here takes the app's ``Deps`` and the callback's inputs and returns its
outputs; callbacks.py only wires them. A Redis failure never raises out of here: the
screen keeps its last data and says it is degraded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from dash import no_update

from dashboard import changes, ids
from dashboard.control_room import components, view
from dashboard.control_room.view import hotspots_hideout
from dashboard.coverage import components as coverage_components
from dashboard.coverage import view as coverage_view
from dashboard.deps import Deps
from dashboard.redeploy import view as redeploy_view
from dashboard.times import ago, duration_text, local_clock, zone_abbreviation
from patrolwatch.core.model import Status, UnitState
from patrolwatch.live import unit_states
from patrolwatch.store import Stats


def _changed(key: str, model: Any, digests: dict[str, Any], new: dict[str, Any]) -> bool:
    """Record a view model's digest; tell whether the browser needs it again."""
    new[key] = changes.digest(model)
    return bool(digests.get(key) != new[key])


@dataclass(frozen=True)
class Live:
    """What one refresh reads from Redis."""

    units: list[UnitState]
    snapshot: dict[str, Any] | None
    stats: Stats
    acks: dict[str, dict[str, Any]]
    gaps: list[coverage_view.GapRow]
    tasked: dict[str, list[str]]


def read_live(deps: Deps, now: float) -> Live:
    """Read live state, coverage and counters, plus acks and taskings when needed (RedisError)."""
    zone = deps.settings.zone
    rows, snapshot, stats = deps.store.dashboard_state()
    units = unit_states(rows, deps.roster, now, deps.settings.stale_after_s)
    # Two more small reads, only when there is something for them to qualify.
    in_emergency = any(u.status is Status.EMERGENCY for u in units)
    acks = deps.store.emergency_acks() if in_emergency else {}
    gaps = (coverage_view.gap_rows(snapshot, now, zone, deps.callsigns)
            if coverage_view.coverage_usable(snapshot, now, deps.coverage_max_age_s) else [])
    open_taskings = deps.store.open_taskings() if gaps else []
    # The evaluator drops tasked units from its suggestions on its next pass; until then
    # the list must not offer a unit that was just sent somewhere.
    gaps = coverage_view.without_units(gaps, {str(t.get("unit")) for t in open_taskings})
    return Live(units, snapshot, stats, acks, gaps,
                redeploy_view.tasked_by_hotspot(open_taskings, deps.callsigns))


def _redis_down(deps: Deps, exc: redis.RedisError, digests: dict[str, Any],
                out: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Keep the last data on screen and say the live store is unreachable."""
    zone = deps.settings.zone
    last_ok = digests.get("ok_at")
    since = (f"the map shows data from {local_clock(last_ok, zone, seconds=True)}"
             if isinstance(last_ok, int | float) else "no live data yet")
    out["degraded"], out["degraded_class"] = components.render_degraded([
        f"Live store unreachable at {deps.redis_where()} ({type(exc).__name__}): "
        f"{since}. Retrying every {deps.settings.refresh_ms / 1000:g} s."])
    out["feed"] = "Live store unreachable"
    new["degraded"] = "redis-down"
    new["ok_at"] = last_ok
    out["digests"] = new
    return out


def refresh(deps: Deps, search: str | None, digests: dict[str, Any] | None,
            now: float, can_act: bool = False) -> dict[str, Any]:
    """Return every live output for one tick; unchanged parts are ``no_update``.

    ``can_act`` (supervisors, admins) adds the Task and Acknowledge buttons.
    """
    digests = digests or {}
    zone = deps.settings.zone
    out: dict[str, Any] = {k: no_update for k in REFRESH_OUTPUTS}
    out["clock"] = (f"{local_clock(now, zone, seconds=True)} "
                    f"{zone_abbreviation(now, zone)}")
    new: dict[str, Any] = {k: v for k, v in digests.items() if k != "ok_at"}
    try:
        live = read_live(deps, now)
    except redis.RedisError as exc:
        return _redis_down(deps, exc, digests, out, new)
    units, snapshot, stats, gaps = live.units, live.snapshot, live.stats, live.gaps
    new["ok_at"] = now

    alarms = view.alarms(units, zone, live.acks)
    geo = view.units_geojson(units, {a.id for a in alarms if a.acked_by is not None})
    if _changed("units", geo, digests, new):
        out["units"] = geo
    states = coverage_view.hotspot_states(snapshot, (h.id for h in deps.hotspots.hotspots), now,
                                  deps.coverage_max_age_s)
    if _changed("hideout", states, digests, new):
        out["hideout"] = hotspots_hideout(states)

    counts = view.count_units(units)
    if _changed("counts", [counts, len(gaps)], digests, new):
        out["counts"] = components.render_counts(counts, len(gaps))
    if _changed("gaps", [gaps, live.tasked, can_act], digests, new):
        out["gaps"] = coverage_components.render_gaps(gaps, can_act, live.tasked)
        out["gap_badge"] = str(len(gaps))
        out["gap_badge_class"] = "pw-badge" if gaps else "pw-badge pw-badge-none"
    if _changed("alarms", [alarms, can_act], digests, new):
        out["alarms"], out["alarms_class"] = components.render_alarms(alarms, can_act)
    unit_list = view.unit_rows(units, search or "")
    if _changed("unit_list", unit_list, digests, new):
        out["unit_list"] = components.render_units(*unit_list)
    lost = view.lost_rows(units, zone)
    if _changed("lost", lost, digests, new):
        out["lost"] = components.render_lost(lost)
        out["lost_tab"] = f"Lost ({len(lost)})"

    problems = degraded_messages(deps, snapshot, stats.last_message_ts, now)
    if _changed("degraded", problems, digests, new):
        out["degraded"], out["degraded_class"] = components.render_degraded(problems)
    out["feed"] = (f"Last message {ago(stats.last_message_ts, now)} · "
                   f"accepted {stats.accepted_total:,} · rejected {stats.rejected_total:,}")
    out["digests"] = new
    return out


REFRESH_OUTPUTS = ("units", "hideout", "clock", "feed", "alarms", "alarms_class", "degraded",
                   "degraded_class", "counts", "gaps", "gap_badge", "gap_badge_class",
                   "unit_list", "lost", "lost_tab", "digests")


def degraded_messages(deps: Deps, snapshot: dict[str, Any] | None,
                      last_message_ts: float | None, now: float) -> list[str]:
    """Say what makes the screen untrustworthy: a silent feed or a silent evaluator."""
    out: list[str] = []
    zone = deps.settings.zone
    if last_message_ts is None:
        out.append("No message received from any unit yet: hotspot coverage cannot be told. "
                   "Check the ingest worker (patrolwatch ingest) and the broker.")
    elif now - last_message_ts > deps.settings.stale_after_s:
        out.append(f"No message from any unit for {duration_text(now - last_message_ts)} "
                   f"(last at {local_clock(last_message_ts, zone)}): absence cannot be told "
                   "from silence, hotspots show no data. Check the ingest worker and the broker.")
    age = coverage_view.coverage_age(snapshot, now)
    if age is None:
        out.append("Coverage has not been evaluated yet: hotspot states show no data. "
                   "Is the coverage evaluator running (patrolwatch ingest)?")
    elif age > deps.coverage_max_age_s:
        out.append(f"Coverage last evaluated {duration_text(age)} ago: hotspot states show no "
                   "data and gaps are hidden. Is the coverage evaluator running?")
    return out


def fly_to_unit(trigger: Any, clicks: Any, units_data: dict[str, Any] | None) -> Any:
    """Return a viewport centred on a clicked unit, from the positions the map already has."""
    if not isinstance(trigger, dict) or trigger.get("type") != ids.UNIT_ITEM or not clicks:
        return no_update
    for feature in (units_data or {}).get("features", []):
        if feature["properties"]["id"] == trigger.get("unit"):
            lon, lat = feature["geometry"]["coordinates"]
            return view.viewport(lat, lon, view.UNIT_ZOOM)
    return no_update
