"""Visits: runs of one unit's presence pings at one hotspot (DOMAIN.md "Visit").

Definitions, with G = ``gap_s``, E = ``grace_s``:

- A ping is *eligible* when the unit's status at the ping's event time is AVAILABLE or
  ON_PATROL. A status change applies from its own timestamp on (inclusive); a unit that has
  never sent one counts as ON_PATROL. Two status changes of one unit at the same instant
  merge to "not eligible" if either is, so arrival order never matters.
- A *presence ping* at hotspot h: eligible, geometrically inside h (``Ping.inside``, worked
  out by the caller), and ``acc`` absent or at most ``max_acc_m``.
- Two presence pings p < q at h, consecutive among the unit's presence pings at h, are
  *linked* when q - p <= G and either no other ping of the unit lies between them, or exactly
  one does (a non-presence ping) and q comes at most E after it. A visit is a maximal chain
  of linked pings; it runs from the first to the last, and one lone ping is a 0-minute visit.
- The same unit and event time twice is one ping; if the copies disagree, the ping counts as
  inside every hotspot either copy accurately places it in (a union, so any arrival order of
  re-delivered or doubled reports gives the same answer).

Times compare with a tolerance of ``TIME_EPS`` (1 microsecond), below the resolution of any
timestamp the contract accepts, so 12:00:00.123 -> 12:10:00.123 is a full 10 minutes even
though the subtraction of two epoch floats is off by a few hundred nanoseconds.

``visits_from_history`` is the plain reference over a whole trail;
:class:`patrolwatch.core.visit_engine.VisitEngine` keeps the same answer incrementally and
tests check one against the other.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from patrolwatch.core.model import ELIGIBLE_STATUSES, StatusChange

TIME_EPS = 1e-6
NOWHERE: frozenset[str] = frozenset()
NO_TIMES: array[float] = array("d")  # read-only


class Ping(NamedTuple):
    """One position of a unit, tagged with the hotspot ids it is geometrically inside.

    A named tuple for the same reason as :class:`Visit`: the evaluator builds one per position
    of the change feed, and a frozen dataclass costs about 1 µs to build, a tuple a fifth.
    """

    unit: str
    ts: float
    inside: frozenset[str]
    acc: float | None = None


class Visit(NamedTuple):
    """One unit's continuous presence at one hotspot, from its first to its last ping.

    A named tuple rather than a frozen dataclass: the live feed makes one per presence ping
    and the engine's delta hashes each a few times, and a tuple is built and hashed in C
    (about a fifth of the coverage tick's feed time, measured in docs/benchmarks.md).
    """

    unit: str
    hotspot: str
    start: float
    end: float
    pings: int

    @property
    def minutes(self) -> float:
        """Return the duration in minutes."""
        return (self.end - self.start) / 60.0

    def qualifying(self, min_minutes: float) -> bool:
        """Tell whether the visit lasts at least ``min_minutes`` (M)."""
        return self.end - self.start >= min_minutes * 60.0 - TIME_EPS


@dataclass(frozen=True)
class VisitParams:
    """G, E and the accuracy limit of a presence ping (DOMAIN.md defaults)."""

    gap_s: float = 120.0
    grace_s: float = 60.0
    max_acc_m: float = 100.0


@dataclass(frozen=True)
class VisitDelta:
    """What one ``VisitEngine.add`` changed: visits to drop and visits to store instead.

    Neither list holds a visit twice, and no visit is in both.
    """

    removed: list[Visit]
    added: list[Visit]
    ignored: int = 0  # pings and status changes older than the engine's pruned horizon


def visit_order(v: Visit) -> tuple[float, str, str, float]:
    """Return the sort key every visit list uses: start, unit, hotspot."""
    return (v.start, v.unit, v.hotspot, v.end)


def candidate_hotspots(ping: Ping, params: VisitParams) -> frozenset[str]:
    """Return the hotspots a ping accurately places its unit in (status aside)."""
    if not ping.inside or (ping.acc is not None and ping.acc > params.max_acc_m):
        return NOWHERE
    return ping.inside if isinstance(ping.inside, frozenset) else frozenset(ping.inside)


def eligible_status(change: StatusChange) -> bool:
    """Tell whether a status lets pings count as presence."""
    return change.status in ELIGIBLE_STATUSES


def visits_from_history(
    pings: Iterable[Ping], statuses: Iterable[StatusChange], params: VisitParams
) -> list[Visit]:
    """Return every visit in a whole trail, recomputed from scratch (the reference answer)."""
    trail: dict[str, dict[float, frozenset[str]]] = defaultdict(dict)
    for p in pings:
        seen = trail[p.unit]
        seen[p.ts] = seen.get(p.ts, NOWHERE) | candidate_hotspots(p, params)
    history: dict[str, dict[float, bool]] = defaultdict(dict)
    for s in statuses:
        history[s.unit][s.ts] = history[s.unit].get(s.ts, True) and eligible_status(s)
    out: list[Visit] = []
    for unit, by_ts in trail.items():
        times = sorted(by_ts)
        changes = sorted(history.get(unit, {}).items())
        present: list[frozenset[str]] = []
        k, ok = 0, True
        for t in times:
            while k < len(changes) and changes[k][0] <= t:
                ok = changes[k][1]
                k += 1
            present.append(by_ts[t] if ok else NOWHERE)
        for h in set().union(*present):
            out.extend(_chains(unit, h, times, present, params))
    out.sort(key=visit_order)
    return out


def _chains(
    unit: str, h: str, times: list[float], present: list[frozenset[str]], params: VisitParams
) -> list[Visit]:
    """Return one unit's visits at one hotspot from its classified trail."""
    out: list[Visit] = []
    first = last = -1
    count = 0
    for i, t in enumerate(times):
        if h not in present[i]:
            continue
        if last >= 0 and t - times[last] <= params.gap_s + TIME_EPS and (
            i == last + 1 or (i == last + 2 and t - times[last + 1] <= params.grace_s + TIME_EPS)
        ):
            last, count = i, count + 1
            continue
        if last >= 0:
            out.append(Visit(unit, h, times[first], times[last], count))
        first = last = i
        count = 1
    if last >= 0:
        out.append(Visit(unit, h, times[first], times[last], count))
    return out
