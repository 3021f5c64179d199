"""The control-room page: map with legend on the left, counts, gaps and tabs on the right."""

from __future__ import annotations

from typing import Any

import dash_leaflet as dl
from dash import dcc, html
from dash.dash_table.DataTable import DataTable

from dashboard import ids, mapdata, taskpanels
from dashboard.handlers import Deps, hotspots_hideout
from dashboard.palette import HOTSPOT_LOOK, LOST_COLOUR, LOST_LABEL, STATUS_LOOK
from dashboard.views import DOSAGE_COLUMNS
from patrolwatch.core.model import Status

SLOW_TICK_MS = 10_000
TASK_TICK_MS = 3_000  # taskings and the audit log: a crew's answer shows within seconds
EMPTY = {"type": "FeatureCollection", "features": []}


def js(name: str) -> dict[str, str]:
    """Refer to a function in assets/patrolwatch.js."""
    return {"variable": f"patrolwatch.{name}"}


def legend() -> html.Div:
    """Return the map legend: unit statuses and hotspot states."""
    units = [
        html.Div([html.Span(className="pw-legend-dot", style={"background": look.colour}),
                  look.label], className="pw-legend-row")
        for status, look in STATUS_LOOK.items() if status is not Status.OFF_DUTY
    ]
    units.append(html.Div([html.Span(className="pw-legend-dot pw-legend-lost",
                                     style={"borderColor": LOST_COLOUR}), LOST_LABEL],
                          className="pw-legend-row"))
    areas = [
        html.Div([html.Span(className=f"pw-legend-area pw-legend-{state}",
                            style={"borderColor": look.colour,
                                   "background": "transparent" if state == "inactive"
                                   else look.colour + "55"}),
                  look.label], className="pw-legend-row", title=look.meaning)
        for state, look in HOTSPOT_LOOK.items()
    ]
    return html.Div([html.Div("Units", className="pw-legend-title"), *units,
                     html.Div("Hotspots", className="pw-legend-title"), *areas],
                    className="pw-legend", id="legend")


def map_panel(deps: Deps) -> html.Div:
    """Return the map: tiles, hotspot areas, one units layer, legend (tiles are optional)."""
    s = deps.settings
    states = {h.id: "no_data" for h in deps.hotspots.hotspots}
    return html.Div([
        dl.Map(
            id=ids.MAP, center=[s.map_center_lat, s.map_center_lon], zoom=s.map_zoom,
            zoomControl=True, preferCanvas=True, style={"width": "100%", "height": "100%"},
            children=[
                dl.TileLayer(url=s.tile_url, attribution=s.tile_attribution, maxZoom=19),
                dl.GeoJSON(id=ids.HOTSPOTS, data=mapdata.hotspot_layer_data(deps.hotspots),
                           hideout=hotspots_hideout(states), style=js("hotspots.style"),
                           pointToLayer=js("hotspots.pointToLayer"),
                           onEachFeature=js("hotspots.onEachFeature")),
                dl.GeoJSON(id=ids.UNITS, data=EMPTY, hideout=mapdata.units_hideout(deps.roster),
                           pointToLayer=js("units.pointToLayer"),
                           disableDefaultEventHandlers=True),
                dl.ScaleControl(position="bottomright", imperial=False),
            ],
        ),
        legend(),
    ], className="pw-map")


def side_panel(deps: Deps, can_act: bool = False) -> html.Div:
    """Return the side panel: big counts, gap list, warnings and the tabs."""
    hotspot_options = [{"label": f"{h.name} (P{h.priority})", "value": h.id}
                       for h in sorted(deps.hotspots.hotspots, key=lambda h: (h.priority, h.name))]
    tabs = dcc.Tabs(id=ids.TABS, value=ids.TAB_HOTSPOT, className="pw-tabs", children=[
        dcc.Tab(label="Hotspot", value=ids.TAB_HOTSPOT, children=[
            dcc.Dropdown(id=ids.HOTSPOT_PICK, options=hotspot_options, placeholder="Pick a hotspot",
                         className="pw-pick"),
            html.Div(id=ids.HOTSPOT_PANEL),
            dcc.Graph(id=ids.TIMELINE, config={"displayModeBar": False},
                      style={"height": "220px"}),
        ]),
        dcc.Tab(label="Units", value=ids.TAB_UNITS, children=[
            dcc.Input(id=ids.SEARCH, type="search", debounce=False, className="pw-search",
                      placeholder="Search callsign, id, team or status"),
            html.Div(id=ids.UNIT_LIST, className="pw-list"),
        ]),
        dcc.Tab(id=ids.LOST_TAB, label="Lost", value=ids.TAB_LOST, children=[
            html.Div(id=ids.LOST_LIST, className="pw-list"),
        ]),
        dcc.Tab(label="Dosage", value=ids.TAB_DOSAGE, children=[
            html.Div([html.Span("Dosage for the current operation", className="pw-h3"),
                      html.Button("Download CSV", id=ids.DOSAGE_CSV, n_clicks=0,
                                  className="pw-button")], className="pw-row"),
            DataTable(
                id=ids.DOSAGE_TABLE, data=[], sort_action="native", page_size=50,
                columns=[{"name": label, "id": key} for key, label in DOSAGE_COLUMNS],
                style_table={"overflowX": "auto"},
                style_header={"backgroundColor": "#1f2937", "color": "#e5e7eb",
                              "fontWeight": "bold", "whiteSpace": "normal"},
                style_cell={"backgroundColor": "#111827", "color": "#e5e7eb",
                            "border": "1px solid #374151", "fontSize": "14px",
                            "fontFamily": "inherit", "padding": "4px 6px"},
                style_data_conditional=_compliance_colours(),
            ),
            dcc.Download(id=ids.DOSAGE_DOWNLOAD),
        ]),
        dcc.Tab(id=ids.TASKINGS_TAB, label="Taskings", value=ids.TAB_TASKINGS, children=[
            html.Div(id=ids.TASKINGS, className="pw-list"),
        ]),
        dcc.Tab(label="Audit", value=ids.TAB_AUDIT, children=[
            html.Div(id=ids.AUDIT, className="pw-list"),
        ]),
    ])
    optimise = ([html.Button("Optimise all gaps", id=ids.OPTIMISE, n_clicks=0,
                             className="pw-button", title="Plan one unit per gap, then confirm")]
                if can_act else [])
    return html.Div([
        html.Div(id=ids.COUNTS, className="pw-counts"),
        html.Div([html.Span([html.Span("Gaps in presence", className="pw-h2"),
                             html.Span("0", id=ids.GAP_BADGE, className="pw-badge pw-badge-none")],
                            className="pw-row-left"),
                  *optimise],
                 className="pw-row", id=ids.GAP_HEAD),
        html.Div(id=ids.GAPS, className="pw-gaps"),
        html.Div(id=ids.PREDICTABILITY, className="pw-predictable pw-hidden"),
        tabs,
    ], className="pw-side")


def _compliance_colours() -> list[dict[str, Any]]:
    return [
        {"if": {"filter_query": "{compliance_pct} < 50", "column_id": "compliance_pct"},
         "backgroundColor": "#7f1d1d", "fontWeight": "bold"},
        {"if": {"filter_query": "{compliance_pct} >= 50 && {compliance_pct} < 90",
                "column_id": "compliance_pct"}, "backgroundColor": "#78350f"},
        {"if": {"filter_query": "{compliance_pct} >= 90", "column_id": "compliance_pct"},
         "backgroundColor": "#14532d"},
    ]


def supervisor_parts() -> list[Any]:
    """Return the dialogs and memory only supervisors' pages hold (never a viewer's)."""
    return [taskpanels.task_dialog(), taskpanels.plan_dialog(),
            dcc.Store(id=ids.TASK_PENDING), dcc.Store(id=ids.PLAN)]


def page(deps: Deps, can_act: bool = False, who: Any = None) -> html.Div:
    """Return the whole control-room page; ``can_act`` adds the supervisor's controls."""
    return html.Div([
        html.Header([
            html.Span("PatrolWatch", className="pw-title"),
            html.Span("control room", className="pw-subtitle"),
            html.Span(id=ids.FEED, className="pw-feed"),
            html.Span("Click anywhere to turn on the emergency alarm sound", id=ids.SOUND_HINT,
                      className="pw-sound-hint"),
            html.Span(who, id=ids.WHO, className="pw-who"),
            html.Span(id=ids.CLOCK, className="pw-clock"),
        ], className="pw-header"),
        html.Div(id=ids.EMERGENCY, className="pw-banner pw-emergency pw-hidden",
                 role="alert"),
        html.Div(id=ids.DEGRADED, className="pw-banner pw-degraded pw-hidden", role="status"),
        *([html.Div(id=ids.TOAST, className="pw-toasts")] if can_act else []),
        html.Main([map_panel(deps), side_panel(deps, can_act)], className="pw-body"),
        dcc.Interval(id=ids.TICK, interval=deps.settings.refresh_ms),
        dcc.Interval(id=ids.SLOW_TICK, interval=SLOW_TICK_MS),
        dcc.Interval(id=ids.TASK_TICK, interval=TASK_TICK_MS),
        dcc.Store(id=ids.DIGESTS, data={}),
        dcc.Store(id=ids.TASK_DIGESTS, data={}),
        *(supervisor_parts() if can_act else []),
    ], className="pw-page")
