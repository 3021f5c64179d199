"""What the coverage controls do: dosage table and CSV, the hotspot panel, choosing a hotspot.

Reads Redis through the Store; a Redis failure leaves the screen as it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import plotly.graph_objects as go
import redis
from dash import html, no_update

from dashboard import changes, ids
from dashboard.access import PANEL_SCOPE_S, current_window_start, record_read_once
from dashboard.control_room import view as control_room_view
from dashboard.coverage import components, view
from dashboard.coverage.dosage import dosage_view
from dashboard.deps import Deps
from dashboard.redeploy import components as redeploy_components
from dashboard.redeploy import view as redeploy_view
from dashboard.redeploy.actions import suggestions_for

DAY_S = 86_400.0


def slow(deps: Deps, digests: dict[str, Any] | None) -> tuple[Any, Any, Any, Any]:
    """Return the dosage panel, the predictability warning and digests (unchanged: no_update)."""
    digests = digests or {}
    try:
        snapshot = deps.store.coverage()
    except redis.RedisError:
        return no_update, no_update, no_update, no_update
    lines = view.predictability_lines(snapshot)
    dosage = dosage_view(snapshot, deps.settings.zone)
    new = {"dosage": changes.digest(dosage), "predictability": changes.digest(lines)}
    table = (components.render_dosage(dosage) if new["dosage"] != digests.get("dosage")
             else no_update)
    warning, cls = ((no_update, no_update) if new["predictability"] == digests.get(
        "predictability") else components.render_predictability(lines))
    return table, warning, cls, new


def dosage_download(deps: Deps, now: float) -> Any:
    """Return the dosage table as a CSV download."""
    try:
        snapshot = deps.store.coverage()
    except redis.RedisError:
        return no_update
    stamp = datetime.fromtimestamp(now, deps.settings.zone).strftime("%Y%m%d-%H%M")
    return {"content": view.dosage_csv(view.dosage_rows(snapshot)),
            "filename": f"dosage-{stamp}.csv", "type": "text/csv"}


def hotspot_panel(deps: Deps, hotspot_id: str | None, now: float,
                  can_task: bool = False, user: str = "anonymous", history: bool = True
                  ) -> tuple[Any, Any]:
    """Return the chosen hotspot's panel (with units to send) and its presence timeline.

    Supervisors and admins (``history``) see 24 h, logged once an hour per user and hotspot
    (``access.PANEL_SCOPE_S``); viewers see the current active window only.
    """
    hotspot = deps.hotspots.by_id.get(hotspot_id or "")
    zone = deps.settings.zone
    if hotspot is None:
        return components.render_hotspot(None), _empty_figure()
    try:
        snapshot = deps.store.coverage()
        window = current_window_start((snapshot or {}).get("hotspots", {}).get(hotspot.id), now)
        since = now - DAY_S if history else window
        if since < window:
            record_read_once(deps.store, user, "hotspot_panel", hotspot.id, PANEL_SCOPE_S,
                             hotspot=hotspot.id, since=now - DAY_S, until=now)
        visits = deps.store.visits(hotspot.id, since, now,
                                   min_minutes=hotspot.min_visit_minutes)
        choices = redeploy_view.unit_choices(suggestions_for(deps, hotspot.centroid, now),
                                         deps.callsigns)
        tasked = redeploy_view.tasked_by_hotspot(deps.store.open_taskings(),
                                                 deps.callsigns).get(hotspot.id, [])
    except redis.RedisError as exc:
        return [f"Live store unreachable ({type(exc).__name__}): try again shortly."], no_update
    state = view.hotspot_states(snapshot, [hotspot.id], now, deps.coverage_max_age_s)[hotspot.id]
    usable = view.coverage_usable(snapshot, now, deps.coverage_max_age_s)
    entry = (snapshot or {}).get("hotspots", {}).get(hotspot.id) if usable else None
    detail = view.hotspot_detail(hotspot, entry, state, now=now, zone=zone,
                                  callsigns=deps.callsigns)
    # Not active now: an empty last hour rather than a timeline of no width.
    shown_from = since if since < now - 60 else now - 3600
    figure = components.timeline_figure(visits, shown_from, now, zone, deps.callsigns)
    send = redeploy_components.hotspot_units(hotspot.id, choices, can_task)
    already = ([html.Div(f"Already tasked here: {', '.join(tasked)}", className="pw-tasked",
                         id="hotspot-tasked")] if tasked else [])
    return [*components.render_hotspot(detail), *already,
            html.Div(send, className="pw-send")], figure


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
    return chosen, control_room_view.viewport(lat, lon), ids.TAB_HOTSPOT
