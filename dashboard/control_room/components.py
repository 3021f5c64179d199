"""The control-room page (map with legend, counts, gaps, tabs) and its unit and alarm panels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_leaflet as dl
from dash import dcc, html

from dashboard import ids
from dashboard.alarms import components as alarm_components
from dashboard.control_room import basemap, view
from dashboard.control_room.view import Alarm, Counts, LostRow, UnitRow, hotspots_hideout
from dashboard.deps import Deps
from dashboard.experiments.components import arm_labels, header_link
from dashboard.palette import HOTSPOT_LOOK, LOST_COLOUR, LOST_LABEL, LOST_ON_DARK, STATUS_LOOK
from dashboard.redeploy import components as redeploy_components
from dashboard.widgets import Children, ago_span, chip
from patrolwatch.core.model import Status

SLOW_TICK_MS = 10_000


TASK_TICK_MS = 3_000  # taskings and the audit log: a crew's answer shows within seconds


EMPTY = {"type": "FeatureCollection", "features": []}  # an empty layer (replay starts so)


def js(name: str) -> dict[str, str]:
    """Refer to a function in assets/patrolwatch.js."""
    return {"variable": f"patrolwatch.{name}"}


def legend() -> html.Details:
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
    # Folded on a phone (assets/patrolwatch.js), open elsewhere; a tap on "Legend" toggles.
    return html.Details([html.Summary("Legend", className="pw-legend-summary"),
                         html.Div("Units", className="pw-legend-title"), *units,
                         html.Div("Hotspots", className="pw-legend-title"), *areas],
                        className="pw-legend", id="legend", open=True)


def map_panel(deps: Deps) -> html.Div:
    """Return the map: base layer, hotspot areas, one units layer, legend (tiles are optional)."""
    s = deps.settings
    states = {h.id: "no_data" for h in deps.hotspots.hotspots}
    base = basemap.base_layer(s.tile_url, s.tile_attribution, deps.basemap)
    tiles = ([dl.TileLayer(url=base.url, attribution=base.attribution, minZoom=0, maxZoom=20,
                           maxNativeZoom=base.max_native_zoom, id=ids.BASEMAP)]
             if base.url else [])
    notice = ([html.Div(base.notice, className="pw-no-basemap", id=ids.NO_BASEMAP)]
              if base.notice else [])
    return html.Div([
        dl.Map(
            id=ids.MAP, center=[s.map_center_lat, s.map_center_lon], zoom=s.map_zoom,
            zoomControl=True, preferCanvas=True, style={"width": "100%", "height": "100%"},
            children=[
                *tiles,
                dl.GeoJSON(id=ids.HOTSPOTS, data=arm_labels(deps, view.hotspot_layer_data(
                               deps.hotspots)),  # experiment: arm and day in each name
                           hideout=hotspots_hideout(states), style=js("hotspots.style"),
                           pointToLayer=js("hotspots.pointToLayer"),
                           onEachFeature=js("hotspots.onEachFeature")),
                dl.ScaleControl(position="bottomright", imperial=False),
            ],
        ),
        legend(),
        *notice,
    ], className="pw-map")


def side_panel(deps: Deps, can_act: bool = False) -> html.Div:
    """Return the side panel: big counts, gap list, warnings and the tabs."""
    hotspot_options = [{"label": f"{h.name} (P{h.priority})", "value": h.id}
                       for h in sorted(deps.hotspots.hotspots, key=lambda h: (h.priority, h.name))]
    tabs = dcc.Tabs(id=ids.TABS, value=ids.TAB_HOTSPOT, className="pw-tabs",
                    parent_className="pw-tabs-parent", children=[
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
            html.Div([html.Div(id=ids.UNIT_PANEL),
                      html.Button("Close the unit's panel", id=ids.UNIT_CLOSE, n_clicks=0,
                                  className="pw-button pw-button-quiet pw-unit-close")],
                     className="pw-unit-box"),
            html.Div(id=ids.UNIT_LIST, className="pw-list"),
        ]),
        dcc.Tab(id=ids.LOST_TAB, label="Lost", value=ids.TAB_LOST, children=[
            html.Div(id=ids.LOST_LIST, className="pw-list"),
        ]),
        dcc.Tab(label="Dosage", value=ids.TAB_DOSAGE, children=[
            html.Div([html.Span("Dosage: planned against delivered", className="pw-h3"),
                      html.Button("Download CSV", id=ids.DOSAGE_CSV, n_clicks=0,
                                  className="pw-button"),
                      *([html.A("Operation report", href="/api/reports/operation",
                                target="_blank", className="pw-button", id="dosage-report"),
                         html.A("Replay", href="/replay", className="pw-button")]
                        if can_act else [])], className="pw-row"),
            html.Div(id=ids.DOSAGE_TABLE, className="pw-dosage-panel"),
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
                  html.Span("paused while the pointer is on the list", id=ids.GAP_HELD,
                            className="pw-gap-held pw-invisible"),
                  *optimise],
                 className="pw-row", id=ids.GAP_HEAD),
        html.Div(id=ids.GAPS, className="pw-gaps"),
        html.Div(id=ids.PREDICTABILITY, className="pw-predictable pw-hidden"),
        tabs,
    ], className="pw-side")


def supervisor_parts() -> list[Any]:
    """Return the dialogs and memory only supervisors' pages hold (never a viewer's)."""
    return [redeploy_components.task_dialog(), redeploy_components.plan_dialog(),
            dcc.Store(id=ids.TASK_PENDING), dcc.Store(id=ids.PLAN)]


def page(deps: Deps, can_act: bool = False, who: Any = None) -> html.Div:
    """Return the whole control-room page; ``can_act`` adds the supervisor's controls."""
    return html.Div([
        html.Header([
            html.Span("PatrolWatch", className="pw-title"),
            html.Span("control room", className="pw-subtitle"),
            header_link(deps),  # experiment: today's arms, a link to the allocation
            html.Span(id=ids.FEED, className="pw-feed"),
            html.Span("Click anywhere to turn on the emergency alarm sound", id=ids.SOUND_HINT,
                      className="pw-sound-hint"),
            html.Span(who, id=ids.WHO, className="pw-who"),
            html.Span(id=ids.CLOCK, className="pw-clock"),
        ], className="pw-header"),
        html.Div(id=ids.EMERGENCY, className="pw-banner pw-emergency pw-hidden",
                 role="alert"),
        alarm_components.banner(),  # alarms of every other kind (dashboard/alarms/)
        html.Div(id=ids.DEGRADED, className="pw-banner pw-degraded pw-hidden", role="status"),
        *([html.Div(id=ids.TOAST, className="pw-toasts")] if can_act else []),
        html.Main([map_panel(deps), side_panel(deps, can_act)], className="pw-body"),
        dcc.Interval(id=ids.TICK, interval=deps.settings.refresh_ms),
        dcc.Interval(id=ids.SLOW_TICK, interval=SLOW_TICK_MS),
        dcc.Interval(id=ids.TASK_TICK, interval=TASK_TICK_MS),
        dcc.Store(id=ids.DIGESTS, data={}),
        dcc.Store(id=ids.SLOW_DIGESTS, data={}),
        dcc.Store(id=ids.UNIT_PICK), dcc.Store(id=ids.UNIT_DIGEST),
        dcc.Store(id=ids.GAP_HOLD, data=None),
        dcc.Store(id=ids.GAPS_DATA),
        # The live picture: units drawn by assets/live.js, not re-rendered by dash-leaflet
        dcc.Store(id=ids.PICTURE), dcc.Store(id=ids.PICTURE_HAVE),
        dcc.Store(id=ids.UNITS_HIDEOUT, data={**view.units_hideout(deps.roster),
                                              "zoom": view.UNIT_ZOOM}),
        dcc.Store(id=ids.TASK_DIGESTS, data={}),
        *(supervisor_parts() if can_act else []),
    ], className="pw-page")


NEUTRAL = "#94a3b8"  # a zero is not an alarm: grey, not red


def render_counts(counts: Counts, gaps: int, unknown: int = 0) -> Children:
    """Return the big numbers and one chip per status.

    Zeros under Emergency, Lost and Gaps are neutral grey: a big red 0 reads as an alarm.
    While no gap is open but some active hotspots' coverage is not known, Gaps shows "?"
    and says so: zero would be an all-clear nobody can give yet.
    """
    gap_text, gap_label = str(gaps), "Gaps"
    if not gaps and unknown:
        gap_text, gap_label = "?", "Gaps not known"
    big = [
        ("Units", str(counts.total), counts.total, "#e5e7eb", "pw-count-total", "Units"),
        ("Emergency", str(counts.emergencies), counts.emergencies,
         STATUS_LOOK[Status.EMERGENCY].colour, "pw-count-emergency", "Emergency"),
        (LOST_LABEL, str(counts.lost), counts.lost, LOST_ON_DARK, "pw-count-lost", LOST_LABEL),
        ("Gaps", gap_text, gaps, HOTSPOT_LOOK["gap"].colour, "pw-count-gaps", gap_label),
    ]
    tiles = [
        html.Div([html.Div(text, className="pw-big",
                           style={"color": colour if n or label == "Units" else NEUTRAL}),
                  html.Div(shown, className="pw-big-label")],
                 className="pw-tile" + (" pw-tile-alert" if n and label != "Units" else "")
                 + (" pw-tile-zero" if not n and label != "Units" else ""),
                 id=tile_id, title=shown)
        for label, text, n, colour, tile_id, shown in big
    ]
    statuses = [
        html.Div([html.Span(className="pw-dot", style={"background": look.colour}),
                  html.Span(look.label, className="pw-status-label"),
                  html.Span(str(counts.by_status[status]), className="pw-status-n")],
                 className="pw-status", id=f"count-{status.value}")
        for status, look in STATUS_LOOK.items() if status is not Status.EMERGENCY
    ]
    extra = ([html.Div(f"{counts.not_reporting} roster units not reporting",
                       className="pw-muted")] if counts.not_reporting else [])
    return [html.Div(tiles, className="pw-tiles"), html.Div(statuses, className="pw-statuses"),
            *extra]


def render_alarms(alarms: Sequence[Alarm], can_ack: bool = False) -> tuple[Children, str]:
    """Return the emergency banner's content and class (hidden when there is none).

    Every emergency is its own card, holding its unit, its time and its own Acknowledge
    button or "acknowledged by" line, so nothing of one can be read as another's; all are
    shown (the banner scrolls past a few rows). Loud (flashing, with the alarm tone) while
    any is unacknowledged; quieter once a supervisor has acknowledged every one.
    """
    if not alarms:
        return [], "pw-banner pw-emergency pw-hidden"
    loud = [a for a in alarms if a.acked_by is None]
    cards: Children = []
    for a in alarms:
        if a.acked_by is not None:
            action: Any = html.Span(f"acknowledged by {a.acked_by} at {a.acked_clock}",
                                    className="pw-acked")
        elif can_ack:
            action = html.Button("Acknowledge", id={"type": ids.ACK_ITEM, "alarm": a.alarm_id},
                                 n_clicks=0, className="pw-ack",
                                 title=f"Acknowledge the EMERGENCY of {a.callsign}")
        else:
            action = html.Span("not acknowledged", className="pw-unacked")
        cards.append(html.Div([
            html.Button(
                [html.B(a.callsign), f" {a.id} · {a.team} · since {a.since_clock} (",
                 ago_span(a.since), ")", " · LOST CONTACT" if a.lost else ""],
                id={"type": ids.UNIT_ITEM, "unit": a.id}, className="pw-alarm-unit", n_clicks=0,
                title="Show on the map"),
            action,
        ], className="pw-alarm" + ("" if a.acked_by is None else " pw-alarm-done"),
            **{"data-alarm": a.alarm_id}))  # type: ignore[arg-type]  # data-* is allowed
    items: Children = [html.Span("EMERGENCY", className="pw-emergency-word"),
                       html.Div(cards, className="pw-alarms")]
    cls = "pw-banner pw-emergency pw-emergency-loud" if loud else "pw-banner pw-emergency-acked"
    return items, cls


def render_degraded(messages: Sequence[str]) -> tuple[Children, str]:
    """Return the degraded banner (Redis down, feed stale, evaluator silent) and its class."""
    if not messages:
        return [], "pw-banner pw-degraded pw-hidden"
    return [html.Div(m) for m in messages], "pw-banner pw-degraded"


def render_units(rows: Sequence[UnitRow], more: int) -> Children:
    """Return the searchable unit list."""
    if not rows:
        return [html.Div("No unit matches.", className="pw-empty")]
    out: Children = [
        html.Button(
            [html.Span(r.callsign, className="pw-callsign"),
             html.Span(f"{r.id} · {r.team}", className="pw-unit-meta"),
             chip(r.status, r.colour, hollow=r.lost),
             ago_span(r.last_seen)],
            id={"type": ids.UNIT_ITEM, "unit": r.id}, n_clicks=0, className="pw-unit-row",
        )
        for r in rows
    ]
    if more:
        out.append(html.Div(f"and {more} more: refine the search", className="pw-muted"))
    return out


def render_lost(rows: Sequence[LostRow]) -> Children:
    """Return the lost-contact list."""
    if not rows:
        return [html.Div("Every unit is in contact.", className="pw-empty")]
    return [
        html.Button(
            [html.Span(r.callsign, className="pw-callsign"),
             html.Span(f"{r.id} · {r.team} · was {r.last_status}", className="pw-unit-meta"),
             html.Span([ago_span(r.last_seen), f" ({r.at}) · {r.why}"], className="pw-lost-when")],
            id={"type": ids.UNIT_ITEM, "unit": r.id}, n_clicks=0,
            className="pw-unit-row pw-lost-row",
        )
        for r in rows
    ]
