"""Predictable patrol times: first visits at about the same local time on consecutive days.

Every trial protocol behind DOMAIN.md randomised visit times; a hotspot whose first visit of
the day falls within +/- ``tolerance_minutes`` of one local time of day on ``days`` or more
consecutive local days is flagged, so a supervisor can vary it.

Choices:

- The *first visit* of a local day is its first *qualifying* visit (at least M minutes).
  With 1 s to 1 min pings, every unit crossing a hotspot on its way elsewhere makes a
  0-minute visit, and commuting routes repeat daily: counting those would flag hotspots
  nobody patrols predictably and bury the real warnings. The deterrent visits that are
  planned, and that an offender can learn, are the qualifying ones.
- "Within +/- tolerance of the same time" means one time of day lies within the tolerance of
  every first visit of the run (they all fit in an arc of 2 x tolerance); the arc may cross
  midnight (23:55, 00:02, 23:59 is one pattern). ``typical_time`` is the arc's middle.
- A flag is a maximal run: each run of consecutive days that fits is reported unless a
  longer one already holds it, so four days drifting by 10 minutes a day (21:00, 21:10,
  21:20, 21:30) give two overlapping flags, and every predictable stretch is covered.
- Local days and times are in ``tz`` (DST-aware): 21:00 stays 21:00 across a clock change.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from patrolwatch.core.visits import Visit

_DAY_MINUTES = 1440.0


@dataclass(frozen=True)
class PredictabilityFlag:
    """A hotspot whose first qualifying visit came at about ``typical_time`` on these days."""

    hotspot: str
    days: list[date]
    typical_time: str  # "HH:MM", local


def _arc(minutes: list[float]) -> tuple[float, float]:
    """Return (length, start) of the shortest arc of the day's clock holding every time."""
    ordered = sorted(minutes)
    widest, start = ordered[0] + _DAY_MINUTES - ordered[-1], ordered[0]
    for a, b in itertools.pairwise(ordered):
        if b - a > widest:
            widest, start = b - a, b
    return _DAY_MINUTES - widest, start


def _first_visits(
    visits: Iterable[Visit], tz: tzinfo, min_minutes: float,
    min_minutes_by_hotspot: Mapping[str, float],
) -> dict[str, dict[date, float]]:
    """Return hotspot -> local day -> local minute of the day's first qualifying visit."""
    first: dict[str, dict[date, float]] = {}
    for v in sorted(visits, key=lambda v: v.start):
        if not v.qualifying(min_minutes_by_hotspot.get(v.hotspot, min_minutes)):
            continue
        local = datetime.fromtimestamp(v.start, tz)
        days = first.setdefault(v.hotspot, {})
        if local.date() not in days:
            days[local.date()] = local.hour * 60 + local.minute + local.second / 60.0
    return first


def predictable_patterns(
    visits: Iterable[Visit],
    tz: tzinfo,
    days: int = 3,
    tolerance_minutes: float = 10.0,
    min_minutes: float = 10.0,
    min_minutes_by_hotspot: Mapping[str, float] | None = None,
) -> list[PredictabilityFlag]:
    """Return the flags, by hotspot then first day (M per hotspot overrides ``min_minutes``)."""
    flags: list[PredictabilityFlag] = []
    by_hotspot = _first_visits(visits, tz, min_minutes, min_minutes_by_hotspot or {})
    width = 2 * tolerance_minutes + 1e-9
    for hotspot in sorted(by_hotspot):
        first = by_hotspot[hotspot]
        ordered = sorted(first)
        reported = -1  # index of the last day already in a flag's run
        j = 0
        for i in range(len(ordered)):
            # j only moves forward: a subset of a run that fits also fits.
            j = max(j, i)
            while (j + 1 < len(ordered) and ordered[j + 1] - ordered[j] == timedelta(days=1)
                   and _arc([first[d] for d in ordered[i:j + 2]])[0] <= width):
                j += 1
            if j - i + 1 >= days and j > reported:
                length, start = _arc([first[d] for d in ordered[i:j + 1]])
                middle = math.floor(start + length / 2 + 0.5) % int(_DAY_MINUTES)
                flags.append(PredictabilityFlag(hotspot, ordered[i:j + 1],
                                                f"{middle // 60:02d}:{middle % 60:02d}"))
                reported = j
    return flags
