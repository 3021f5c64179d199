"""Hotspot coverage now: patrol-minutes, state (present/covered/due/gap), gaps and gap events.

DOMAIN.md "Hotspot state", with T = ``max_gap_minutes``, M = ``min_visit_minutes``, the due
warning W (15 min) and reference = the latest of the window's start, the end of the last
qualifying visit and the start of the current stretch of observed time
(:mod:`patrolwatch.core.observed`):

- ``inactive``: no active window now.
- ``no_data``: active, and either now is not observed (the feed is stale), or the current
  stretch of observed time began after the window's start and the last qualifying visit's end
  and has lasted less than T: absence cannot be told from silence yet. A system started two
  minutes ago shows ``no_data``, never "18 h overdue"; once the stretch has lasted T with no
  qualifying visit, the hotspot is in ``presence_gap`` since stretch start + T.
- ``present``: an eligible unit is inside now. Present wins over every kind of gap, including
  ``shortfall``: someone is there now, so there is nothing to redeploy; the shortfall shows
  again as soon as they leave if the window still lacks a qualifying visit. It also wins over
  the young-stretch ``no_data``: a unit inside now is data, whatever came before.
- ``gap``, kind ``presence_gap``: now - reference >= T; it opened at reference + T.
- ``gap``, kind ``shortfall``: no qualifying visit in this window yet and less than M minutes
  of the window remain, so the window can no longer get one; it opened at window end - M.
  When both kinds hold, the gap is the kind that opened first (presence_gap on a tie), so a
  gap keeps its kind and its ``since`` for as long as it lasts.
- ``due``: T - W <= now - reference < T; ``covered``: now - reference < T - W.

Visits are taken as of ``now``: one that starts later is ignored and one still running is cut
at ``now``. A visit counts in the window when it overlaps it; its patrol- and
officer-minutes count only the part inside the window.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from patrolwatch.core.schedule import Window
from patrolwatch.core.taskings import rfc3339
from patrolwatch.core.visits import TIME_EPS, Visit

if TYPE_CHECKING:
    from patrolwatch.core.hotspots import Hotspot

State = Literal["present", "covered", "due", "gap", "inactive", "no_data"]
GapKind = Literal["presence_gap", "shortfall"]
STATES: tuple[State, ...] = ("present", "covered", "due", "gap", "inactive", "no_data")
COVERAGE_TOPIC = "patrol/events/coverage"


class HotspotCoverage(NamedTuple):
    """One hotspot's coverage at one moment (epoch seconds, minutes as floats).

    A named tuple: the evaluator makes one per hotspot per tick, and a frozen dataclass of
    17 fields took a fifth of the coverage tick's states time to build (docs/benchmarks.md).
    """

    hotspot: str
    active: bool
    state: State
    gap_kind: GapKind | None
    gap_since: float | None
    overdue_minutes: float
    window: Window | None
    last_visit_end: float | None  # end of the last qualifying visit, any time
    visits_in_window: int
    qualifying_visits_in_window: int
    patrol_minutes_in_window: float
    officer_minutes_in_window: float
    present_units: tuple[str, ...]
    reference: float | None  # None when inactive
    evaluated_at: float
    observed_since: float | None = None  # start of the current stretch of observed time
    last_presence_end: float | None = None  # end of the last visit of any length, any time


@dataclass(frozen=True)
class Gap:
    """A hotspot in ``gap``, with what a supervisor needs to redeploy to it."""

    hotspot: str
    name: str
    kind: GapKind
    since: float
    priority: int
    overdue_minutes: float
    lat: float
    lon: float


class WindowCache:
    """Each hotspot's active window, from its schedule worked out hours ahead at a time.

    ``Hotspot.window_at`` expands the schedule on every call; the evaluator asks it of every
    hotspot every tick, so this keeps each hotspot's windows overlapping the next ``ahead_s``
    and answers from them. The answer is the same: the first window, by start, holding now.
    """

    def __init__(self, tz: tzinfo, ahead_s: float = 6 * 3600.0) -> None:
        self.tz = tz
        self.ahead_s = ahead_s
        self._spans: dict[str, tuple[Hotspot, float, float, list[tuple[float, float, Window]]]] = {}

    def window_at(self, hotspot: Hotspot, now: float) -> Window | None:
        """Return the hotspot's window containing ``now`` (epoch seconds), or None."""
        entry = self._spans.get(hotspot.id)
        if entry is None or entry[0] is not hotspot or not entry[1] <= now < entry[2]:
            begin = datetime.fromtimestamp(now, UTC)
            windows = hotspot.windows_between(begin, begin + timedelta(seconds=self.ahead_s),
                                              self.tz)
            entry = (hotspot, now, now + self.ahead_s,
                     [(w.start.timestamp(), w.end.timestamp(), w) for w in windows])
            self._spans[hotspot.id] = entry
        for start, end, window in entry[3]:
            if start <= now < end:
                return window
        return None


def _minutes(visits: Sequence[Visit], start: float, end: float) -> tuple[float, float]:
    """Return (patrol-minutes, officer-minutes) of visits clipped to [start, end)."""
    union = summed = 0.0
    cover_end = last = -float("inf")
    for v in visits:  # one pass when sorted by start, as the engine gives them
        a = v.start if v.start > start else start
        b = v.end if v.end < end else end
        if b <= a:
            continue
        if a < last:
            return _minutes(sorted(visits, key=lambda v: v.start), start, end)
        last = a
        summed += b - a
        if b > cover_end:
            union += b - (a if a > cover_end else cover_end)
            cover_end = b
    return union / 60.0, summed / 60.0


def patrol_minutes(visits: Iterable[Visit], start: float, end: float) -> float:
    """Return minutes in [start, end) with at least one unit on a visit (union of visits)."""
    return _minutes(list(visits), start, end)[0]


def officer_minutes(visits: Iterable[Visit], start: float, end: float) -> float:
    """Return the summed minutes of every visit inside [start, end)."""
    return _minutes(list(visits), start, end)[1]


def evaluate_hotspot(
    hotspot: Hotspot,
    window: Window | None,
    visits: Sequence[Visit],
    present_units: Collection[str],
    now: float,
    observed_since: float | None,
    due_warning_minutes: float = 15.0,
) -> HotspotCoverage:
    """Return one hotspot's coverage at ``now`` from its visits and the units inside now.

    ``observed_since`` is the start of the stretch of observed time holding ``now``
    (``ALWAYS_OBSERVED`` for one with no beginning), or None when now is not observed.
    """
    present = tuple(sorted(present_units))
    need = hotspot.min_visit_minutes * 60.0 - TIME_EPS
    start, end = (window.start.timestamp(), window.end.timestamp()) if window else (now, now)
    last_end: float | None = None
    seen: float | None = None
    in_window: list[Visit] = []
    qualifying = 0
    for v in visits:  # one pass: this runs for every hotspot on every tick
        if v.start > now:
            continue
        finish = v.end if v.end <= now else now
        if seen is None or finish > seen:
            seen = finish
        good = finish - v.start >= need
        if good and (last_end is None or finish > last_end):
            last_end = finish
        if window is not None and v.start < end and v.end >= start:
            in_window.append(v)
            qualifying += good
    if window is None:
        return HotspotCoverage(hotspot.id, False, "inactive", None, None, 0.0, None, last_end,
                               0, 0, 0.0, 0.0, present, None, now, observed_since, seen)
    upto = min(end, now)
    reference = start if last_end is None else max(start, last_end)
    t = hotspot.max_gap_minutes * 60.0
    # The stretch began after the reference would otherwise be: nothing in it yet proves
    # absence until it has lasted T (a qualifying visit in it would be the reference).
    young = observed_since is not None and observed_since > reference and (
        now - observed_since < t - TIME_EPS)
    if observed_since is not None and observed_since > reference:
        reference = observed_since
    state: State
    kind: GapKind | None = None
    since: float | None = None
    if observed_since is None:
        state = "no_data"
    elif present:
        state = "present"
    elif young:
        state = "no_data"
    else:
        state, kind, since = _absent_state(hotspot, reference, end, qualifying, now,
                                           due_warning_minutes)
    overdue = max(0.0, (now - since) / 60.0) if since is not None else 0.0
    patrol, officer = _minutes(in_window, start, upto)
    return HotspotCoverage(
        hotspot.id, True, state, kind, since, overdue, window, last_end,
        len(in_window), qualifying, patrol, officer, present, reference, now, observed_since,
        seen,
    )


def _absent_state(
    hotspot: Hotspot, reference: float, end: float, qualifying: int, now: float,
    due_warning_minutes: float,
) -> tuple[State, GapKind | None, float | None]:
    """Return (state, gap kind, gap since) of an observed, active hotspot nobody is in now."""
    t = hotspot.max_gap_minutes * 60.0
    m = hotspot.min_visit_minutes * 60.0
    opened: list[tuple[float, GapKind]] = []
    if now - reference >= t - TIME_EPS:
        opened.append((reference + t, "presence_gap"))
    if qualifying == 0 and end - now < m - TIME_EPS:
        opened.append((end - m, "shortfall"))
    if opened:
        since, kind = min(opened, key=lambda o: o[0])  # the first one, presence_gap on a tie
        return "gap", kind, since
    if now - reference >= t - due_warning_minutes * 60.0 - TIME_EPS:
        return "due", None, None
    return "covered", None, None


def gaps(coverages: Iterable[HotspotCoverage], hotspots_by_id: Mapping[str, Hotspot]) -> list[Gap]:
    """Return the hotspots in gap, most urgent first: priority 1 first, then most overdue."""
    out = []
    for c in coverages:
        if c.state != "gap" or c.gap_kind is None or c.gap_since is None:
            continue
        h = hotspots_by_id[c.hotspot]
        out.append(Gap(c.hotspot, h.name, c.gap_kind, c.gap_since, h.priority,
                       c.overdue_minutes, h.centroid[0], h.centroid[1]))
    out.sort(key=lambda g: (g.priority, -g.overdue_minutes, g.hotspot))
    return out


def coverage_event(
    before: HotspotCoverage | None, after: HotspotCoverage, hotspot: Hotspot
) -> dict[str, Any] | None:
    """Return the event to publish when a hotspot enters or leaves ``gap``, else None.

    A gap that is replaced by a different one (new ``since`` or kind, e.g. a late qualifying
    visit moved the reference) is announced as a fresh ``gap_opened``. ``state`` says what the
    hotspot became, so a gap closed by ``no_data`` or ``inactive`` can be told from one closed
    by a visit.
    """
    was = before is not None and before.state == "gap"
    if after.state == "gap":
        if was and before is not None and (before.gap_kind, before.gap_since) == (
                after.gap_kind, after.gap_since):
            return None
        kind, since, kind_of = after.gap_kind, after.gap_since, "gap_opened"
    elif was and before is not None:
        kind, since, kind_of = before.gap_kind, before.gap_since, "gap_closed"
    else:
        return None
    return {
        "type": kind_of, "hotspot": hotspot.id, "name": hotspot.name, "kind": kind,
        "since": rfc3339(since), "ts": rfc3339(after.evaluated_at),
        "priority": hotspot.priority, "state": after.state,
    }
