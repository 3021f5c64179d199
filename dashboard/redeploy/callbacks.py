"""Callback wiring for redeployment: the taskings and audit panels, and supervisors' actions.

Supervisors' actions: task a unit, plan all gaps, acknowledge an EMERGENCY. Viewers' pages
hold none of these controls, and every callback for them checks the supervisor role on the
server anyway: a forged request gets 403.
"""

from __future__ import annotations

import time
from typing import Any

from dash import ALL, Dash, Input, Output, State

from dashboard import ids
from dashboard.auth import CONTROL_ROOM_ROLES, actor, require_role
from dashboard.deps import Deps
from dashboard.redeploy import actions
from dashboard.trigger import fired, fired_value


def register(app: Dash, deps: Deps) -> None:
    """Register the supervisor's action callbacks."""
    supervisor = require_role("supervisor")

    @app.callback(Output(ids.TASK_DIALOG, "className"), Output(ids.TASK_SUMMARY, "children"),
                  Output(ids.TASK_PENDING, "data"), Output(ids.TASK_NOTE, "value"),
                  Output(ids.TASK_ERROR, "children"),
                  Input({"type": ids.TASK_ITEM, "hotspot": ALL, "unit": ALL, "at": ALL},
                        "n_clicks"),
                  Input(ids.TASK_CANCEL, "n_clicks"), prevent_initial_call=True)
    @supervisor
    def task_dialog(clicks: list[int], cancel: int) -> tuple[Any, ...]:
        return actions.open_task_dialog(deps, fired(), fired_value(), time.time())

    @app.callback(Output(ids.TASK_DIALOG, "className", allow_duplicate=True),
                  Output(ids.TASK_ERROR, "children", allow_duplicate=True),
                  Output(ids.TOAST, "children", allow_duplicate=True),
                  Output(ids.TASKINGS_TAB, "label", allow_duplicate=True),
                  Output(ids.HOTSPOT_PANEL, "children", allow_duplicate=True),
                  Input(ids.TASK_CONFIRM, "n_clicks"), State(ids.TASK_PENDING, "data"),
                  State(ids.TASK_NOTE, "value"), State(ids.HOTSPOT_PICK, "value"),
                  prevent_initial_call=True,
                  running=[(Output(ids.TASK_CONFIRM, "disabled"), True, False)])
    @supervisor
    def task_confirm(clicks: int, pending: Any, note: str | None,
                     picked: str | None) -> tuple[Any, ...]:
        return actions.confirm_and_refresh(deps, pending, note, actor(), picked, time.time())

    @app.callback(Output(ids.PLAN_DIALOG, "className"), Output(ids.PLAN_TABLE, "children"),
                  Output(ids.PLAN, "data"), Output(ids.PLAN_CONFIRM, "className"),
                  Input(ids.OPTIMISE, "n_clicks"), Input(ids.PLAN_CANCEL, "n_clicks"),
                  prevent_initial_call=True,
                  running=[(Output(ids.OPTIMISE, "disabled"), True, False)])
    @supervisor
    def plan(optimise: int, cancel: int) -> tuple[Any, ...]:
        return actions.plan_dialog(deps, fired(), time.time())

    @app.callback(Output(ids.PLAN_DIALOG, "className", allow_duplicate=True),
                  Output(ids.PLAN_TABLE, "children", allow_duplicate=True),
                  Output(ids.TOAST, "children", allow_duplicate=True),
                  Input(ids.PLAN_CONFIRM, "n_clicks"), State(ids.PLAN, "data"),
                  prevent_initial_call=True,
                  running=[(Output(ids.PLAN_CONFIRM, "disabled"), True, False)])
    @supervisor
    def plan_confirm(clicks: int, plan: Any) -> tuple[Any, Any, Any]:
        return actions.confirm_plan(deps, plan, actor(), time.time())

    @app.callback(Output(ids.TOAST, "children", allow_duplicate=True),
                  Input({"type": ids.ACK_ITEM, "alarm": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    @supervisor
    def acknowledge(clicks: list[int]) -> Any:
        return actions.acknowledge(deps, fired(), fired_value(), actor(), time.time())


def register_panels(app: Dash, deps: Deps) -> None:
    """Register the taskings and audit panels' reading callback (viewer, supervisor, admin)."""
    reader = require_role(*CONTROL_ROOM_ROLES)

    @app.callback(Output(ids.TASKINGS, "children"), Output(ids.TASKINGS_TAB, "label"),
                  Output(ids.AUDIT, "children"), Output(ids.TASK_DIGESTS, "data"),
                  Input(ids.TASK_TICK, "n_intervals"), State(ids.TASK_DIGESTS, "data"))
    @reader
    def task_panels(tick: int | None, digests: dict[str, Any] | None) -> tuple[Any, ...]:
        return actions.task_panels(deps, digests, time.time())
