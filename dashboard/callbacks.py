"""Callback wiring: each callback is one line handing its inputs to a plain function.

Every callback checks the role on the server (``require_role``), so a request forged
outside the page gets 403 like the API: reading the control room needs viewer, supervisor
or admin; supervisors' actions and the crew page register in callbacks_supervisor.py and
callbacks_crew.py.
"""

from __future__ import annotations

import time
from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx

from dashboard import callbacks_crew, callbacks_supervisor, handlers, ids, pages, supervise
from dashboard.auth import CONTROL_ROOM_ROLES, allowed, auth_enabled, current_user, require_role
from dashboard.handlers import Deps
from dashboard.trigger import fired, fired_value

REFRESH_TARGETS: dict[str, Output] = {
    "units": Output(ids.UNITS, "data"),
    "hideout": Output(ids.HOTSPOTS, "hideout"),
    "clock": Output(ids.CLOCK, "children"),
    "feed": Output(ids.FEED, "children"),
    "alarms": Output(ids.EMERGENCY, "children"),
    "alarms_class": Output(ids.EMERGENCY, "className"),
    "degraded": Output(ids.DEGRADED, "children"),
    "degraded_class": Output(ids.DEGRADED, "className"),
    "counts": Output(ids.COUNTS, "children"),
    "gaps": Output(ids.GAPS, "children"),
    "gap_badge": Output(ids.GAP_BADGE, "children"),
    "gap_badge_class": Output(ids.GAP_BADGE, "className"),
    "unit_list": Output(ids.UNIT_LIST, "children"),
    "lost": Output(ids.LOST_LIST, "children"),
    "lost_tab": Output(ids.LOST_TAB, "label"),
    "digests": Output(ids.DIGESTS, "data"),
}


def register(app: Dash, deps: Deps) -> None:
    """Register every callback: page routing, the control room, supervisors, the crew."""

    @app.callback(Output(ids.PAGE, "children"), Input(ids.URL, "pathname"))
    def page(pathname: str | None) -> Any:
        # The user is known here (auth.install refuses a callback without one).
        return pages.render(deps, current_user(), auth_enabled(), pathname)

    register_control_room(app, deps)
    callbacks_supervisor.register(app, deps)
    callbacks_crew.register(app, deps)


def register_control_room(app: Dash, deps: Deps) -> None:
    """Register the control room's reading callbacks (viewer, supervisor, admin)."""
    reader = require_role(*CONTROL_ROOM_ROLES)

    @app.callback(output=REFRESH_TARGETS,
                  inputs={"tick": Input(ids.TICK, "n_intervals"),
                          "search": Input(ids.SEARCH, "value"),
                          "digests": State(ids.DIGESTS, "data")})
    @reader
    def refresh(tick: int | None, search: str | None, digests: dict[str, Any]) -> dict[str, Any]:
        return handlers.refresh(deps, search, digests, time.time(), allowed("supervisor"))

    @app.callback(Output(ids.DOSAGE_TABLE, "data"), Output(ids.PREDICTABILITY, "children"),
                  Output(ids.PREDICTABILITY, "className"), Input(ids.SLOW_TICK, "n_intervals"))
    @reader
    def slow(tick: int | None) -> tuple[Any, Any, Any]:
        return handlers.slow(deps)

    @app.callback(Output(ids.DOSAGE_DOWNLOAD, "data"), Input(ids.DOSAGE_CSV, "n_clicks"),
                  prevent_initial_call=True)
    @reader
    def download(clicks: int) -> Any:
        return handlers.dosage_download(deps, time.time())

    @app.callback(Output(ids.HOTSPOT_PANEL, "children"), Output(ids.TIMELINE, "figure"),
                  Input(ids.HOTSPOT_PICK, "value"), Input(ids.SLOW_TICK, "n_intervals"))
    @reader
    def hotspot(picked: str | None, tick: int | None) -> tuple[Any, Any]:
        return handlers.hotspot_panel(deps, picked, time.time(), allowed("supervisor"))

    @app.callback(Output(ids.TASKINGS, "children"), Output(ids.TASKINGS_TAB, "label"),
                  Output(ids.AUDIT, "children"), Output(ids.TASK_DIGESTS, "data"),
                  Input(ids.TASK_TICK, "n_intervals"), State(ids.TASK_DIGESTS, "data"))
    @reader
    def task_panels(tick: int | None, digests: dict[str, Any] | None) -> tuple[Any, ...]:
        return supervise.task_panels(deps, digests, time.time())

    @app.callback(Output(ids.HOTSPOT_PICK, "value"), Output(ids.MAP, "viewport"),
                  Output(ids.TABS, "value"),
                  Input({"type": ids.GAP_ITEM, "hotspot": ALL}, "n_clicks"),
                  Input(ids.HOTSPOTS, "n_clicks"), Input(ids.HOTSPOT_PICK, "value"),
                  State(ids.HOTSPOTS, "clickData"), prevent_initial_call=True)
    @reader
    def select(gaps: list[int], map_clicks: int, picked: str | None,
               clicked: dict[str, Any] | None) -> tuple[Any, Any, Any]:
        return handlers.select_hotspot(deps, fired(), picked, clicked)

    @app.callback(Output(ids.MAP, "viewport", allow_duplicate=True),
                  Input({"type": ids.UNIT_ITEM, "unit": ALL}, "n_clicks"),
                  State(ids.UNITS, "data"), prevent_initial_call=True)
    @reader
    def fly_to_unit(clicks: list[int], data: dict[str, Any] | None) -> Any:
        return handlers.fly_to_unit(ctx.triggered_id, fired_value(), data)
