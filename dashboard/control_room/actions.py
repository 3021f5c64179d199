"""What the control room's tick reads: live state through the Store, and what the screen says.

``read_live`` is what the picture producer (dashboard/picture/) reads once per change for
every screen; ``redis_down`` is the screen's answer when Redis cannot be reached (it keeps
its last data and says it is degraded); ``degraded_messages`` says what else makes it
untrustworthy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import redis
from dash import no_update

from dashboard import changes, ids
from dashboard.control_room import components
from dashboard.control_room import unit_panel as unit_panel_view
from dashboard.coverage import view as coverage_view
from dashboard.deps import Deps
from dashboard.redeploy import view as redeploy_view
from dashboard.times import duration_text, local_clock
from patrolwatch.core.model import Status, UnitState
from patrolwatch.live import unit_states
from patrolwatch.store import Stats


@dataclass(frozen=True)
class Live:
    """What one refresh reads from Redis."""

    units: list[UnitState]
    snapshot: dict[str, Any] | None
    stats: Stats
    acks: dict[str, dict[str, Any]]
    gaps: list[coverage_view.GapRow]
    tasked: dict[str, list[str]]
    alarms: list[dict[str, Any]] = field(default_factory=list)  # store.open_alarms()
    unknown: coverage_view.Unknown | None = None  # active hotspots whose coverage is not known


def read_live(deps: Deps, now: float, states: Callable[..., list[UnitState]] = unit_states
              ) -> Live:
    """Read live state, coverage and counters, plus acks and taskings when needed (RedisError).

    ``states`` turns the rows into units (the picture producer keeps its own: picture/fleet.py).
    """
    rows, snapshot, stats = deps.store.dashboard_state()
    units = states(rows, deps.roster, now, deps.settings.stale_after_s)
    return complete_live(deps, units, snapshot, stats, now,
                         any(u.status is Status.EMERGENCY for u in units))


def complete_live(deps: Deps, units: list[UnitState], snapshot: dict[str, Any] | None,
                  stats: Stats, now: float, in_emergency: bool) -> Live:
    """Add to the units what qualifies them: acks, alarms, gaps and taskings (RedisError)."""
    zone = deps.settings.zone
    # Two more small reads, only when there is something for them to qualify.
    acks = deps.store.emergency_acks() if in_emergency else {}
    # An alarm stays until acknowledged, whatever its unit sent since (CONTRACT.md s. 3).
    alarms = deps.store.open_alarms()
    gaps = (coverage_view.gap_rows(snapshot, now, zone, deps.callsigns)
            if coverage_view.coverage_usable(snapshot, now, deps.coverage_max_age_s) else [])
    open_taskings = deps.store.open_taskings() if gaps else []
    # The evaluator drops tasked units from its suggestions on its next pass; until then
    # the list must not offer a unit that was just sent somewhere.
    gaps = coverage_view.without_units(gaps, {str(t.get("unit")) for t in open_taskings})
    return Live(units, snapshot, stats, acks, gaps,
                redeploy_view.tasked_by_hotspot(open_taskings, deps.callsigns), alarms,
                unknown_now(deps, snapshot, now))


def unknown_now(deps: Deps, snapshot: dict[str, Any] | None, now: float
                ) -> coverage_view.Unknown | None:
    """Return which active hotspots have no known coverage now, and why (None: all known)."""
    zone = deps.settings.zone
    moment = datetime.fromtimestamp(now, zone)
    active = [h.id for h in deps.hotspots.hotspots if h.window_at(moment, zone) is not None]
    return coverage_view.unknown_coverage(snapshot, now, deps.coverage_max_age_s, active, zone)


def redis_down(deps: Deps, exc: redis.RedisError, digests: dict[str, Any],
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


# Every output of the live tick (dashboard/picture/serve.py fills them from the stored picture).
REFRESH_OUTPUTS = ("units", "hideout", "clock", "feed", "alarms", "alarms_class", "degraded",
                   "degraded_class", "counts", "gaps", "gap_badge", "gap_badge_class", "gap_held",
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


def pick_unit(trigger: Any, clicks: Any) -> Any:
    """Return the unit whose panel opens after a click on it (None: the panel closes)."""
    if trigger == ids.UNIT_CLOSE:
        return None
    if isinstance(trigger, dict) and trigger.get("type") == ids.UNIT_ITEM and clicks:
        return str(trigger.get("unit"))
    return no_update


def unit_panel(deps: Deps, unit: str | None, digest: str | None, now: float
               ) -> tuple[Any, Any]:
    """Return (the unit panel, its digest): the unit's state and recent events, or nothing."""
    if not unit:
        return ([], None) if digest else (no_update, no_update)
    try:
        rows = deps.store.live_rows()
        events = deps.store.unit_events(unit, unit_panel_view.EVENTS_SHOWN)
        index = deps.store.picture_fields(["part:index"])[0]
    except redis.RedisError:
        return no_update, no_update
    states = {u.id: u for u in unit_states(rows, deps.roster, now, deps.settings.stale_after_s)}
    detail = unit_panel_view.unit_detail(states.get(unit), events, deps.settings.zone)
    # The status as the picture the list and banner were drawn from says it: one version.
    detail = unit_panel_view.as_listed(detail, orjson.loads(index) if index else None)
    new = changes.digest([unit, detail])
    if new == digest:
        return no_update, no_update
    return unit_panel_view.render_unit(detail), new
