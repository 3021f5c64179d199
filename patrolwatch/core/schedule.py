"""Hotspot schedules: weekly local-time rules turned into concrete, DST-correct UTC windows.

Semantics (CONTRACT.md §5, DOMAIN.md "Active"):

- A rule runs on its local weekdays from ``start`` to ``end`` wall time in the schedule's
  zone. ``end <= start`` crosses midnight and the window belongs to its start day: a Fri
  22:00-03:00 rule runs Fri 22:00 -> Sat 03:00. ``24:00`` is accepted as an end and means
  the next midnight; ``start == end`` is a 24-hour (wall-clock) window.
- No rules means always active, as daily windows 00:00 -> next 00:00 local, so a window is
  23 h or 25 h long on clock-change days.
- ``valid_from`` / ``valid_to`` are local dates, inclusive, bounding the start day of a
  window (a window starting on ``valid_to`` may run past midnight).
- Wall times become instants with zoneinfo. A wall time that does not exist (01:30 on
  spring-forward night) moves forward to the first valid instant (02:00 BST); an ambiguous
  one (01:30 on fall-back night) takes its first occurrence (BST). So a 22:00-03:00 window
  is 4 h long on spring-forward night and 6 h on fall-back night.
- Windows are returned as aware UTC datetimes, half-open ``[start, end)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = frozenset(range(7))
RULE_KEYS = ("days", "start", "end")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ONE_SECOND = timedelta(seconds=1)
_WEEK_MINUTES = 7 * 1440


@dataclass(frozen=True, slots=True)
class Window:
    """One concrete active window, as timezone-aware UTC datetimes, ``start <= t < end``."""

    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        """Tell whether the moment falls inside the window."""
        return self.start <= moment < self.end


@dataclass(frozen=True, slots=True)
class ScheduleRule:
    """Weekly rule: on these local weekdays (0 = Monday) from ``start`` to ``end`` local time.

    ``end`` before (or equal to) ``start`` crosses midnight into the next day.
    """

    days: frozenset[int]
    start: time
    end: time


# Always active: every day from midnight to the next midnight.
ALWAYS: tuple[ScheduleRule, ...] = (ScheduleRule(ALL_DAYS, time(0), time(0)),)


def _parse_hhmm(value: Any, key: str, *, allow_24: bool) -> time:
    if allow_24 and value == "24:00":
        return time(0)  # the next midnight: end <= start then crosses into the next day
    match = _HHMM.match(value) if isinstance(value, str) else None
    if match is None:
        also = " or 24:00" if allow_24 else ""
        raise ValueError(f"{key} {value!r} is not a 24-hour time HH:MM (00:00 to 23:59{also})")
    return time(int(match.group(1)), int(match.group(2)))


def _parse_days(value: Any) -> frozenset[int]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"days must be a non-empty list such as [\"fri\", \"sat\"], not {value!r}")
    days: set[int] = set()
    for item in value:
        name = item.lower() if isinstance(item, str) else None
        if name not in DAY_NAMES:
            raise ValueError(f"unknown day {item!r} (use {', '.join(DAY_NAMES)})")
        days.add(DAY_NAMES.index(name))
    return frozenset(days)


def parse_rule(raw: Any) -> ScheduleRule:
    """Build a rule from ``{"days": [...], "start": "HH:MM", "end": "HH:MM"}``; raise ValueError."""
    if not isinstance(raw, dict):
        raise ValueError(
            'a schedule rule must be an object {"days": ["mon", ...], "start": "HH:MM", '
            f'"end": "HH:MM"}}, not {raw!r}'
        )
    reasons: list[str] = []
    unknown = sorted(str(key) for key in raw if key not in RULE_KEYS)
    if unknown:
        reasons.append(f"unknown key {', '.join(map(repr, unknown))} (expected days, start, end)")
    missing = [key for key in RULE_KEYS if key not in raw]
    if missing:
        reasons.append(f"missing {', '.join(missing)}")
    parsed: dict[str, Any] = {}
    for key, parse in (
        ("days", _parse_days),
        ("start", lambda v: _parse_hhmm(v, "start", allow_24=False)),
        ("end", lambda v: _parse_hhmm(v, "end", allow_24=True)),
    ):
        if key in raw:
            try:
                parsed[key] = parse(raw[key])
            except ValueError as exc:
                reasons.append(str(exc))
    if reasons:
        raise ValueError("; ".join(reasons))
    return ScheduleRule(parsed["days"], parsed["start"], parsed["end"])


def format_rule(rule: ScheduleRule) -> str:
    """Describe a rule the way a person writes it, e.g. ``fri,sat 22:00-03:00``."""
    days = ",".join(DAY_NAMES[d] for d in sorted(rule.days))
    end = "24:00" if rule.end == time(0) and rule.start != time(0) else rule.end.strftime("%H:%M")
    return f"{days} {rule.start.strftime('%H:%M')}-{end}"


def _week_intervals(rule: ScheduleRule) -> list[tuple[int, int, str]]:
    """Return the rule's windows as minutes since Monday 00:00 of a wall-clock week."""
    start = rule.start.hour * 60 + rule.start.minute
    end = rule.end.hour * 60 + rule.end.minute
    length = end - start if end > start else end - start + 1440
    return [(d * 1440 + start, d * 1440 + start + length, DAY_NAMES[d]) for d in sorted(rule.days)]


def overlap_problems(rules: Sequence[ScheduleRule]) -> list[str]:
    """Say which rules overlap in wall-clock time (windows must not overlap; merge them)."""
    spans = [(i, *span) for i, rule in enumerate(rules) for span in _week_intervals(rule)]
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    for a in range(len(spans)):
        for b in range(a + 1, len(spans)):
            ia, sa, ea, da = spans[a]
            ib, sb, eb, db = spans[b]
            # Compare across the week boundary too: Sun 22:00-03:00 reaches into Monday.
            # A rule never overlaps itself: one window lasts at most 24 wall-clock hours.
            if ia == ib or (ia, ib) in seen:
                continue
            if any(sa < eb + k and sb + k < ea for k in (-_WEEK_MINUTES, 0, _WEEK_MINUTES)):
                seen.add((ia, ib))
                found.append(
                    f"schedule[{ia}] ({format_rule(rules[ia])}) and schedule[{ib}] "
                    f"({format_rule(rules[ib])}) overlap on {da if da == db else da + '/' + db}:"
                    " merge them into one rule"
                )
    return found


def wall_to_utc(day: date, wall: time, tz: tzinfo) -> datetime:
    """Return the UTC instant of a local wall time (gap: first valid instant; fold: first)."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)  # fold=0: first occurrence
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first
    # The wall time falls in a gap. fold=1 applies the offset after the transition, which
    # gives an instant before it; fold=0 the offset before, an instant after it. Bisect on
    # whole seconds (zone transitions are whole seconds) for the transition itself.
    lo = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = first
    before = lo.astimezone(tz).utcoffset()
    while hi - lo > _ONE_SECOND:
        mid = lo + timedelta(seconds=(hi - lo) // _ONE_SECOND // 2)
        if mid.astimezone(tz).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return hi


@lru_cache(maxsize=1 << 16)
def _day_windows(rules: tuple[ScheduleRule, ...], day: date, tz: tzinfo) -> tuple[Window, ...]:
    """Return the windows that start on one local day, in rule order (cached: pure)."""
    found: list[Window] = []
    for rule in rules:
        if day.weekday() not in rule.days:
            continue
        end_day = day if rule.end > rule.start else day + timedelta(days=1)
        window = Window(wall_to_utc(day, rule.start, tz), wall_to_utc(end_day, rule.end, tz))
        if window.start < window.end:  # a window inside a clock-change gap has no length
            found.append(window)
    return tuple(found)


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {moment!r}")


def windows_between(
    rules: Iterable[ScheduleRule],
    valid_from: date | None,
    valid_to: date | None,
    start: datetime,
    end: datetime,
    tz: tzinfo,
) -> list[Window]:
    """Return every window overlapping ``[start, end)``, sorted by start."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end <= start:
        return []
    rules_key = tuple(rules) or ALWAYS
    # A window lasts at most 25 h, so none starting before the day before `start` reaches it.
    first = start.astimezone(tz).date() - timedelta(days=2)
    last = end.astimezone(tz).date()
    if valid_from is not None:
        first = max(first, valid_from)
    if valid_to is not None:
        last = min(last, valid_to)
    found: list[Window] = []
    day = first
    while day <= last:
        found.extend(
            w for w in _day_windows(rules_key, day, tz) if w.start < end and w.end > start
        )
        day += timedelta(days=1)
    found.sort(key=lambda w: (w.start, w.end))
    return found


def active_window(
    rules: Iterable[ScheduleRule],
    valid_from: date | None,
    valid_to: date | None,
    now: datetime,
    tz: tzinfo,
) -> Window | None:
    """Return the window containing ``now``, or None when the schedule is not active."""
    _require_aware(now, "now")
    for window in windows_between(rules, valid_from, valid_to, now, now + _ONE_SECOND, tz):
        if window.contains(now):
            return window
    return None
