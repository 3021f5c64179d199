"""View models of the admin page: access-log rows and rejection rows (pure, no Dash).

People and places are named as people read them: a unit by its callsign, a hotspot by its
name, a drawn area by its size and where it lies (never its raw GeoJSON).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from dashboard.times import BadTimeError, local_datetime, parse_rfc3339

ACCESS_SHOWN = 50  # one page; older pages are a click away (and /api/access-log)
REJECTIONS_SHOWN = 20
WHAT_SAID = {
    "trail": "trail", "visits": "visits at a hotspot", "hotspot_panel": "hotspot visit history",
    "replay": "replay of a period", "replay_follow": "replay, following a unit",
    "replay_frame": "replay frame", "replay_timeline": "replay timeline",
    "replay_next_gap": "replay, next gap", "replay_next_emergency": "replay, next emergency",
    "presence": "who was here", "report": "operation report",
}
TEXT_SHOWN = 120  # a hostile payload or detail is cut, never shown whole


@dataclass(frozen=True)
class AccessRow:
    """One read of history: when, by whom, what and whose (unit or hotspot) for which period."""

    when: str
    user: str
    what: str
    whose: str
    period: str


@dataclass(frozen=True)
class RejectionRow:
    """One rejected message: when, why, on which topic, and how it began."""

    when: str
    reason: str
    topic: str
    detail: str
    payload: str


def _epoch(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_rfc3339(value, "time")
        except BadTimeError:
            return None
    return None


def _moment(value: Any, zone: ZoneInfo) -> str:
    ts = _epoch(value)
    return local_datetime(ts, zone) if ts is not None else "—"


def _cut(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= TEXT_SHOWN else text[: TEXT_SHOWN - 1] + "…"


def period(entry: Mapping[str, Any], zone: ZoneInfo) -> str:
    """Say which period a read covered: ``since – until``, ``at …`` or ``—``."""
    if entry.get("at") is not None:
        return f"at {_moment(entry['at'], zone)}"
    since, until = entry.get("since"), entry.get("until")
    if since is None and until is None:
        return "—"
    return f"{_moment(since, zone)} – {_moment(until, zone)}"


def whose(entry: Mapping[str, Any], hotspots: Mapping[str, str] | None = None,
          callsigns: Mapping[str, str] | None = None) -> str:
    """Say whose history was read: the unit's callsign, the hotspot's name, or the area."""
    parts = []
    unit, hotspot = entry.get("unit"), entry.get("hotspot")
    if unit not in (None, ""):
        callsign = (callsigns or {}).get(str(unit), str(unit))
        parts.append(f"unit {callsign}" + (f" ({unit})" if callsign != unit else ""))
    if hotspot not in (None, ""):
        parts.append(f"hotspot {(hotspots or {}).get(str(hotspot), str(hotspot))}")
    if entry.get("area"):
        parts.append(str(entry["area"]))
    elif entry.get("polygon"):  # entries from before areas were summarised when read
        from dashboard.access import area_summary

        parts.append(area_summary(str(entry["polygon"])))
    return _cut(", ".join(parts)) or "—"


def what_said(what: Any) -> str:
    """Say what kind of read an entry was, in words."""
    return WHAT_SAID.get(str(what), _cut(what or "?"))


def access_rows(entries: Iterable[Mapping[str, Any]], zone: ZoneInfo,
                limit: int = ACCESS_SHOWN, hotspots: Mapping[str, str] | None = None,
                callsigns: Mapping[str, str] | None = None) -> list[AccessRow]:
    """Return the newest history reads first, as the admin table shows them."""
    ordered = sorted(entries, key=lambda e: _epoch(e.get("ts")) or 0.0, reverse=True)
    return [AccessRow(when=_moment(e.get("ts"), zone), user=_cut(e.get("user") or "?"),
                      what=what_said(e.get("what")), whose=whose(e, hotspots, callsigns),
                      period=period(e, zone))
            for e in ordered[:limit]]


def rejection_rows(entries: Iterable[Mapping[str, Any]], zone: ZoneInfo,
                   limit: int = REJECTIONS_SHOWN) -> list[RejectionRow]:
    """Return recent ingest rejections (as the store keeps them, newest first)."""
    return [RejectionRow(when=_moment(e.get("ts"), zone), reason=_cut(e.get("reason") or "?"),
                         topic=_cut(e.get("topic")), detail=_cut(e.get("detail")),
                         payload=_cut(e.get("payload")))
            for e in list(entries)[:limit]]

