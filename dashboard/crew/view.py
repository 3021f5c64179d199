"""Pure values of the crew page: the position payload, what the control room made of an alarm."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from dashboard.times import local_clock

MAX_FIX_AGE_S = 120.0  # an older fix is not "where I am now"
SEEN_SHOWN_S = 30 * 60.0  # "seen by the control room" stays this long after the emergency ends


def emergency_line(open_alarms: Sequence[Mapping[str, Any]], ack: Mapping[str, Any] | None,
                   status: Mapping[str, Any] | None, now: float, zone: ZoneInfo
                   ) -> tuple[str, bool] | None:
    """Return what the control room made of the unit's emergency, and whether it was seen.

    ``open_alarms`` are the unit's alarms nobody acknowledged yet; ``ack`` the unit's last
    emergency acknowledgement (``{by, ts, status_ts}``); ``status`` its latest status. An
    officer in danger needs to know the control room has seen it: "waiting" while any
    alarm is open, then "Seen by the control room at HH:MM (by NAME)" while the EMERGENCY
    lasts, and for a while after it ends.
    """
    if open_alarms:
        first = min(float(a.get("arrival") or a.get("ts") or now) for a in open_alarms)
        return (f"EMERGENCY sent at {local_clock(first, zone)}: the control room is alerted "
                "and has not acknowledged yet. Use your radio if you can.", False)
    if not ack or not isinstance(ack.get("ts"), int | float):
        return None
    in_emergency = (status or {}).get("status") == "EMERGENCY"
    if not in_emergency and now - float(ack["ts"]) > SEEN_SHOWN_S:
        return None
    if in_emergency and isinstance(ack.get("status_ts"), int | float) and isinstance(
            (status or {}).get("ts"), int | float) and float(status["ts"]) > float(  # type: ignore[index]
            ack["status_ts"]) + 0.001:
        return None  # a newer EMERGENCY than the one acknowledged: its alarm speaks for it
    return (f"Seen by the control room at {local_clock(float(ack['ts']), zone)} "
            f"(by {ack.get('by') or 'a supervisor'}).", True)


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
