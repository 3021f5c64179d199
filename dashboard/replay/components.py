"""The replay page: the map (same layers, colours and legend as the live map), the clock
controls, the hotspot-state timeline and the who-was-here panel."""

from __future__ import annotations

import math
import time
from typing import Any

import dash_leaflet as dl
import redis
from dash import dcc, html
from dash.dash_table.DataTable import DataTable

from dashboard import ids
from dashboard.control_room import basemap
from dashboard.control_room import view as live_view
from dashboard.control_room.components import EMPTY, js, legend
from dashboard.deps import Deps
from dashboard.replay import view
from dashboard.replay.view import Clock

REPLAY_PATH = "/replay"


def _when_input(id_: str, ts: float, zone: Any) -> dcc.Input:
    """Return a local date-time field (typed: a browser date picker is not in dcc)."""
    return dcc.Input(id=id_, type="text", placeholder="YYYY-MM-DD HH:MM", debounce=True,
                     value=view.local_input(ts, zone), className="pw-when", size="16")


def _map(deps: Deps) -> html.Div:
    s = deps.settings
    # The live map's base layer and notice: no credit to tiles that are not shown.
    base = basemap.base_layer(s.tile_url, s.tile_attribution, deps.basemap)
    tiles = ([dl.TileLayer(url=base.url, attribution=base.attribution, minZoom=0, maxZoom=20,
                           maxNativeZoom=base.max_native_zoom)] if base.url else [])
    notice = [html.Div(base.notice, className="pw-no-basemap")] if base.notice else []
    return html.Div([
        dl.Map(id=ids.REPLAY_MAP, center=[s.map_center_lat, s.map_center_lon], zoom=s.map_zoom,
               preferCanvas=True, style={"width": "100%", "height": "100%"}, children=[
                   *tiles,
                   dl.GeoJSON(id=ids.REPLAY_HOTSPOTS,
                              data=live_view.hotspot_layer_data(deps.hotspots),
                              hideout=live_view.hotspots_hideout(
                                  {h.id: "no_data" for h in deps.hotspots}),
                              style=js("hotspots.style"),
                              pointToLayer=js("hotspots.pointToLayer"),
                              onEachFeature=js("hotspots.onEachFeature")),
                   # The followed track: bright and thick, seen at city zoom on any base.
                   dl.Polyline(id=ids.REPLAY_TRACK, positions=[], color="#facc15", weight=6,
                               opacity=0.95, className="pw-track"),
                   # Markers glide from one frame to the next (assets/patrolwatch.js).
                   dl.GeoJSON(id=ids.REPLAY_UNITS, data=EMPTY,
                              hideout=live_view.units_hideout(deps.roster),
                              pointToLayer=js("replay.pointToLayer")),
                   dl.FeatureGroup([dl.EditControl(
                       id=ids.REPLAY_DRAW, position="topleft",
                       draw={"polyline": False, "rectangle": True, "circle": False,
                             "marker": False, "circlemarker": False, "polygon": True})]),
                   dl.ScaleControl(position="bottomright", imperial=False),
               ]),
        legend(),
        *notice,
    ], className="pw-map")


def _controls(deps: Deps, clock: Clock) -> html.Div:
    zone = deps.settings.zone
    steps = []
    for minutes in view.STEPS_MIN[::-1]:
        steps.append(html.Button(f"−{minutes} min", n_clicks=0, className="pw-button",
                                 id={"type": ids.REPLAY_STEP, "minutes": -minutes}))
    for minutes in view.STEPS_MIN:
        steps.append(html.Button(f"+{minutes} min", n_clicks=0, className="pw-button",
                                 id={"type": ids.REPLAY_STEP, "minutes": minutes}))
    return html.Div([
        html.Div([
            html.Label(["From ", _when_input(ids.REPLAY_FROM, clock.start, zone)],
                       className="pw-when-label"),
            html.Label(["to ", _when_input(ids.REPLAY_TO, clock.end, zone)],
                       className="pw-when-label"),
            html.Button("Load period", id=ids.REPLAY_LOAD, n_clicks=0, className="pw-button"),
        ], className="pw-replay-row"),
        html.Div(view.clock_label(clock, zone), id=ids.REPLAY_AT, className="pw-replay-at"),
        # No number box beside the scrubber: it would show the raw epoch seconds.
        dcc.Slider(id=ids.REPLAY_SCRUBBER, min=clock.start, max=clock.end, step=60,
                   value=clock.at, marks=None, updatemode="mouseup",
                   tooltip={"always_visible": False}, allow_direct_input=False),
        html.Div([
            html.Button("Play", id=ids.REPLAY_PLAY, n_clicks=0, className="pw-button"),
            dcc.Dropdown(id=ids.REPLAY_SPEED, clearable=False, value=clock.speed,
                         options=[{"label": f"{s}×", "value": s} for s in view.SPEEDS],
                         className="pw-replay-speed", searchable=False),
            *steps,
        ], className="pw-replay-row pw-replay-buttons"),
        html.Div([
            html.Button("Next gap opened", id=ids.REPLAY_NEXT_GAP, n_clicks=0,
                        className="pw-button"),
            html.Button("Next emergency", id=ids.REPLAY_NEXT_EMERGENCY, n_clicks=0,
                        className="pw-button"),
        ], className="pw-replay-row"),
        html.Div([html.Span(id=ids.REPLAY_FOLLOW, className="pw-replay-follow"),
                  html.Button("Stop following", id=ids.REPLAY_UNFOLLOW, n_clicks=0,
                              className="pw-button pw-replay-unfollow")],
                 className="pw-replay-row"),
        html.Div(id=ids.REPLAY_MESSAGE, className="pw-replay-message", role="status"),
        html.P("Click a unit to follow it and draw its track.", className="pw-hint"),
    ], className="pw-replay-controls")


def _who_panel(deps: Deps, clock: Clock) -> html.Div:
    zone = deps.settings.zone
    options = [{"label": h.name, "value": h.id}
               for h in sorted(deps.hotspots, key=lambda h: (h.priority, h.name))]
    return html.Div([
        html.Div("Who was here", className="pw-h2"),
        html.P("Pick a hotspot, or draw a polygon or rectangle on the map (the drawn shape "
               "wins); then a period.", className="pw-hint"),
        dcc.Dropdown(id=ids.WHO_HOTSPOT, options=options, placeholder="Pick a hotspot",
                     className="pw-pick"),
        html.Div([
            html.Label(["From ", _when_input(ids.WHO_FROM, clock.start, zone)],
                       className="pw-when-label"),
            html.Label(["to ", _when_input(ids.WHO_TO, clock.end, zone)],
                       className="pw-when-label"),
            html.Button("Who was here?", id=ids.WHO_ASK, n_clicks=0, className="pw-button"),
        ], className="pw-replay-row"),
        html.Div(id=ids.WHO_MESSAGE, role="status"),
        DataTable(id=ids.WHO_TABLE, data=[], sort_action="native", page_size=25,
                  columns=[{"name": n, "id": k} for k, n in (
                      ("unit", "Unit"), ("first", "First"), ("last", "Last"),
                      ("minutes", "Visit minutes"), ("visits", "Visits"))],
                  style_cell={"backgroundColor": "#111827", "color": "#e5e7eb",
                              "border": "1px solid #374151"}),
    ], className="pw-who-here")


def data_since(deps: Deps, now: float) -> float | None:
    """Return when the stored history of the default period starts (None: nothing, or no Redis).

    The first observed time in it (some unit reporting), else the first recorded hotspot state.
    """
    since = now - view.DEFAULT_PERIOD_S
    try:
        observed = deps.store.observed_intervals(since, now)
        oldest = deps.store.oldest_hotspot_state()
    except redis.RedisError:
        return None
    if observed:  # by event time: a device's buffered history counts from when it was
        return max(observed[0][0], since)
    return max(oldest, since) if math.isfinite(oldest) and oldest <= now else None


def page(deps: Deps, who: Any = None) -> html.Div:
    """Return the replay page (supervisors and admins)."""
    now = time.time()
    clock = view.default_clock(now, data_since(deps, now))
    return html.Div([
        html.Header([
            html.Span("PatrolWatch", className="pw-title"),
            html.Span("replay", className="pw-subtitle"),
            html.A("Control room", href="/", className="pw-link"),
            html.A("Operation report", href="/api/reports/operation", target="_blank",
                   className="pw-link"),
            html.Span(who, className="pw-who"),
        ], className="pw-header"),
        html.Main([_map(deps), html.Div([
            _controls(deps, clock),
            dcc.Graph(id=ids.REPLAY_TIMELINE, config={"displayModeBar": False}),
            _who_panel(deps, clock),
        ], className="pw-side pw-replay-side")], className="pw-body"),
        dcc.Interval(id=ids.REPLAY_TICK, interval=int(view.TICK_S * 1000), disabled=True),
        dcc.Store(id=ids.REPLAY_CLOCK, data=clock.to_store()),
        dcc.Store(id=ids.REPLAY_PERIOD, data={"start": clock.start, "end": clock.end}),
    ], className="pw-page")
