"""Dash components for coverage: the gap list, hotspot panel and timeline, predictability."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
from dash import html

from dashboard import ids
from dashboard.coverage.view import GapRow, HotspotDetail
from dashboard.palette import HOTSPOT_LOOK
from dashboard.redeploy.components import gap_units
from dashboard.redeploy.view import UnitChoice
from dashboard.times import local_clock
from dashboard.widgets import Children, chip


def render_gaps(rows: Sequence[GapRow], can_task: bool = False,
                tasked: Mapping[str, Sequence[str]] | None = None) -> Children:
    """Return the gap list: per gap a button that shows the hotspot, then its units.

    Under each gap: units already tasked there, then the suggested units with distance
    and ETA, and a Task button each when ``can_task`` (supervisors and admins).
    """
    if not rows:
        return [html.Div("No gaps: every active hotspot has recent presence.",
                         className="pw-empty")]
    tasked = tasked or {}
    out: Children = []
    for row in rows:
        out.append(html.Button(
            [html.Span(f"P{row.priority}", className=f"pw-prio pw-prio-{row.priority}"),
             html.Div([html.Div(row.name, className="pw-gap-name"),
                       html.Div(f"{row.headline} · {row.detail}", className="pw-gap-text"),
                       html.Div("presence gap" if row.kind == "presence_gap" else "shortfall",
                                className="pw-gap-sub")])],
            id={"type": ids.GAP_ITEM, "hotspot": row.hotspot}, n_clicks=0,
            className="pw-gap", title="Centre the map on this hotspot",
        ))
        choices = [UnitChoice(s.id, s.callsign, s.distance, s.eta) for s in row.suggestions]
        out.append(gap_units(row.hotspot, choices, tasked.get(row.hotspot, []), can_task))
    return out


def render_predictability(lines: Sequence[str]) -> tuple[Children, str]:
    """Return the predictability warning (DOMAIN.md) and its class (hidden when no flag)."""
    if not lines:
        return [], "pw-predictable pw-hidden"
    return ([html.B("Predictable patrol times"),
             html.Ul([html.Li(line) for line in lines]),
             html.Div("Every hot-spot trial randomised visit times: vary them.",
                      className="pw-muted")],
            "pw-predictable")


def render_hotspot(detail: HotspotDetail | None) -> Children:
    """Return the hotspot panel for the chosen hotspot."""
    if detail is None:
        return [html.Div("Click a hotspot on the map or a gap, or pick one above.",
                         className="pw-empty")]
    look = HOTSPOT_LOOK.get(detail.state, HOTSPOT_LOOK["no_data"])
    return [
        html.Div([html.Span(detail.name, className="pw-hotspot-name"),
                  chip(look.label, look.colour)], className="pw-hotspot-head"),
        html.Table(html.Tbody([html.Tr([html.Th(k), html.Td(v)]) for k, v in detail.lines]),
                   className="pw-facts"),
    ]


def timeline_figure(visits: Sequence[Mapping[str, Any]], since: float, now: float,
                    zone: ZoneInfo, callsigns: Mapping[str, str]) -> go.Figure:
    """Return a Gantt-like chart of presence at one hotspot over the last 24 h (local time)."""
    def local(ts: float) -> str:
        return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M:%S")

    fig = go.Figure()
    for qualifying, colour, name in ((True, "#16a34a", "qualifying visit"),
                                     (False, "#60a5fa", "shorter visit")):
        chosen = [v for v in visits if bool(v.get("qualifying")) is qualifying]
        if not chosen:
            continue
        fig.add_trace(go.Bar(
            orientation="h", name=name, marker_color=colour,
            y=[callsigns.get(str(v["unit"]), str(v["unit"])) for v in chosen],
            base=[local(float(v["start"])) for v in chosen],
            x=[max(30_000.0, (float(v["end"]) - float(v["start"])) * 1000) for v in chosen],
            customdata=[[local_clock(v["start"], zone), local_clock(v["end"], zone),
                         round(float(v.get("minutes") or 0), 1)] for v in chosen],
            hovertemplate="%{y}: %{customdata[0]}–%{customdata[1]} "
                          "(%{customdata[2]} min)<extra></extra>",
        ))
    fig.update_layout(
        height=220, margin={"l": 70, "r": 10, "t": 10, "b": 30}, barmode="overlay",
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="#111827", font={"color": "#e5e7eb"},
        showlegend=bool(visits), legend={"orientation": "h", "y": 1.12, "x": 0},
        xaxis={"type": "date", "range": [local(since), local(now)], "gridcolor": "#374151"},
        yaxis={"gridcolor": "#374151", "automargin": True},
    )
    if not visits:
        fig.add_annotation(text="No presence in the last 24 h", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5,
                           font={"size": 16, "color": "#fca5a5"})
    return fig
