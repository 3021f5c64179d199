"""What the admin page reads through the Store: the access log and recent rejections."""

from __future__ import annotations

from typing import Any

from dashboard.admin import components, view
from dashboard.deps import Deps


def admin_tables(deps: Deps) -> tuple[Any, Any]:
    """Return the access-log table and the rejections table, read now."""
    zone = deps.settings.zone
    access = view.access_rows(deps.store.access_log(view.ACCESS_SHOWN), zone)
    rejected = view.rejection_rows(deps.store.recent_rejections(view.REJECTIONS_SHOWN), zone)
    return components.access_table(access), components.rejections_table(rejected)
