"""Admin page wiring: one callback, admin role checked on the server (403 for anyone else)."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, ctx

from dashboard import ids
from dashboard.admin.actions import admin_tables
from dashboard.auth import require_role
from dashboard.deps import Deps


def register(app: Dash, deps: Deps) -> None:
    """Register the admin page's refresh and the access log's paging."""

    @app.callback(Output(ids.ADMIN_ACCESS, "children"), Output(ids.ADMIN_REJECTIONS, "children"),
                  Output(ids.ADMIN_CURSOR, "data"), Output(ids.ADMIN_PAGE_SAID, "children"),
                  Output(ids.ADMIN_OLDER, "disabled"),
                  Input(ids.ADMIN_TICK, "n_intervals"), Input(ids.ADMIN_OLDER, "n_clicks"),
                  Input(ids.ADMIN_NEWEST, "n_clicks"), State(ids.ADMIN_CURSOR, "data"))
    @require_role("admin")
    def refresh(tick: int | None, older: int | None, newest: int | None,
                cursor: Any) -> tuple[Any, Any, Any, Any, Any]:
        return admin_tables(deps, ctx.triggered_id, cursor)
