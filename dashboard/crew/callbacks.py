"""Callback wiring for the crew page: every callback acts as the signed-in user's unit.

``unit_of_request`` checks the crew role (admin allowed) on the server and takes the unit
from the users file; nothing the page sends can choose another unit.
"""

from __future__ import annotations

import time
from typing import Any

from dash import ALL, Dash, Input, Output, State
from werkzeug.exceptions import Forbidden

from dashboard import ids
from dashboard.auth import check_role, require_role
from dashboard.crew import actions
from dashboard.deps import Deps
from dashboard.trigger import fired


def unit_of_request() -> str:
    """Return the signed-in crew user's unit; raise 401/403 for anyone else."""
    user = check_role("crew")
    if user is None or not user.unit:
        raise Forbidden("the crew page needs a signed-in crew user with a unit")
    return user.unit


def register(app: Dash, deps: Deps) -> None:
    """Register the crew page's callbacks."""

    @app.callback(Output(ids.CREW_STATUS, "children"), Output(ids.CREW_TASK_TEXT, "children"),
                  Output(ids.CREW_TASK, "className"), Output(ids.CREW_TASK_ID, "data"),
                  Input(ids.CREW_TICK, "n_intervals"))
    def tick(n: int | None) -> tuple[Any, Any, Any, Any]:
        return actions.tick(deps, unit_of_request(), time.time())

    @app.callback(Output(ids.CREW_MSG, "children", allow_duplicate=True),
                  Input({"type": ids.CREW_STATUS_BUTTON, "status": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def status(clicks: list[int]) -> Any:
        return actions.send_status(deps, unit_of_request(), _status_of(fired()), time.time())

    @app.callback(Output(ids.CREW_MSG, "children", allow_duplicate=True),
                  Input(ids.CREW_ACCEPT, "n_clicks"), Input(ids.CREW_DECLINE, "n_clicks"),
                  State(ids.CREW_TASK_ID, "data"), State(ids.CREW_REASON, "value"),
                  prevent_initial_call=True)
    def answer(accept: int, decline: int, tasking: Any, reason: Any) -> Any:
        return actions.answer(deps, unit_of_request(), fired(), tasking, reason, time.time())

    @app.callback(Output(ids.CREW_ARMED, "data"), Output(ids.CREW_EMERGENCY, "children"),
                  Output(ids.CREW_EMERGENCY, "className"), Output(ids.CREW_DISARM, "disabled"),
                  Output(ids.CREW_MSG, "children", allow_duplicate=True),
                  Input(ids.CREW_EMERGENCY, "n_clicks"), Input(ids.CREW_DISARM, "n_intervals"),
                  State(ids.CREW_ARMED, "data"), prevent_initial_call=True)
    def emergency(clicks: int, disarm: int, armed_at: Any) -> tuple[Any, ...]:
        return actions.emergency(deps, unit_of_request(), fired(), armed_at, time.time())

    @app.callback(Output(ids.CREW_SHARE_ON, "data"), Output(ids.CREW_SHARE, "children"),
                  Output(ids.CREW_SHARE, "className"), Output(ids.CREW_GEO_TICK, "disabled"),
                  Output(ids.CREW_GEO_BOX, "children"),
                  Output(ids.CREW_SHARE_TEXT, "children", allow_duplicate=True),
                  Input(ids.CREW_SHARE, "n_clicks"), State(ids.CREW_SHARE_ON, "data"),
                  prevent_initial_call=True)
    @require_role("crew")
    def share(clicks: int, sharing: Any) -> tuple[Any, ...]:
        return actions.share(fired(), sharing)

    # Ask the browser for a fresh fix on each tick while sharing (no server round trip).
    app.clientside_callback(  # type: ignore[no-untyped-call]
        "function (n) { return true; }",
        Output(ids.CREW_GEO, "update_now"), Input(ids.CREW_GEO_TICK, "n_intervals"),
        prevent_initial_call=True)

    @app.callback(Output(ids.CREW_SHARE_TEXT, "children"),
                  Input(ids.CREW_GEO, "timestamp"), Input(ids.CREW_GEO, "position_error"),
                  State(ids.CREW_GEO, "position"), State(ids.CREW_SHARE_ON, "data"),
                  prevent_initial_call=True)
    def position(stamp: Any, error: Any, where: Any, sharing: Any) -> Any:
        return actions.send_position(deps, unit_of_request(), bool(sharing), where, stamp, error,
                                  time.time())


def _status_of(trigger: Any) -> Any:
    return trigger.get("status") if isinstance(trigger, dict) else None
