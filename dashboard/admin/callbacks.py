"""Admin page wiring: one callback, admin role checked on the server (403 for anyone else)."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output

from dashboard import ids
from dashboard.admin.actions import admin_tables
from dashboard.auth import require_role
from dashboard.deps import Deps


def register(app: Dash, deps: Deps) -> None:
    """Register the admin page's refresh."""

    @app.callback(Output(ids.ADMIN_ACCESS, "children"), Output(ids.ADMIN_REJECTIONS, "children"),
                  Input(ids.ADMIN_TICK, "n_intervals"))
    @require_role("admin")
    def refresh(tick: int | None) -> tuple[Any, Any]:
        return admin_tables(deps)
