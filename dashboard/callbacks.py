"""Callback wiring: each callback is one line handing its inputs to a function in handlers.py."""

from __future__ import annotations

import time
from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx

from dashboard import handlers, ids
from dashboard.handlers import Deps

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
    """Register every callback of the control-room page on the app."""

    @app.callback(output=REFRESH_TARGETS,
                  inputs={"tick": Input(ids.TICK, "n_intervals"),
                          "search": Input(ids.SEARCH, "value"),
                          "digests": State(ids.DIGESTS, "data")})
    def refresh(tick: int | None, search: str | None, digests: dict[str, Any]) -> dict[str, Any]:
        return handlers.refresh(deps, search, digests, time.time())

    @app.callback(Output(ids.DOSAGE_TABLE, "data"), Output(ids.PREDICTABILITY, "children"),
                  Output(ids.PREDICTABILITY, "className"), Input(ids.SLOW_TICK, "n_intervals"))
    def slow(tick: int | None) -> tuple[Any, Any, Any]:
        return handlers.slow(deps)

    @app.callback(Output(ids.DOSAGE_DOWNLOAD, "data"), Input(ids.DOSAGE_CSV, "n_clicks"),
                  prevent_initial_call=True)
    def download(clicks: int) -> Any:
        return handlers.dosage_download(deps, time.time())

    @app.callback(Output(ids.HOTSPOT_PANEL, "children"), Output(ids.TIMELINE, "figure"),
                  Input(ids.HOTSPOT_PICK, "value"), Input(ids.SLOW_TICK, "n_intervals"))
    def hotspot(picked: str | None, tick: int | None) -> tuple[Any, Any]:
        return handlers.hotspot_panel(deps, picked, time.time())

    @app.callback(Output(ids.HOTSPOT_PICK, "value"), Output(ids.MAP, "viewport"),
                  Output(ids.TABS, "value"),
                  Input({"type": ids.GAP_ITEM, "hotspot": ALL}, "n_clicks"),
                  Input(ids.HOTSPOTS, "n_clicks"), Input(ids.HOTSPOT_PICK, "value"),
                  State(ids.HOTSPOTS, "clickData"), prevent_initial_call=True)
    def select(gaps: list[int], map_clicks: int, picked: str | None,
               clicked: dict[str, Any] | None) -> tuple[Any, Any, Any]:
        return handlers.select_hotspot(deps, _trigger(), picked, clicked)

    @app.callback(Output(ids.MAP, "viewport", allow_duplicate=True),
                  Input({"type": ids.UNIT_ITEM, "unit": ALL}, "n_clicks"),
                  State(ids.UNITS, "data"), prevent_initial_call=True)
    def fly_to_unit(clicks: list[int], data: dict[str, Any] | None) -> Any:
        return handlers.fly_to_unit(ctx.triggered_id, _triggered_value(), data)


def _trigger() -> Any:
    """Return what fired the callback, ignoring buttons that were only (re)drawn."""
    return ctx.triggered_id if _triggered_value() else None


def _triggered_value() -> Any:
    return ctx.triggered[0]["value"] if ctx.triggered else None
