"""Callback wiring for the replay page: one line each into actions.py (supervisor, admin).

The clock, the scrubber and the map are one callback, because the scrubber both moves the
clock and shows it: Dash allows that circle only inside a single callback.
"""

from __future__ import annotations

import time
from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx

from dashboard import ids
from dashboard.auth import actor, require_role
from dashboard.deps import Deps
from dashboard.replay import actions

CONTROL_TARGETS: dict[str, Output] = {
    "clock": Output(ids.REPLAY_CLOCK, "data"),
    "period": Output(ids.REPLAY_PERIOD, "data"),
    "units": Output(ids.REPLAY_UNITS, "data"),
    "hideout": Output(ids.REPLAY_HOTSPOTS, "hideout"),
    "track": Output(ids.REPLAY_TRACK, "positions"),
    "viewport": Output(ids.REPLAY_MAP, "viewport"),
    "label": Output(ids.REPLAY_AT, "children"),
    "follow": Output(ids.REPLAY_FOLLOW, "children"),
    "scrub_min": Output(ids.REPLAY_SCRUBBER, "min"),
    "scrub_max": Output(ids.REPLAY_SCRUBBER, "max"),
    "scrub": Output(ids.REPLAY_SCRUBBER, "value"),
    "play": Output(ids.REPLAY_PLAY, "children"),
    "tick_off": Output(ids.REPLAY_TICK, "disabled"),
    "message": Output(ids.REPLAY_MESSAGE, "children"),
}


def register(app: Dash, deps: Deps) -> None:
    """Register the replay page's callbacks."""
    supervisor = require_role("supervisor")

    @app.callback(output=CONTROL_TARGETS, inputs={
        "tick": Input(ids.REPLAY_TICK, "n_intervals"),
        "play": Input(ids.REPLAY_PLAY, "n_clicks"),
        "steps": Input({"type": ids.REPLAY_STEP, "minutes": ALL}, "n_clicks"),
        "scrub": Input(ids.REPLAY_SCRUBBER, "value"),
        "speed": Input(ids.REPLAY_SPEED, "value"),
        "click": Input(ids.REPLAY_UNITS, "clickData"),
        "unfollow": Input(ids.REPLAY_UNFOLLOW, "n_clicks"),
        "load": Input(ids.REPLAY_LOAD, "n_clicks"),
        "gap": Input(ids.REPLAY_NEXT_GAP, "n_clicks"),
        "emergency": Input(ids.REPLAY_NEXT_EMERGENCY, "n_clicks"),
        "clock": State(ids.REPLAY_CLOCK, "data"),
        "since": State(ids.REPLAY_FROM, "value"),
        "until": State(ids.REPLAY_TO, "value"),
    })
    @supervisor
    def control(tick: Any, play: Any, steps: Any, scrub: float | None, speed: int | None,
                click: Any, unfollow: Any, load: Any, gap: Any, emergency: Any,
                clock: Any, since: str | None, until: str | None) -> dict[str, Any]:
        return actions.on_control(deps, actor(), ctx.triggered_id, clock, scrub, speed, click,
                                  since, until, time.time())

    @app.callback(Output(ids.REPLAY_TIMELINE, "figure"), Input(ids.REPLAY_PERIOD, "data"))
    @supervisor
    def timeline(period: Any) -> Any:
        return actions.timeline(deps, actor(), period)

    @app.callback(Output(ids.WHO_TABLE, "data"), Output(ids.WHO_MESSAGE, "children"),
                  Input(ids.WHO_ASK, "n_clicks"), State(ids.WHO_HOTSPOT, "value"),
                  State(ids.REPLAY_DRAW, "geojson"), State(ids.WHO_FROM, "value"),
                  State(ids.WHO_TO, "value"), prevent_initial_call=True)
    @supervisor
    def who_was_here(ask: Any, hotspot: str | None, drawn: Any, since: str | None,
                     until: str | None) -> tuple[list[dict[str, Any]], str]:
        return actions.who_was_here(deps, actor(), hotspot, drawn, since, until, time.time())
