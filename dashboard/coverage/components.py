"""Dash components for coverage: the gap list, hotspot panel and timeline, predictability."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
from dash import html

from dashboard import ids
from dashboard.coverage.dosage import DosageCell, DosageView
from dashboard.coverage.view import GapRow, HotspotDetail, Unknown
from dashboard.palette import HOTSPOT_LOOK
from dashboard.redeploy.components import gap_units
from dashboard.redeploy.view import UnitChoice
from dashboard.times import local_clock
from dashboard.widgets import Children, ago_span, chip


def render_unknown(unknown: Unknown) -> html.Div:
    """Return the note that coverage is not known yet for some hotspots, and why."""
    n = unknown.count
    some = "" if n == unknown.active else f" of {unknown.active}"
    head = (f"Coverage not known yet: {n}{some} active hotspot{'' if unknown.active == 1 else 's'}"
            f" {'has' if n == 1 else 'have'} no data")
    parts: Children
    if unknown.reason == "evaluator":
        parts = [head, " — the coverage evaluator has not reported lately "
                 "(is patrolwatch ingest running?)."]
    elif unknown.reason == "feed":
        parts = [head, " — no unit has reported lately: absence cannot be told from silence."]
    else:
        parts = [head, " — the feed started ", ago_span(unknown.feed_since)]
        if unknown.judged_after_min is not None:
            parts.append(f"; a hotspot is judged after {unknown.judged_after_min:.0f} min of data")
            if unknown.judged_clock is not None:
                parts.append(f" (from {unknown.judged_clock})")
            parts.append(", or as soon as a unit is there.")
        else:
            parts.append(".")
    return html.Div(parts, className="pw-unknown")


def render_gaps(rows: Sequence[GapRow], can_task: bool = False,
                tasked: Mapping[str, Sequence[str]] | None = None,
                unknown: Unknown | None = None) -> Children:
    """Return the gap list: per gap a button that shows the hotspot, then its units.

    Under each gap: units already tasked there, then the suggested units with distance
    and ETA, and a Task button each when ``can_task`` (supervisors and admins). While the
    coverage of some active hotspots is not known (``unknown``), it says so and why, and
    never "No gaps": silence is not presence.
    """
    note = [render_unknown(unknown)] if unknown is not None else []
    if not rows:
        if note:
            return note
        return [html.Div("No gaps: every active hotspot has recent presence.",
                         className="pw-empty")]
    tasked = tasked or {}
    out: Children = [*note]
    for row in rows:
        out.append(html.Button(
            [html.Span(f"P{row.priority}", className=f"pw-prio pw-prio-{row.priority}"),
             html.Div([html.Div(row.name, className="pw-gap-name"),
                       html.Div(gap_text(row), className="pw-gap-text"),
                       html.Div("presence gap" if row.kind == "presence_gap" else "shortfall",
                                className="pw-gap-sub")])],
            id={"type": ids.GAP_ITEM, "hotspot": row.hotspot}, n_clicks=0,
            className="pw-gap", title="Centre the map on this hotspot",
        ))
        choices = [UnitChoice(s.id, s.callsign, s.distance, s.eta) for s in row.suggestions]
        out.append(gap_units(row.hotspot, choices, tasked.get(row.hotspot, []), can_task))
    return out


def gap_text(row: GapRow) -> Children:
    """Return a gap's line: what is missing, for how long, how late (the browser writes times)."""
    parts: Children = [row.headline]
    if row.absent_since is not None:
        parts += [" (", ago_span(row.absent_since, "for"), ")"]
    if row.detail:
        parts.append(f" · {row.detail}")
    if row.overdue_since is not None:
        parts += [" · ", ago_span(row.overdue_since, "overdue")]
    return parts


def _dose(cell: DosageCell | None) -> html.Td:
    if cell is None or (cell.planned == 0 and cell.compliance_pct is None):
        return html.Td(html.Div("no window", className="pw-dose-big"),
                       className="pw-dose pw-dose-none")
    big = ("mostly unobserved" if cell.mostly_unobserved
           else "—" if cell.compliance_pct is None else f"{cell.compliance_pct} %")
    lines: Children = [html.Div(big, className="pw-dose-big"),
                       html.Div(f"{cell.delivered} of {cell.planned} visits"),
                       html.Div(f"{_minutes(cell.patrol_minutes)} patrol-min · "
                                f"{_minutes(cell.officer_minutes)} officer-min")]
    if cell.observed_minutes is not None:
        of = f" of {_minutes(cell.window_minutes)}" if cell.window_minutes is not None else ""
        lines.append(html.Div(f"observed {_minutes(cell.observed_minutes)}{of} min",
                              className="pw-dose-observed"))
    return html.Td(lines, className=f"pw-dose pw-dose-{cell.level}")


def _minutes(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def render_dosage(view: DosageView) -> Children:
    """Return the dosage panel: per hotspot, this shift and the operation week side by side.

    Three columns that wrap inside the panel (no sideways scrolling): compliance in large
    type, coloured, with delivered of planned visits, patrol- and officer-minutes and, when
    the evaluator reports it, the observed minutes; a mostly unobserved period says so.
    """
    if not view.lines:
        return [html.Div("No dosage yet: the evaluator computes it every minute.",
                         className="pw-empty")]
    head = html.Tr([html.Th("Hotspot"),
                    html.Th(["This shift", html.Div(f"since {view.shift_since}",
                                                    className="pw-dose-since")]),
                    html.Th(["Operation week", html.Div(f"since {view.week_since}",
                                                        className="pw-dose-since")])])
    body = [html.Tr([html.Td([html.Div(line.name, className="pw-dose-name"),
                              html.Div(f"P{line.priority} · {line.category}",
                                       className="pw-dose-cat")]),
                     _dose(line.shift), _dose(line.week)],
                    **{"data-hotspot": line.hotspot})  # type: ignore[arg-type]  # data-*
            for line in view.lines]
    return [html.Table([html.Thead(head), html.Tbody(body)], className="pw-dosage")]


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
