"""The crew page (/crew): a phone-sized page for one unit, big buttons, high contrast.

The unit is the signed-in user's, decided on the server; nothing on this page names a
unit the callbacks would trust.
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboard import ids
from dashboard.alarms import components as alarm_components
from dashboard.deps import Deps
from dashboard.experiments.components import crew_section
from dashboard.palette import STATUS_LOOK
from dashboard.widgets import sign_out_button
from patrolwatch.core.model import Status
from patrolwatch.users import User

CREW_TICK_MS = 3_000


GEO_EVERY_MS = 10_000  # a position every 10 s while sharing: enough to show presence


ARM_MS = 5_000  # the EMERGENCY button's second tap must come within this


GEO_TIMEOUT_MS = 20_000


CREW_STATUSES: tuple[Status, ...] = (Status.AVAILABLE, Status.ON_PATROL, Status.EN_ROUTE,
                                     Status.AT_SCENE, Status.REFRESHMENT, Status.OFF_DUTY)


EMERGENCY_LABEL = "EMERGENCY"


EMERGENCY_ARMED_LABEL = "TAP AGAIN TO SEND EMERGENCY"


def geolocation() -> dcc.Geolocation:
    """Return the browser geolocation reader (mounted only while sharing: it reads at once)."""
    return dcc.Geolocation(id=ids.CREW_GEO, high_accuracy=True, maximum_age=0,
                           timeout=GEO_TIMEOUT_MS)


def status_buttons() -> html.Div:
    """Return the big status buttons, coloured as the control room shows each status."""
    return html.Div([
        html.Button(STATUS_LOOK[s].label, id={"type": ids.CREW_STATUS_BUTTON, "status": s.value},
                    n_clicks=0, className="pw-crew-status-button",
                    style={"background": STATUS_LOOK[s].colour})
        for s in CREW_STATUSES
    ], className="pw-crew-grid")


def crew_page(deps: Deps, user: User) -> html.Div:
    """Return the crew page for the signed-in user's unit."""
    unit = user.unit or "?"
    callsign = deps.callsigns.get(unit, unit)
    return html.Div([
        html.Header([
            html.Div([html.Span(callsign, className="pw-crew-callsign", id=ids.CREW_UNIT),
                      html.Span(unit, className="pw-crew-unit")]),
            html.Div([html.Span(f"{user.name}", className="pw-crew-user"),
                      sign_out_button("pw-crew-signout")]),
        ], className="pw-crew-header"),
        html.Div(id=ids.CREW_STATUS, className="pw-crew-now"),
        html.Div(id=ids.CREW_MSG, className="pw-crew-msg", role="status"),
        alarm_components.crew_box(),  # "Are you OK?" (dashboard/alarms/)
        html.Section([
            html.H2("Tasking"),
            html.Div(id=ids.CREW_TASK_TEXT, className="pw-crew-task-text"),
            html.Div([
                dcc.Input(id=ids.CREW_REASON, type="text", maxLength=200,
                          placeholder="Reason, if you decline (optional)",
                          className="pw-crew-input"),
                html.Div([html.Button("Accept", id=ids.CREW_ACCEPT, n_clicks=0,
                                      className="pw-crew-accept"),
                          html.Button("Decline", id=ids.CREW_DECLINE, n_clicks=0,
                                      className="pw-crew-decline")],
                         className="pw-crew-pair"),
            ], id=ids.CREW_TASK, className="pw-hidden"),
        ], className="pw-crew-section"),
        crew_section(deps),  # experiment: today's treated places
        html.Section([html.H2("My status"), status_buttons()], className="pw-crew-section"),
        html.Section([
            html.H2("Position"),
            html.Button("Share my position: OFF", id=ids.CREW_SHARE, n_clicks=0,
                        className="pw-crew-share"),
            html.Div("Your position is not being shared.", id=ids.CREW_SHARE_TEXT,
                     className="pw-crew-small"),
            html.Div(id=ids.CREW_GEO_BOX),
        ], className="pw-crew-section"),
        # Pinned to the bottom of the screen: whatever the page above it shows (a message,
        # a tasking), the EMERGENCY button is on screen without scrolling.
        html.Section([
            html.Button(EMERGENCY_LABEL, id=ids.CREW_EMERGENCY, n_clicks=0,
                        className="pw-crew-emergency"),
            html.Div("Tap twice within 5 seconds. The control room is alerted at once.",
                     className="pw-crew-small"),
        ], className="pw-crew-sos", id=ids.CREW_SOS),
        dcc.Interval(id=ids.CREW_TICK, interval=CREW_TICK_MS),
        dcc.Interval(id=ids.CREW_GEO_TICK, interval=GEO_EVERY_MS, disabled=True),
        dcc.Interval(id=ids.CREW_DISARM, interval=ARM_MS, disabled=True),
        dcc.Store(id=ids.CREW_TASK_ID),
        dcc.Store(id=ids.CREW_ARMED),
        dcc.Store(id=ids.CREW_SHARE_ON, data=False),
    ], className="pw-crew")


def crew_unavailable(reason: str, link: tuple[str, str] | None = None) -> html.Div:
    """Return a page saying why the crew page cannot be used (no crew user, no unit)."""
    extra: list[Any] = [html.A(link[1], href=link[0])] if link else []
    return html.Div([html.H1("PatrolWatch crew page"), html.P(reason), *extra,
                     sign_out_button("pw-crew-signout")], className="pw-crew")


def message(text: str, ok: bool = True) -> list[Any]:
    """Return the feedback line under the header."""
    return [html.Div(text, className="pw-crew-ok" if ok else "pw-crew-bad")]
