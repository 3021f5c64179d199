"""Callback wiring for the control room: the live tick and flying to a clicked unit.

Each callback is one line handing its inputs to a plain function in actions.py; reading
the control room needs viewer, supervisor or admin, checked on the server.
"""

from __future__ import annotations

import time
from typing import Any

from dash import ALL, ClientsideFunction, Dash, Input, Output, State, ctx

from dashboard import ids
from dashboard.auth import CONTROL_ROOM_ROLES, allowed, require_role
from dashboard.control_room import actions
from dashboard.deps import Deps
from dashboard.picture import serve
from dashboard.trigger import fired_value

REFRESH_TARGETS: dict[str, Output] = {
    "picture": Output(ids.PICTURE, "data"),
    "hideout": Output(ids.HOTSPOTS, "hideout"),
    "clock": Output(ids.CLOCK, "children"),
    "feed": Output(ids.FEED, "children"),
    "alarms": Output(ids.EMERGENCY, "children"),
    "alarms_class": Output(ids.EMERGENCY, "className"),
    "degraded": Output(ids.DEGRADED, "children"),
    "degraded_class": Output(ids.DEGRADED, "className"),
    "counts": Output(ids.COUNTS, "children"),
    "gaps": Output(ids.GAPS_DATA, "data"),
    "gap_badge": Output(ids.GAP_BADGE, "children"),
    "gap_badge_class": Output(ids.GAP_BADGE, "className"),
    "gap_held": Output(ids.GAP_HELD, "className"),
    "unit_list": Output(ids.UNIT_LIST, "children"),
    "lost": Output(ids.LOST_LIST, "children"),
    "lost_tab": Output(ids.LOST_TAB, "label"),
    "digests": Output(ids.DIGESTS, "data"),
}


def register(app: Dash, deps: Deps) -> None:
    """Register the control room's reading callbacks (viewer, supervisor, admin)."""
    reader = require_role(*CONTROL_ROOM_ROLES)

    screens = serve.screens_for(app.server, deps)

    @app.callback(output=REFRESH_TARGETS,
                  inputs={"tick": Input(ids.TICK, "n_intervals"),
                          "search": Input(ids.SEARCH, "value"),
                          "have": State(ids.PICTURE_HAVE, "data"),
                          "digests": State(ids.DIGESTS, "data"),
                          "hold": State(ids.GAP_HOLD, "data")})
    @reader
    def refresh(tick: int | None, search: str | None, have: int | None,
                digests: dict[str, Any], hold: Any) -> dict[str, Any]:
        return serve.refresh(screens, search, have, digests, time.time(), allowed("supervisor"),
                             hold=bool(hold))

    # The browser moves the markers that moved (assets/live.js) and says which version it holds.
    app.clientside_callback(  # type: ignore[no-untyped-call]
        ClientsideFunction("patrolwatch", "receive"),
        Output(ids.PICTURE_HAVE, "data"), Input(ids.PICTURE, "data"),
        State(ids.UNITS_HIDEOUT, "data"))

    # The list is copied from a store in the browser: a tick that changes nothing in it does
    # not touch it at all (Dash marks an output "loading" for every server call it is in).
    app.clientside_callback(  # type: ignore[no-untyped-call]
        "function (children) { return children; }",
        Output(ids.GAPS, "children"), Input(ids.GAPS_DATA, "data"), prevent_initial_call=True)

    @app.callback(Output(ids.UNIT_PICK, "data"),
                  Input({"type": ids.UNIT_ITEM, "unit": ALL}, "n_clicks"),
                  Input(ids.UNIT_CLOSE, "n_clicks"), prevent_initial_call=True)
    @reader
    def pick_unit(clicks: list[int], close: int | None) -> Any:
        return actions.pick_unit(ctx.triggered_id, fired_value())

    # The panel follows the picture the list and banner show: it changes with them.
    @app.callback(Output(ids.UNIT_PANEL, "children"), Output(ids.UNIT_DIGEST, "data"),
                  Input(ids.UNIT_PICK, "data"), Input(ids.PICTURE_HAVE, "data"),
                  Input(ids.TASK_TICK, "n_intervals"), State(ids.UNIT_DIGEST, "data"))
    @reader
    def unit_panel(unit: str | None, have: int | None, tick: int | None,
                   digest: str | None) -> tuple[Any, Any]:
        return actions.unit_panel(deps, unit, digest, time.time())

    # Flying to a clicked unit needs no server call: the browser holds every unit's place.
    app.clientside_callback(  # type: ignore[no-untyped-call]
        ClientsideFunction("patrolwatch", "flyTo"),
        Output(ids.MAP, "viewport", allow_duplicate=True),
        Input({"type": ids.UNIT_ITEM, "unit": ALL}, "n_clicks"),
        State(ids.UNITS_HIDEOUT, "data"), prevent_initial_call=True)
