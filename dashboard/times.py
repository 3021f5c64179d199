"""Times as people and the API see them: RFC 3339 in and out, local clock times, durations."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


class BadTimeError(ValueError):
    """A time a client sent that cannot be used, with what to send instead."""


def parse_rfc3339(text: str, name: str) -> float:
    """Parse an RFC 3339 time with a zone (``2026-11-28T14:03:00Z``) into epoch seconds."""
    raw = text.strip()
    if not raw:
        raise BadTimeError(f"{name} is empty: give an RFC 3339 time such as 2026-11-28T14:03:00Z")
    try:
        moment = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise BadTimeError(
            f"{name}={text!r} is not an RFC 3339 time: use e.g. 2026-11-28T14:03:00Z"
        ) from None
    if "T" not in raw.upper() or moment.tzinfo is None:
        raise BadTimeError(
            f"{name}={text!r} has no date-time with a zone: add Z (UTC) or an offset such as +01:00"
        )
    return moment.timestamp()


def rfc3339(ts: float | None) -> str | None:
    """Format epoch seconds as an RFC 3339 UTC string (milliseconds only when not whole)."""
    if ts is None or not math.isfinite(ts):
        return None
    moment = datetime.fromtimestamp(ts, UTC)
    if moment.microsecond == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def local_clock(ts: float | None, zone: ZoneInfo, seconds: bool = False) -> str:
    """Format epoch seconds as a local wall-clock time, ``14:03`` (``—`` when unknown)."""
    if ts is None or not math.isfinite(ts):
        return "—"
    return datetime.fromtimestamp(ts, zone).strftime("%H:%M:%S" if seconds else "%H:%M")


def local_datetime(ts: float | None, zone: ZoneInfo) -> str:
    """Format epoch seconds as a local date and time, ``Sat 28 Nov 14:03``."""
    if ts is None or not math.isfinite(ts):
        return "—"
    return datetime.fromtimestamp(ts, zone).strftime("%a %d %b %H:%M")


def zone_abbreviation(ts: float, zone: ZoneInfo) -> str:
    """Return the zone's abbreviation at a moment (GMT or BST for Europe/London)."""
    return datetime.fromtimestamp(ts, zone).strftime("%Z")


def duration_text(seconds: float) -> str:
    """Say a duration the way a control room reads it: ``45 s``, ``12 min``, ``1 h 12 min``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def ago(ts: float | None, now: float) -> str:
    """Say how long ago something happened: ``just now``, ``2 min ago``, ``never``."""
    if ts is None or not math.isfinite(ts):
        return "never"
    age = now - ts
    if age < 10:
        return "just now"
    return f"{duration_text(age)} ago"
