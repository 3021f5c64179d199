"""What the admin page reads through the Store: the access log (paged) and recent rejections."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from dashboard import ids
from dashboard.admin import components, view
from dashboard.deps import Deps


def cursor_after(trigger: Any, cursor: Mapping[str, Any] | None, next_before: float | None
                 ) -> dict[str, Any]:
    """Return the page cursor after a click: older moves on, newest goes back to the top."""
    cursor = dict(cursor or {})
    before = cursor.get("before")
    back = [b for b in cursor.get("back", []) if b is None or isinstance(b, int | float)][-100:]
    if trigger == ids.ADMIN_NEWEST:
        return {"before": None, "back": []}
    if trigger == ids.ADMIN_OLDER and next_before is not None:
        return {"before": next_before, "back": [*back, before]}
    ok = before is None or (isinstance(before, int | float) and math.isfinite(before))
    return {"before": before if ok else None, "back": back if ok else []}


def admin_tables(deps: Deps, trigger: Any = None, cursor: Mapping[str, Any] | None = None
                 ) -> tuple[Any, Any, dict[str, Any], str, bool]:
    """Return the access-log page, the rejections table, the cursor, what page it is, and
    whether there is an older page, read now."""
    zone = deps.settings.zone
    current = cursor_after(None, cursor, None)
    if trigger in (ids.ADMIN_OLDER, ids.ADMIN_NEWEST):
        shown = deps.store.access_page(view.ACCESS_SHOWN + 1, before=current["before"])
        last = shown[min(len(shown), view.ACCESS_SHOWN) - 1][0] if shown else None
        more = last if len(shown) > view.ACCESS_SHOWN else None
        current = cursor_after(trigger, current, more)
    page = deps.store.access_page(view.ACCESS_SHOWN + 1, before=current["before"])
    older = len(page) > view.ACCESS_SHOWN
    names = {h.id: h.name for h in deps.hotspots}
    access = view.access_rows([e for _, e in page[:view.ACCESS_SHOWN]], zone,
                              hotspots=names, callsigns=deps.callsigns)
    rejected = view.rejection_rows(deps.store.recent_rejections(view.REJECTIONS_SHOWN), zone)
    said = ("Newest reads" if current["before"] is None
            else f"Older reads: page {len(current['back']) + 1}")
    return (components.access_table(access), components.rejections_table(rejected), current,
            said, not older)
