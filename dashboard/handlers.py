"""What each callback does: read Redis through the Store, then call the pure views.

Every function here takes the app's ``Deps`` and the callback's inputs and returns its
outputs; callbacks.py only wires them. A Redis failure never raises out of here: the
screen keeps its last data and says it is degraded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import plotly.graph_objects as go
import redis
from dash import html, no_update

from dashboard import ids, mapdata, panels, taskpanels, taskviews, views
from dashboard.palette import HOTSPOT_LOOK, hotspot_styles
from dashboard.publisher import Publisher
from dashboard.times import ago, duration_text, local_clock, zone_abbreviation
from patrolwatch.core.hotspots import HotspotSet
from patrolwatch.core.model import Status, UnitState
from patrolwatch.core.suggest import Suggestion, suggest_units
from patrolwatch.live import unit_states
from patrolwatch.roster import Roster
from patrolwatch.settings import Settings
from patrolwatch.store import Stats, Store

DAY_S = 86_400.0


@dataclass(frozen=True)
class Deps:
    """Everything callbacks read: fixed at start-up, no mutable data (Redis is the state).

    ``publisher`` is this app's MQTT connection (made on first use), not shared data.
    """

    settings: Settings
    store: Store
    roster: Roster
    hotspots: HotspotSet
    publisher: Publisher = field(default=None, compare=False)  # type: ignore[assignment]
    callsigns: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "callsigns",
                           {uid: u.callsign for uid, u in self.roster.units.items()})
        if self.publisher is None:
            object.__setattr__(self, "publisher", Publisher(self.settings.mqtt_url))

    @property
    def speeds(self) -> dict[str, float]:
        """Return the speed (m/s) of each unit kind, for ETAs."""
        s = self.settings
        return {"foot": s.speed_foot_mps, "cycle": s.speed_cycle_mps,
                "vehicle": s.speed_vehicle_mps}

    @property
    def coverage_max_age_s(self) -> float:
        """Return how old a coverage snapshot may be before hotspots show ``no_data``."""
        return coverage_max_age_s(self.settings)

    def redis_where(self) -> str:
        """Return the Redis host:port without credentials, for messages people read."""
        parts = urlsplit(self.settings.redis_url)
        return f"{parts.hostname or '?'}:{parts.port or 6379}"


def coverage_max_age_s(settings: Settings) -> float:
    """Return how old the evaluator's snapshot may be and still direct patrols."""
    return max(60.0, 15 * settings.evaluate_every_s)


def hotspots_hideout(states: dict[str, str]) -> dict[str, Any]:
    """Return the hotspot layer's ``hideout``: state per id, plus styles and labels."""
    return {"s": states, "styles": hotspot_styles(),
            "labels": {k: f"{v.label}: {v.meaning}" for k, v in HOTSPOT_LOOK.items()}}


def _changed(key: str, model: Any, digests: dict[str, Any], new: dict[str, Any]) -> bool:
    """Record a view model's digest; tell whether the browser needs it again."""
    new[key] = views.digest(model)
    return bool(digests.get(key) != new[key])


@dataclass(frozen=True)
class Live:
    """What one refresh reads from Redis."""

    units: list[UnitState]
    snapshot: dict[str, Any] | None
    stats: Stats
    acks: dict[str, dict[str, Any]]
    gaps: list[views.GapRow]
    tasked: dict[str, list[str]]


def read_live(deps: Deps, now: float) -> Live:
    """Read live state, coverage and counters, plus acks and taskings when needed (RedisError)."""
    zone = deps.settings.zone
    rows, snapshot, stats = deps.store.dashboard_state()
    units = unit_states(rows, deps.roster, now, deps.settings.stale_after_s)
    # Two more small reads, only when there is something for them to qualify.
    in_emergency = any(u.status is Status.EMERGENCY for u in units)
    acks = deps.store.emergency_acks() if in_emergency else {}
    gaps = (views.gap_rows(snapshot, now, zone, deps.callsigns)
            if views.coverage_usable(snapshot, now, deps.coverage_max_age_s) else [])
    open_taskings = deps.store.open_taskings() if gaps else []
    # The evaluator drops tasked units from its suggestions on its next pass; until then
    # the list must not offer a unit that was just sent somewhere.
    gaps = views.without_units(gaps, {str(t.get("unit")) for t in open_taskings})
    return Live(units, snapshot, stats, acks, gaps,
                taskviews.tasked_by_hotspot(open_taskings, deps.callsigns))


def _redis_down(deps: Deps, exc: redis.RedisError, digests: dict[str, Any],
                out: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Keep the last data on screen and say the live store is unreachable."""
    zone = deps.settings.zone
    last_ok = digests.get("ok_at")
    since = (f"the map shows data from {local_clock(last_ok, zone, seconds=True)}"
             if isinstance(last_ok, int | float) else "no live data yet")
    out["degraded"], out["degraded_class"] = panels.render_degraded([
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

    alarms = views.alarms(units, zone, live.acks)
    geo = mapdata.units_geojson(units, {a.id for a in alarms if a.acked_by is not None})
    if _changed("units", geo, digests, new):
        out["units"] = geo
    states = views.hotspot_states(snapshot, (h.id for h in deps.hotspots.hotspots), now,
                                  deps.coverage_max_age_s)
    if _changed("hideout", states, digests, new):
        out["hideout"] = hotspots_hideout(states)

    counts = views.count_units(units)
    if _changed("counts", [counts, len(gaps)], digests, new):
        out["counts"] = panels.render_counts(counts, len(gaps))
    if _changed("gaps", [gaps, live.tasked, can_act], digests, new):
        out["gaps"] = panels.render_gaps(gaps, can_act, live.tasked)
        out["gap_badge"] = str(len(gaps))
        out["gap_badge_class"] = "pw-badge" if gaps else "pw-badge pw-badge-none"
    if _changed("alarms", [alarms, can_act], digests, new):
        out["alarms"], out["alarms_class"] = panels.render_alarms(alarms, can_act)
    unit_list = views.unit_rows(units, search or "")
    if _changed("unit_list", unit_list, digests, new):
        out["unit_list"] = panels.render_units(*unit_list)
    lost = views.lost_rows(units, zone)
    if _changed("lost", lost, digests, new):
        out["lost"] = panels.render_lost(lost)
        out["lost_tab"] = f"Lost ({len(lost)})"

    problems = degraded_messages(deps, snapshot, stats.last_message_ts, now)
    if _changed("degraded", problems, digests, new):
        out["degraded"], out["degraded_class"] = panels.render_degraded(problems)
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
    age = views.coverage_age(snapshot, now)
    if age is None:
        out.append("Coverage has not been evaluated yet: hotspot states show no data. "
                   "Is the coverage evaluator running (patrolwatch ingest)?")
    elif age > deps.coverage_max_age_s:
        out.append(f"Coverage last evaluated {duration_text(age)} ago: hotspot states show no "
                   "data and gaps are hidden. Is the coverage evaluator running?")
    return out


def slow(deps: Deps) -> tuple[Any, Any, Any]:
    """Return the dosage table rows and the predictability warning (every few seconds)."""
    try:
        snapshot = deps.store.coverage()
    except redis.RedisError:
        return no_update, no_update, no_update
    lines = views.predictability_lines(snapshot)
    warning, cls = panels.render_predictability(lines)
    return views.dosage_rows(snapshot), warning, cls


def dosage_download(deps: Deps, now: float) -> Any:
    """Return the dosage table as a CSV download."""
    try:
        snapshot = deps.store.coverage()
    except redis.RedisError:
        return no_update
    stamp = datetime.fromtimestamp(now, deps.settings.zone).strftime("%Y%m%d-%H%M")
    return {"content": views.dosage_csv(views.dosage_rows(snapshot)),
            "filename": f"dosage-{stamp}.csv", "type": "text/csv"}


def hotspot_panel(deps: Deps, hotspot_id: str | None, now: float,
                  can_task: bool = False) -> tuple[Any, Any]:
    """Return the chosen hotspot's panel (with units to send) and its 24 h presence timeline."""
    hotspot = deps.hotspots.by_id.get(hotspot_id or "")
    zone = deps.settings.zone
    if hotspot is None:
        return panels.render_hotspot(None), _empty_figure()
    try:
        snapshot = deps.store.coverage()
        visits = deps.store.visits(hotspot.id, now - DAY_S, now,
                                   min_minutes=hotspot.min_visit_minutes)
        choices = taskviews.unit_choices(suggestions_for(deps, hotspot.centroid, now),
                                         deps.callsigns)
    except redis.RedisError as exc:
        return [f"Live store unreachable ({type(exc).__name__}): try again shortly."], no_update
    state = views.hotspot_states(snapshot, [hotspot.id], now, deps.coverage_max_age_s)[hotspot.id]
    usable = views.coverage_usable(snapshot, now, deps.coverage_max_age_s)
    entry = (snapshot or {}).get("hotspots", {}).get(hotspot.id) if usable else None
    detail = views.hotspot_detail(hotspot, entry, state, now=now, zone=zone,
                                  callsigns=deps.callsigns)
    figure = panels.timeline_figure(visits, now - DAY_S, now, zone, deps.callsigns)
    send = taskpanels.hotspot_units(hotspot.id, choices, can_task)
    return [*panels.render_hotspot(detail), html.Div(send, className="pw-send")], figure


def suggestions_for(deps: Deps, where: tuple[float, float], now: float,
                    limit: int = 3) -> list[Suggestion]:
    """Return the units that could go to a place now, soonest first (reads Redis)."""
    rows = deps.store.live_rows()
    units = unit_states(rows, deps.roster, now, deps.settings.stale_after_s)
    busy = {str(t.get("unit")) for t in deps.store.open_taskings()}
    return suggest_units(where[0], where[1], units, deps.speeds, busy, now,
                         deps.settings.stale_after_s, limit=limit)


def _empty_figure() -> go.Figure:
    fig = go.Figure()
    fig.update_layout(height=220, paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="#111827",
                      margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      xaxis={"visible": False}, yaxis={"visible": False})
    return fig


def select_hotspot(deps: Deps, trigger: Any, picked: str | None,
                   clicked: dict[str, Any] | None) -> tuple[Any, Any, Any]:
    """Return (chosen hotspot, map viewport, side tab) after a gap, map or picker choice."""
    if isinstance(trigger, dict) and trigger.get("type") == ids.GAP_ITEM:
        chosen = str(trigger.get("hotspot"))
    elif trigger == ids.HOTSPOTS:
        chosen = str(((clicked or {}).get("properties") or {}).get("id", ""))
        # The user is looking at it already: keep the view where it is.
        return (chosen if chosen in deps.hotspots.by_id else no_update), no_update, ids.TAB_HOTSPOT
    elif trigger == ids.HOTSPOT_PICK and picked:
        chosen = picked
    else:
        return no_update, no_update, no_update
    hotspot = deps.hotspots.by_id.get(chosen)
    if hotspot is None:
        return no_update, no_update, no_update
    lat, lon = hotspot.centroid
    return chosen, mapdata.viewport(lat, lon), ids.TAB_HOTSPOT


def fly_to_unit(trigger: Any, clicks: Any, units_data: dict[str, Any] | None) -> Any:
    """Return a viewport centred on a clicked unit, from the positions the map already has."""
    if not isinstance(trigger, dict) or trigger.get("type") != ids.UNIT_ITEM or not clicks:
        return no_update
    for feature in (units_data or {}).get("features", []):
        if feature["properties"]["id"] == trigger.get("unit"):
            lon, lat = feature["geometry"]["coordinates"]
            return mapdata.viewport(lat, lon, mapdata.UNIT_ZOOM)
    return no_update
