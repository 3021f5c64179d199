"""Dash components for the side panel and banners, built from the view models in views.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
from dash import html

from dashboard import ids
from dashboard.palette import HOTSPOT_LOOK, LOST_LABEL, LOST_ON_DARK, STATUS_LOOK
from dashboard.taskviews import UnitChoice
from dashboard.times import local_clock
from dashboard.views import Alarm, Counts, GapRow, HotspotDetail, LostRow, UnitRow
from patrolwatch.core.model import Status

Children = list[Any]


def chip(label: str, colour: str, hollow: bool = False) -> html.Span:
    """Return a small coloured status chip."""
    style = ({"border": f"2px dashed {colour}", "color": colour} if hollow
             else {"background": colour})
    return html.Span(label, className="pw-chip", style=style)


def ago_span(ts: float | None) -> html.Span:
    """Return a span the browser keeps saying "2 min ago" in (assets/patrolwatch.js).

    Relative times change every second; rendering them here would re-send every list
    every second. The span carries the time and the browser writes the words.
    """
    data = {"data-ts": "" if ts is None else f"{ts:.3f}"}
    return html.Span(className="pw-ago", **data)  # type: ignore[arg-type]  # data-* is allowed


def render_counts(counts: Counts, gaps: int) -> Children:
    """Return the big numbers and one chip per status."""
    big = [
        ("Units", counts.total, "#e5e7eb", "pw-count-total"),
        ("Emergency", counts.emergencies, STATUS_LOOK[Status.EMERGENCY].colour,
         "pw-count-emergency"),
        (LOST_LABEL, counts.lost, LOST_ON_DARK, "pw-count-lost"),
        ("Gaps", gaps, HOTSPOT_LOOK["gap"].colour, "pw-count-gaps"),
    ]
    tiles = [
        html.Div([html.Div(str(n), className="pw-big", style={"color": colour}),
                  html.Div(label, className="pw-big-label")],
                 className="pw-tile" + (" pw-tile-alert" if n and label != "Units" else ""),
                 id=tile_id)
        for label, n, colour, tile_id in big
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

    Loud (flashing, with the alarm tone) while any EMERGENCY is unacknowledged; quieter once
    a supervisor has acknowledged every one, until the units' statuses change.
    """
    if not alarms:
        return [], "pw-banner pw-emergency pw-hidden"
    loud = [a for a in alarms if a.acked_by is None]
    shown = (loud + [a for a in alarms if a.acked_by is not None])[:4]
    items: Children = [html.Span("EMERGENCY", className="pw-emergency-word")]
    for a in shown:
        items.append(html.Button(
            [html.B(a.callsign), f" {a.id} · {a.team} · since {a.since_clock} (",
             ago_span(a.since), ")",
             " · LOST CONTACT" if a.lost else ""],
            id={"type": ids.UNIT_ITEM, "unit": a.id}, className="pw-alarm-unit", n_clicks=0,
            title="Show on the map",
        ))
        if a.acked_by is not None:
            items.append(html.Span(f"acknowledged by {a.acked_by} at {a.acked_clock}",
                                   className="pw-acked"))
        elif can_ack:
            items.append(html.Button("Acknowledge", id={"type": ids.ACK_ITEM, "unit": a.id},
                                     n_clicks=0, className="pw-ack",
                                     title=f"Acknowledge the EMERGENCY of {a.callsign}"))
    if len(alarms) > len(shown):
        items.append(html.Span(f"and {len(alarms) - len(shown)} more"))
    cls = "pw-banner pw-emergency pw-emergency-loud" if loud else "pw-banner pw-emergency-acked"
    return items, cls


def render_degraded(messages: Sequence[str]) -> tuple[Children, str]:
    """Return the degraded banner (Redis down, feed stale, evaluator silent) and its class."""
    if not messages:
        return [], "pw-banner pw-degraded pw-hidden"
    return [html.Div(m) for m in messages], "pw-banner pw-degraded"


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


def task_button(hotspot: str, unit: str, at: str, callsign: str) -> html.Button:
    """Return the "Task" button for one suggested unit (``at``: gap list or hotspot panel)."""
    return html.Button("Task", id={"type": ids.TASK_ITEM, "hotspot": hotspot, "unit": unit,
                                   "at": at},
                       n_clicks=0, className="pw-task", title=f"Send {callsign} here")


def choice_rows(choices: Sequence[UnitChoice], hotspot: str, at: str,
                can_task: bool) -> Children:
    """Return one line per suggested unit: callsign, distance, ETA, and Task for supervisors."""
    return [
        html.Div([html.Span(c.callsign, className="pw-callsign"),
                  html.Span(f"{c.distance} · ETA {c.eta}", className="pw-choice-eta"),
                  *([task_button(hotspot, c.unit, at, c.callsign)] if can_task else [])],
                 className="pw-choice")
        for c in choices
    ]


def gap_units(hotspot: str, choices: Sequence[UnitChoice], tasked: Sequence[str],
              can_task: bool) -> html.Div:
    """Return what goes under a gap: units already tasked there, then suggested units."""
    lines: Children = []
    if tasked:
        lines.append(html.Div("Tasked: " + ", ".join(tasked), className="pw-tasked"))
    if choices:
        lines += choice_rows(choices, hotspot, "gap", can_task)
    elif not tasked:
        lines.append(html.Div("No available unit to suggest", className="pw-muted"))
    return html.Div(lines, className="pw-gap-units")



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
