"""Callback wiring for coverage: dosage table and CSV, the hotspot panel, choosing a hotspot.

Each callback is one line handing its inputs to a plain function in actions.py; reading
needs viewer, supervisor or admin, checked on the server.
"""

from __future__ import annotations

import time
from typing import Any

from dash import ALL, Dash, Input, Output, State

from dashboard import ids
from dashboard.auth import CONTROL_ROOM_ROLES, actor, allowed, require_role
from dashboard.coverage import actions
from dashboard.deps import Deps
from dashboard.trigger import fired


def register(app: Dash, deps: Deps) -> None:
    """Register the coverage callbacks (viewer, supervisor, admin)."""
    reader = require_role(*CONTROL_ROOM_ROLES)

    @app.callback(Output(ids.DOSAGE_TABLE, "children"), Output(ids.PREDICTABILITY, "children"),
                  Output(ids.PREDICTABILITY, "className"), Output(ids.SLOW_DIGESTS, "data"),
                  Input(ids.SLOW_TICK, "n_intervals"), State(ids.SLOW_DIGESTS, "data"))
    @reader
    def slow(tick: int | None, digests: dict[str, Any] | None) -> tuple[Any, Any, Any, Any]:
        return actions.slow(deps, digests)

    @app.callback(Output(ids.DOSAGE_DOWNLOAD, "data"), Input(ids.DOSAGE_CSV, "n_clicks"),
                  prevent_initial_call=True)
    @reader
    def download(clicks: int) -> Any:
        return actions.dosage_download(deps, time.time())

    @app.callback(Output(ids.HOTSPOT_PANEL, "children"), Output(ids.TIMELINE, "figure"),
                  Input(ids.HOTSPOT_PICK, "value"), Input(ids.SLOW_TICK, "n_intervals"))
    @reader
    def hotspot(picked: str | None, tick: int | None) -> tuple[Any, Any]:
        return actions.hotspot_panel(deps, picked, time.time(), allowed("supervisor"), actor(),
                                     allowed("supervisor"))

    @app.callback(Output(ids.HOTSPOT_PICK, "value"), Output(ids.MAP, "viewport"),
                  Output(ids.TABS, "value"),
                  Input({"type": ids.GAP_ITEM, "hotspot": ALL}, "n_clicks"),
                  Input(ids.HOTSPOTS, "n_clicks"), Input(ids.HOTSPOT_PICK, "value"),
                  State(ids.HOTSPOTS, "clickData"), prevent_initial_call=True)
    @reader
    def select(gaps: list[int], map_clicks: int, picked: str | None,
               clicked: dict[str, Any] | None) -> tuple[Any, Any, Any]:
        return actions.select_hotspot(deps, fired(), picked, clicked)
