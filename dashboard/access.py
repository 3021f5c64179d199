"""Record every read of history in the access log (CONTRACT.md section 4, DOMAIN.md Privacy).

What counts as history: anything about who was where before the current active window of a
hotspot (``current_window_start``): trails, visits, replay frames and tracks, presence,
reports, and the panels that show them. Reads that repeat while someone keeps looking (a
replay playing through its period, a follow, a refreshing panel) are written once per
user and scope (``record_read_once``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

from patrolwatch.store import Store

REPLAY_SCOPE_S = 12 * 3600.0  # one entry per period a replay session loads (a shift, at most)
PANEL_SCOPE_S = 3600.0  # one entry per hotspot panel's history per user per hour of looking


def record_read(store: Store, user: str, what: str, **detail: Any) -> None:
    """Log that ``user`` read ``what`` (e.g. ``trail``, ``replay_frame``), with its scope.

    ``detail`` says whom and which period: ``unit=``, ``hotspot=``, ``since=``, ``until=``
    (epoch seconds or RFC 3339 strings), ``at=``. Called before the data is returned, so a
    read that the log cannot record is not served (the caller lets RedisError through).
    """
    store.log_access({"ts": time.time(), "user": user, "what": what, **detail})


def record_read_once(store: Store, user: str, what: str, scope: str, ttl_s: float,
                     **detail: Any) -> bool:
    """Log the read unless ``user`` read the same ``what`` and ``scope`` within ``ttl_s``."""
    return store.log_access_once({"ts": time.time(), "user": user, "what": what, **detail},
                                 f"{what}\x00{scope}", ttl_s)


def current_window_start(entry: Mapping[str, Any] | None, now: float) -> float:
    """Return where a hotspot's current active window began (``now`` when it is not active).

    Visits inside the window are the live picture every control-room role sees; anything
    before it is history.
    """
    start = (entry or {}).get("window_start")
    if isinstance(start, int | float) and not isinstance(start, bool) and math.isfinite(start):
        return min(float(start), now)
    return now


def area_summary(polygon: Mapping[str, Any] | str | None) -> str:
    """Say in words which area a polygon covers: ``drawn area ≈ 0.4 km² near 51.5, -0.13``."""
    from patrolwatch.archive.presence import BadAreaError, polygon_area
    from patrolwatch.core.geo import LocalProjection

    text = polygon if isinstance(polygon, str) else json.dumps(polygon)
    try:
        shape = polygon_area(text or "").geometry
        centre = shape.centroid
        km2 = LocalProjection(centre.y, centre.x).project(shape).area / 1e6
    except (BadAreaError, ValueError, TypeError):
        return "a drawn area"
    size = f"{km2:.2g}" if km2 < 10 else f"{km2:,.0f}"
    return f"drawn area ≈ {size} km² near {centre.y:.4f}, {centre.x:.4f}"
