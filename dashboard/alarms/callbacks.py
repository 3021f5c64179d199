"""Callback wiring of the alarm cards and the crew's check-in: one line each into actions."""

from __future__ import annotations

import time
from typing import Any

from dash import ALL, Dash, Input, Output, State

from dashboard import ids
from dashboard.alarms import actions
from dashboard.auth import CONTROL_ROOM_ROLES, actor, allowed, require_role
from dashboard.deps import Deps
from dashboard.trigger import fired


def register(app: Dash, deps: Deps) -> None:
    """Register the alarm cards' and the crew check-in's callbacks."""

    @app.callback(Output(ids.RULE_ALARMS, "children"), Output(ids.RULE_ALARMS, "className"),
                  Input(ids.TICK, "n_intervals"))
    @require_role(*CONTROL_ROOM_ROLES)
    def cards(n: int | None) -> tuple[Any, Any]:
        return actions.refresh(deps, time.time(), allowed("supervisor"))

    @app.callback(Output(ids.RULE_ALARM_TOAST, "children"),
                  Input({"type": ids.RULE_ALARM_ACK, "alarm": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    @require_role("supervisor")
    def ack(clicks: list[int]) -> Any:
        return actions.click_ack(deps, fired(), any(clicks or []), actor(), time.time())

    @app.callback(Output(ids.CREW_CHECKIN_MSG, "children"), Output(ids.CREW_CHECKIN, "className"),
                  Output(ids.CREW_CHECKIN_ID, "data"), Input(ids.CREW_TICK, "n_intervals"))
    def crew(n: int | None) -> tuple[Any, Any, Any]:
        return actions.crew_tick(deps, _unit())

    @app.callback(Output(ids.CREW_MSG, "children", allow_duplicate=True),
                  Input(ids.CREW_CHECKIN_OK, "n_clicks"), Input(ids.CREW_CHECKIN_HELP, "n_clicks"),
                  State(ids.CREW_CHECKIN_ID, "data"), prevent_initial_call=True)
    def answer(ok: int, help_: int, checkin: Any) -> Any:
        return actions.crew_answer(deps, _unit(), fired(), checkin, time.time())


def _unit() -> str:
    from dashboard.crew.callbacks import unit_of_request

    return unit_of_request()
