"""Callback wiring: page routing here, then each feature's callbacks (``<feature>/callbacks.py``).

Every callback checks the role on the server (``require_role``), so a request forged
outside the page gets 403 like the API: reading the control room needs viewer, supervisor
or admin; supervisors' actions and the crew page check their own roles.
"""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output

from dashboard import ids, pages
from dashboard.alarms import callbacks as alarm_callbacks
from dashboard.auth import auth_enabled, current_user
from dashboard.control_room import callbacks as control_room_callbacks
from dashboard.coverage import callbacks as coverage_callbacks
from dashboard.crew import callbacks as crew_callbacks
from dashboard.deps import Deps
from dashboard.redeploy import callbacks as redeploy_callbacks
from dashboard.replay import callbacks as replay_callbacks


def register(app: Dash, deps: Deps) -> None:
    """Register every callback: page routing, the control room, supervisors, the crew."""

    @app.callback(Output(ids.PAGE, "children"), Input(ids.URL, "pathname"))
    def page(pathname: str | None) -> Any:
        # The user is known here (auth.install refuses a callback without one).
        return pages.render(deps, current_user(), auth_enabled(), pathname)

    control_room_callbacks.register(app, deps)
    coverage_callbacks.register(app, deps)
    redeploy_callbacks.register_panels(app, deps)
    redeploy_callbacks.register(app, deps)
    crew_callbacks.register(app, deps)
    replay_callbacks.register(app, deps)
    alarm_callbacks.register(app, deps)
