"""Every period and moment a caller gives, checked in one place (pure: no I/O, no clock).

The API's ``since``/``until``/``at`` (RFC 3339), the experiment routes' ``date``
(``YYYY-MM-DD``) and the replay page's clock all pass through here: a value that is
malformed, not finite, older than the retention period (``PATROL_TRAIL_RETENTION_DAYS``:
nothing older exists anywhere) or further in the future than a period can reach is refused
with a ``PeriodError`` saying why, which routes answer as 400. Year 0001 and year 9999 are
refused by the same bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

FUTURE_PERIOD_S = 86_400.0  # a period may reach into the rest of today's shifts, no further
EXAMPLE = "2026-11-28T14:03:00Z"


class PeriodError(ValueError):
    """A period or moment that cannot be used, with what to send instead."""


@dataclass(frozen=True)
class Bounds:
    """What any period may cover: from ``now - retention_s`` to ``now + future_s``."""

    now: float
    retention_s: float
    future_s: float = FUTURE_PERIOD_S

    @property
    def oldest(self) -> float:
        """Return the oldest moment still kept."""
        return self.now - self.retention_s

    @property
    def newest(self) -> float:
        """Return the latest moment a period may reach."""
        return self.now + self.future_s


def parse_time(text: str, name: str) -> float:
    """Return an RFC 3339 date-time with a zone as epoch seconds; raise PeriodError."""
    raw = text.strip() if isinstance(text, str) else ""
    if not raw or len(raw) > 40:
        raise PeriodError(f"{name} must be an RFC 3339 time such as {EXAMPLE}")
    try:
        moment = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise PeriodError(f"{name}={raw!r} is not an RFC 3339 time: use e.g. {EXAMPLE}") from None
    if "T" not in raw.upper() or moment.tzinfo is None:
        raise PeriodError(f"{name}={raw!r} has no date-time with a zone: add Z (UTC) or an "
                          "offset such as +01:00")
    try:
        return moment.timestamp()
    except (OverflowError, ValueError):
        raise PeriodError(f"{name}={raw!r} is out of range") from None


def _days(seconds: float) -> str:
    return f"{seconds / 86_400:g} days"


def check_moment(ts: float, name: str, bounds: Bounds) -> float:
    """Return ``ts`` if it lies within the bounds; raise PeriodError saying why not."""
    if not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts):
        raise PeriodError(f"{name} is not a time")
    if ts < bounds.oldest:
        raise PeriodError(f"{name} is older than the retention period "
                          f"({_days(bounds.retention_s)}): nothing that old is kept")
    if ts > bounds.newest:
        raise PeriodError(f"{name} is in the future (more than "
                          f"{bounds.future_s / 3600:g} h ahead)")
    return float(ts)


def check_period(since: float, until: float, bounds: Bounds, max_s: float
                 ) -> tuple[float, float]:
    """Return (since, until) if both lie within the bounds, in order, at most ``max_s`` apart."""
    check_moment(since, "since", bounds)
    check_moment(until, "until", bounds)
    if since > until:
        raise PeriodError("since is after until: swap them")
    if until - since > max_s:
        raise PeriodError(f"the period is longer than {max_s / 3600:g} h: ask for shorter pieces")
    return float(since), float(until)


def period_from_args(args: Mapping[str, str], bounds: Bounds, default_s: float,
                     max_s: float) -> tuple[float, float]:
    """Return (since, until) from query arguments (default: the ``default_s`` before now)."""
    until = parse_time(args["until"], "until") if "until" in args else bounds.now
    since = parse_time(args["since"], "since") if "since" in args else until - default_s
    if "since" not in args:
        since = max(since, bounds.oldest)  # a default never asks for what is gone
    return check_period(since, until, bounds, max_s)


def moment_from_args(args: Mapping[str, str], name: str, bounds: Bounds,
                     future_s: float) -> float:
    """Return the moment ``name`` of the query (default now), at most ``future_s`` ahead."""
    ts = parse_time(args[name], name) if name in args else bounds.now
    return check_moment(ts, name, Bounds(bounds.now, bounds.retention_s, future_s))


def check_date(text: str, name: str, zone: ZoneInfo, bounds: Bounds) -> date:
    """Return a local date ``YYYY-MM-DD`` whose day overlaps the bounds; raise PeriodError."""
    raw = text.strip() if isinstance(text, str) else ""
    try:
        day = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise PeriodError(f"{name}={raw[:40]!r} is not a date: use YYYY-MM-DD")
    try:
        start = datetime.combine(day, datetime.min.time(), zone).timestamp()
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).timestamp()
    except (OverflowError, ValueError):
        raise PeriodError(f"{name}={raw!r} is out of range") from None
    if end <= bounds.oldest:
        raise PeriodError(f"{name} is older than the retention period "
                          f"({_days(bounds.retention_s)})")
    if start > bounds.newest:
        raise PeriodError(f"{name} is in the future")
    return day
