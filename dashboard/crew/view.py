"""Pure values of the crew page: the position payload from a browser geolocation fix."""

from __future__ import annotations

import math
from typing import Any

MAX_FIX_AGE_S = 120.0  # an older fix is not "where I am now"


def _stamp(now: float) -> float:
    return round(now, 3)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def position_body(position: Any, timestamp_ms: Any, now: float) -> dict[str, Any] | str:
    """Return the position payload from a browser geolocation fix, or why it cannot be sent."""
    if not isinstance(position, dict):
        return "no position from the browser yet"
    lat, lon = _finite(position.get("lat")), _finite(position.get("lon"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return "the browser gave no usable position"
    fix = _finite(timestamp_ms)
    ts = now if fix is None else min(fix / 1000.0, now)  # a phone clock ahead of ours: now
    if now - ts > MAX_FIX_AGE_S:
        return f"the browser's fix is {now - ts:.0f} s old: waiting for a fresh one"
    body: dict[str, Any] = {"ts": _stamp(ts), "lat": lat, "lon": lon}
    acc, speed, heading = (_finite(position.get(k)) for k in ("accuracy", "speed", "heading"))
    if acc is not None and acc >= 0:
        body["acc"] = round(acc, 1)
    if speed is not None and speed >= 0:
        body["speed"] = round(speed, 2)
    if heading is not None and 0 <= heading <= 360:
        body["heading"] = round(heading % 360, 1)
    return body
