"""The alarm cards banner (control room) and the crew's "Are you OK?" box (/crew)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from dash import html

from dashboard import ids
from dashboard.alarms.view import Card
from dashboard.times import local_clock
from dashboard.widgets import ago_span

Children = list[Any]


def banner() -> html.Div:
    """Return the alarm cards' place on a control-room page (filled by its callback)."""
    return html.Div([html.Div(id=ids.RULE_ALARMS, className="pw-rule-alarms pw-hidden",
                              role="alert"),
                     html.Div(id=ids.RULE_ALARM_TOAST, className="pw-toasts")])


def render_cards(cards: Sequence[Card], zone: ZoneInfo, can_ack: bool) -> Children:
    """Return one card per alarm: kind, unit, detail, time, count, its own acknowledgement."""
    out: Children = []
    for c in cards:
        if c.acked_by is not None:
            action: Any = html.Span(f"acknowledged by {c.acked_by}", className="pw-acked")
        elif can_ack:
            action = html.Button("Acknowledge", id={"type": ids.RULE_ALARM_ACK,
                                                    "alarm": c.alarm_id},
                                 n_clicks=0, className="pw-ack",
                                 title=f"Acknowledge the {c.label} alarm of {c.callsign}")
        else:
            action = html.Span("not acknowledged", className="pw-unacked")
        look = ("pw-rule-alarm" + (" pw-rule-alarm-escalated" if c.escalated else "")
                + (" pw-rule-alarm-warning" if c.warning else "")
                + (" pw-alarm-done" if c.acked_by is not None else ""))
        out.append(html.Div([
            html.Div(c.label + (" · ESCALATED" if c.escalated and c.acked_by is None else ""),
                     className="pw-rule-alarm-head"),
            html.Span([html.B(c.callsign), f" {c.unit} · {c.detail} · since "
                       f"{local_clock(c.raised, zone)} (", ago_span(c.raised), ")",
                       f" · ×{c.count}" if c.count > 1 else ""], className="pw-rule-alarm-text"),
            action,
        ], className=look, **{"data-alarm": c.alarm_id, "data-kind": c.kind}))  # type: ignore[arg-type]
    return out


# --- crew -----------------------------------------------------------------------------------
def crew_box() -> html.Div:
    """Return the crew page's check-in box (hidden until the control room asks)."""
    from dash import dcc

    return html.Div([
        html.Div("Are you OK?", className="pw-checkin-ask"),
        html.Div(id=ids.CREW_CHECKIN_MSG, className="pw-crew-small"),
        html.Div([html.Button("OK", id=ids.CREW_CHECKIN_OK, n_clicks=0,
                              className="pw-crew-accept"),
                  html.Button("Need help", id=ids.CREW_CHECKIN_HELP, n_clicks=0,
                              className="pw-crew-decline")], className="pw-crew-pair"),
        dcc.Store(id=ids.CREW_CHECKIN_ID),
    ], id=ids.CREW_CHECKIN, className="pw-crew-section pw-checkin pw-hidden", role="alert")


def checkin_text(checkin: Mapping[str, Any] | None, zone: ZoneInfo) -> tuple[str, str]:
    """Return (the line under the question, the box's class) for the unit's open check-in."""
    if checkin is None:
        return "", "pw-crew-section pw-checkin pw-hidden"
    by = local_clock(float(checkin["answer_by"]), zone, seconds=True)
    return (f"The control room asks: answer by {by}, or they are alerted.",
            "pw-crew-section pw-checkin")
