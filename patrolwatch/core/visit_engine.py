"""The incremental visit engine: the same visits as ``visits_from_history``, kept up to date.

Definitions and tolerances are in :mod:`patrolwatch.core.visits`.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Sequence
from operator import itemgetter

from patrolwatch.core.model import StatusChange
from patrolwatch.core.visits import (
    NO_TIMES,
    NOWHERE,
    TIME_EPS,
    Ping,
    Visit,
    VisitDelta,
    VisitParams,
    candidate_hotspots,
    eligible_status,
)

_START = itemgetter(2)  # Visit.start, read in C
_visit = tuple.__new__  # Visit(...) without the named tuple's Python-level __new__
_ORDER = itemgetter(2, 0, 1, 3)  # visit_order, in C


def _ts(item: Ping | StatusChange) -> float:
    return item.ts


def _start(v: Visit) -> float:
    return v.start


def _end(v: Visit) -> float:
    return v.end


class _Trail:
    """One unit's pings, status history, presence and visits within the engine's horizon."""

    __slots__ = ("latest", "ok", "present", "st", "times", "visits", "where")

    def __init__(self) -> None:
        self.times: array[float] = array("d")  # every ping's event time, sorted, unique
        self.where: array[int] = array("I")  # ... and each one's hotspot set (engine's index)
        self.st: list[float] = []  # status change times, sorted
        self.ok: list[bool] = []  # ... and whether each status is eligible
        self.present: dict[str, array[float]] = {}  # hotspot -> presence ping times, sorted
        self.visits: dict[str, list[Visit]] = {}  # hotspot -> visits, by start (disjoint)
        self.latest: frozenset[str] = NOWHERE  # where the newest ping is a presence ping

    def eligible_at(self, t: float) -> bool:
        """Tell whether the unit's status at ``t`` lets its pings count."""
        i = bisect_right(self.st, t)
        return self.ok[i - 1] if i else True


class _Delta:
    """Visit changes accumulated over one ``add``, a visit made then unmade cancelling out."""

    def __init__(self) -> None:
        self.removed: dict[Visit, None] = {}
        self.added: dict[Visit, None] = {}

    def append(self, old: Visit | None, new: Visit) -> None:
        """Record that ``old`` (None: nothing) became ``new``, which ends after every visit.

        No visit that ends later than all others can have been removed before, so unlike
        ``replace`` this need not look ``new`` up (it runs once per live presence ping).
        """
        if old is not None:
            if old in self.added:
                del self.added[old]
            else:
                self.removed[old] = None
        self.added[new] = None

    def replace(self, old: list[Visit], new: list[Visit]) -> None:
        """Record that ``old`` visits became ``new`` ones."""
        kept = set(old) & set(new) if old and new and (len(old) > 1 or len(new) > 1) else ()
        for v in old:
            if v not in kept:
                if v in self.added:
                    del self.added[v]
                else:
                    self.removed[v] = None
        for v in new:
            if v not in kept:
                if v in self.removed:
                    del self.removed[v]
                else:
                    self.added[v] = None


class VisitEngine:
    """Keep visits up to date in memory as pings and status changes arrive, in any order.

    A ping newer than all of its unit's others (the live feed) can only extend or start a
    visit where it is a presence ping: a few dictionary look-ups. Anything else (a late or
    re-delivered ping, a status change) changes event times [a, b]; a link spans at most G,
    so only links between presence pings in [a - G, b + G] can change, and ``add`` re-links
    just those, keeping the untouched head and tail of a long visit as they are. After every
    ``add`` the visits equal ``visits_from_history`` over everything added, and the returned
    delta says exactly which stored visits to replace.

    Memory is bounded by ``prune(before)``: it forgets visits that ended more than G before
    ``before`` and the pings and statuses no later input can need; input older than
    ``before`` is then ignored (counted in ``VisitDelta.ignored``), and visits ending after it
    stay exact. ``add`` also prunes by itself to ``horizon_s`` behind the newest event time it
    has seen. A ping costs 12 bytes (its time and the index of its interned
    hotspot set), and 8 more per hotspot where it is a presence ping.
    """

    def __init__(
        self, params: VisitParams, horizon_s: float = 26 * 3600, prune_step_s: float | None = None
    ) -> None:
        self.params = params
        self.horizon_s = horizon_s
        # Pruning walks every unit: do it when the horizon has moved on by this much.
        self.prune_step_s = max(params.gap_s, horizon_s / 100) if prune_step_s is None else (
            prune_step_s)
        self._reach = params.gap_s + 2 * TIME_EPS  # the longest possible link
        self._gap_lim = params.gap_s + TIME_EPS
        self._grace_lim = params.grace_s + TIME_EPS
        self._units: dict[str, _Trail] = {}
        self._by_hotspot: dict[str, dict[str, list[Visit]]] = {}  # the lists in _Trail.visits
        self._cache: dict[str, list[Visit]] = {}  # hotspot -> its visits sorted, until changed
        self._here: dict[str, set[str]] = {}  # hotspot -> units whose newest ping is presence there
        self._floor = -math.inf  # input older than this is ignored
        self._sets: list[frozenset[str]] = [NOWHERE]  # interned hotspot sets; 0 = nowhere
        self._set_ids: dict[frozenset[str], int] = {NOWHERE: 0}
        self._newest = -math.inf

    @property
    def floor(self) -> float:
        """Return the event time before which input is ignored (the last prune)."""
        return self._floor

    def add(
        self, pings: Iterable[Ping] = (), statuses: Iterable[StatusChange] = ()
    ) -> VisitDelta:
        """Apply pings and status changes; return the visits they removed and added."""
        floor, ignored, delta = self._floor, 0, _Delta()
        status_lists: dict[str, list[StatusChange]] = {}
        for s in statuses:
            if s.ts < floor:
                ignored += 1
            else:
                status_lists.setdefault(s.unit, []).append(s)
        for unit, changes in status_lists.items():
            trail = self._trail(unit)
            changes.sort(key=_ts)
            dirty: list[float] = []
            for c in changes:
                dirty.extend(self._status(trail, c.ts, eligible_status(c)))
            if dirty:
                self._relink(unit, trail, sorted(set(dirty)), delta)
            self._update_latest(unit, trail)
        # A ping newer than all its unit's others takes the fast path; once a unit has an
        # older one in this batch, the rest of its pings wait and are re-linked together.
        waiting: dict[str, list[Ping]] = {}
        newest, units, append = self._newest, self._units, self._append  # hot loop
        for p in pings:
            ts, unit = p.ts, p.unit
            if ts < floor:
                ignored += 1
                continue
            newest = ts if ts > newest else newest
            if waiting and unit in waiting:
                waiting[unit].append(p)
                continue
            known = units.get(unit)
            if known is None:
                known = units[unit] = _Trail()
            times = known.times
            if times and ts <= times[-1]:
                waiting[unit] = [p]
            elif p.inside:
                append(unit, known, p, delta)
            else:  # outside every hotspot: the most common ping, and it changes no link
                times.append(ts)
                known.where.append(0)
                if known.latest:
                    self._set_latest(unit, known, NOWHERE)
        self._newest = newest
        for unit, later in waiting.items():
            trail = self._units[unit]
            later.sort(key=_ts)
            dirty = [p.ts for p in later if self._ping(trail, p)]
            if len(dirty) == 1:
                self._relink_range(unit, trail, dirty[0], dirty[0], delta)
            elif dirty:
                self._relink(unit, trail, sorted(set(dirty)), delta)
            self._update_latest(unit, trail)
        result = VisitDelta(list(delta.removed), list(delta.added), ignored)
        self.prune(self._newest - self.horizon_s)
        return result

    def visits(
        self, hotspot: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[Visit]:
        """Return visits (of one hotspot, or all) overlapping [since, until], by start."""
        every: Sequence[Visit]
        if hotspot is None:
            every = sorted((v for by_unit in self._by_hotspot.values() for vs in by_unit.values()
                            for v in vs), key=_ORDER)
        else:
            every = self.hotspot_visits(hotspot)
        if since is None and until is None:
            return list(every)
        return [v for v in every if (since is None or v.end >= since)
                and (until is None or v.start <= until)]

    def hotspot_visits(self, hotspot: str) -> Sequence[Visit]:
        """Return one hotspot's visits by start, without a copy: read it, do not change it."""
        cached = self._cache.get(hotspot)
        if cached is None:
            by_unit = self._by_hotspot.get(hotspot, {})
            cached = sorted((v for vs in by_unit.values() for v in vs), key=_ORDER)
            self._cache[hotspot] = cached
        return cached

    def present_units(self, hotspot: str, now: float) -> set[str]:
        """Return units eligible now whose newest ping, <= G old, is a presence ping here."""
        out: set[str] = set()
        limit = self.params.gap_s + TIME_EPS
        for unit in self._here.get(hotspot, ()):
            trail = self._units[unit]
            if now - trail.times[-1] <= limit and trail.eligible_at(now):
                out.add(unit)
        return out

    def present_by_hotspot(self, now: float) -> dict[str, set[str]]:
        """Return ``present_units`` of every hotspot that has any, in one pass."""
        limit = self.params.gap_s + TIME_EPS
        trails = self._units
        here = self._here
        # Each unit once (a unit can be inside several hotspots), then one C-level set
        # intersection per hotspot instead of a Python loop over its units.
        fine: set[str] = set()
        for unit in set().union(*here.values()) if here else ():
            trail = trails[unit]
            if now - trail.times[-1] <= limit:
                st = trail.st
                if st:  # eligible_at, inlined
                    i = bisect_right(st, now)
                    if i and not trail.ok[i - 1]:
                        continue
                fine.add(unit)
        out: dict[str, set[str]] = {}
        for h, units in here.items():
            inside = units & fine
            if inside:
                out[h] = inside
        return out

    def prune(self, before: float) -> None:
        """Forget what input at or after ``before`` cannot change; from now on ignore older input.

        Amortised: nothing happens until ``before`` has moved ``prune_step_s`` past the last
        prune, so calling it on every tick is cheap (and older input is still taken till then).
        """
        if before < self._floor + self.prune_step_s or before == -math.inf:
            return
        self._floor = before
        keep = before - self._reach  # a link from a ping at ``before`` reaches back this far
        for unit in list(self._units):
            self._prune_trail(unit, self._units[unit], keep)

    # --- internals -------------------------------------------------------------------------
    def _status(self, trail: _Trail, t: float, ok: bool) -> list[float]:
        """Insert one status change; return the pings whose presence it changed."""
        st, oks = trail.st, trail.ok
        i = bisect_left(st, t)
        if i < len(st) and st[i] == t:
            if oks[i] == (oks[i] and ok):
                return []
            oks[i] = False
        else:
            before = oks[i - 1] if i else True
            st.insert(i, t)
            oks.insert(i, ok)
            if before == ok:
                return []
        now_ok = oks[i]
        times = trail.times
        lo = bisect_left(times, t)
        hi = bisect_left(times, st[i + 1]) if i + 1 < len(st) else len(times)
        dirty: list[float] = []
        where = trail.where
        for k in range(lo, hi):
            if where[k]:
                ts = times[k]
                for h in self._sets[where[k]]:
                    if now_ok:
                        insort(trail.present.setdefault(h, array("d")), ts)
                    else:
                        self._unpresent(trail, h, ts)
                dirty.append(ts)
        return dirty

    @staticmethod
    def _unpresent(trail: _Trail, h: str, ts: float) -> None:
        present = trail.present[h]
        del present[bisect_left(present, ts)]
        if not present:
            del trail.present[h]

    def _ping(self, trail: _Trail, p: Ping) -> bool:
        """Insert one ping (merging a copy); tell whether presence or the trail changed."""
        hotspots = candidate_hotspots(p, self.params)
        times = trail.times
        i = bisect_left(times, p.ts)
        if i < len(times) and times[i] == p.ts:
            old = self._sets[trail.where[i]]
            if hotspots <= old:
                return False
            trail.where[i] = self._set_id(old | hotspots)
            hotspots = hotspots - old
            changed = False
        else:
            times.insert(i, p.ts)
            trail.where.insert(i, self._set_id(hotspots))
            changed = True  # even an outside ping can end a visit
        if hotspots and trail.eligible_at(p.ts):
            for h in hotspots:
                insort(trail.present.setdefault(h, array("d")), p.ts)
            changed = True
        return changed

    def _set_id(self, hotspots: frozenset[str]) -> int:
        """Return the index of an interned hotspot set (a handful exist, pings share them)."""
        sid = self._set_ids.get(hotspots)
        if sid is None:
            sid = self._set_ids[hotspots] = len(self._sets)
            self._sets.append(hotspots)
        return sid

    def _trail(self, unit: str) -> _Trail:
        trail = self._units.get(unit)
        if trail is None:
            trail = self._units[unit] = _Trail()
        return trail

    def _append(self, unit: str, trail: _Trail, p: Ping, delta: _Delta) -> None:
        """Add a ping newer than all the unit's others: the fast path of a live feed.

        Nothing lies after it, so it can only extend (or start) visits where it is a
        presence ping; everywhere else it changes no link.
        """
        ts = p.ts
        times = trail.times
        times.append(ts)
        # Inlined candidate_hotspots, _set_id, eligible_at, _linked and _Delta.append: this
        # runs once per presence ping of the live feed (docs/benchmarks.md).
        acc = p.acc
        hotspots = p.inside if acc is None or acc <= self.params.max_acc_m else NOWHERE
        if not isinstance(hotspots, frozenset):
            hotspots = frozenset(hotspots)
        sid = self._set_ids.get(hotspots)
        trail.where.append(self._set_id(hotspots) if sid is None else sid)
        st = trail.st
        if hotspots and st:
            i = bisect_right(st, ts)
            if i and not trail.ok[i - 1]:
                hotspots = NOWHERE
        added, removed = delta.added, delta.removed
        n = len(times)
        for h in hotspots:
            present = trail.present.get(h)
            vs = trail.visits.get(h)
            last = present[-1] if present else -math.inf
            if vs and ts - last <= self._gap_lim and (
                    times[n - 2] == last or (n > 2 and times[n - 3] == last
                                             and ts - times[n - 2] <= self._grace_lim)):
                old = vs[-1]
                new = _visit(Visit, (unit, h, old.start, ts, old.pings + 1))
                vs[-1] = new
                if old in added:
                    del added[old]
                else:
                    removed[old] = None
                added[new] = None
                cached = self._cache.get(h)
                if cached is not None:
                    # Same start, unit and hotspot: the extended visit keeps its place.
                    k = bisect_left(cached, old.start, key=_START)
                    while cached[k] != old:
                        k += 1
                    cached[k] = new
            else:
                new = Visit(unit, h, ts, ts, 1)
                if vs is None:
                    vs = trail.visits[h] = []
                    self._by_hotspot.setdefault(h, {})[unit] = vs
                vs.append(new)
                added[new] = None
                self._cache_swap(h, None, new)
            if present is None:
                trail.present[h] = array("d", (ts,))
            else:
                present.append(ts)
        latest = trail.latest
        if hotspots is not latest and hotspots != latest:
            self._set_latest(unit, trail, hotspots)

    def _cache_swap(self, h: str, old: Visit | None, new: Visit) -> None:
        """Keep a hotspot's sorted visit cache current instead of rebuilding it."""
        cached = self._cache.get(h)
        if cached is None:
            return
        if old is None:
            insort(cached, new, key=_ORDER)
            return
        i = bisect_left(cached, _ORDER(old), key=_ORDER)
        # Same start, unit and hotspot: the extended visit keeps its place in the order.
        cached[i] = new

    def _relink(self, unit: str, trail: _Trail, dirty: list[float], delta: _Delta) -> None:
        """Re-link around changed event times, cluster by cluster (clusters > 2G apart)."""
        first = prev = dirty[0]
        for t in dirty[1:]:
            if t - prev > 2 * self._reach:
                self._relink_range(unit, trail, first, prev, delta)
                first = t
            prev = t
        self._relink_range(unit, trail, first, prev, delta)

    def _relink_range(self, unit: str, trail: _Trail, a: float, b: float, delta: _Delta) -> None:
        lo, hi = a - self._reach, b + self._reach
        touched: set[str] = set()
        for h, vs in trail.visits.items():
            if vs[-1].end < lo:
                continue  # the usual case for hotspots the unit left long ago
            i = bisect_left(vs, lo, key=_end)
            if vs[i].start <= hi:
                touched.add(h)
        for h, ts in trail.present.items():
            if ts[-1] < a:
                continue
            i = bisect_left(ts, a)
            if ts[i] <= b:
                touched.add(h)
        for h in touched:
            self._relink_hotspot(unit, trail, h, a, b, delta)

    def _relink_hotspot(
        self, unit: str, trail: _Trail, h: str, a: float, b: float, delta: _Delta
    ) -> None:
        """Rebuild one unit's visits at one hotspot after changes at event times [a, b]."""
        vs = trail.visits.get(h, [])
        present = trail.present.get(h, NO_TIMES)
        i0 = bisect_left(vs, a - self._reach, key=_end)
        i1 = bisect_right(vs, b + self._reach, key=_start)
        old = vs[i0:i1]
        # The old visits' pings before a (after b) are still linked as they were: start the
        # scan at the last of them before a and carry the old start (symmetrically the end).
        head = tail = None
        if old and old[0].start < a:
            head = old[0].start
            x = bisect_left(present, old[0].end) if old[0].end < a else bisect_left(present, a) - 1
        else:
            x = bisect_left(present, a)
        if old and old[-1].end > b:
            tail = old[-1].end
            y = (bisect_left(present, old[-1].start) if old[-1].start > b
                 else bisect_right(present, b))
        else:
            y = bisect_right(present, b) - 1
        spans: list[list[float]] = []
        prev = -math.inf
        for k in range(x, y + 1):
            t = present[k]
            if spans and self._linked(trail.times, prev, t):
                spans[-1][1] = t
            else:
                spans.append([t, t])
            prev = t
        if head is not None:
            spans[0][0] = head
        if tail is not None:
            spans[-1][1] = tail
        new = [Visit(unit, h, s, e, bisect_right(present, e) - bisect_left(present, s))
               for s, e in spans]
        if new == old:
            return
        delta.replace(old, new)
        vs[i0:i1] = new
        self._cache.pop(h, None)
        if vs and h not in trail.visits:
            trail.visits[h] = vs
            self._by_hotspot.setdefault(h, {})[unit] = vs
        elif not vs and h in trail.visits:
            self._forget_visits(unit, trail, h)

    def _linked(self, times: array[float], p: float, q: float) -> bool:
        """Tell whether presence pings at p < q (none between at this hotspot) are linked."""
        if q - p > self.params.gap_s + TIME_EPS:
            return False
        i = bisect_left(times, p)
        j = bisect_left(times, q, i + 1)
        if j == i + 1:
            return True
        return j == i + 2 and q - times[i + 1] <= self.params.grace_s + TIME_EPS

    def _forget_visits(self, unit: str, trail: _Trail, h: str) -> None:
        del trail.visits[h]
        by_unit = self._by_hotspot[h]
        del by_unit[unit]
        if not by_unit:
            del self._by_hotspot[h]
        self._cache.pop(h, None)

    def _update_latest(self, unit: str, trail: _Trail) -> None:
        """Keep the hotspot -> units-whose-newest-ping-is-there index current."""
        new = NOWHERE
        if trail.times:
            t = trail.times[-1]
            if trail.eligible_at(t):
                new = self._sets[trail.where[-1]]
        self._set_latest(unit, trail, new)

    def _set_latest(self, unit: str, trail: _Trail, new: frozenset[str]) -> None:
        if new == trail.latest:
            return
        for h in trail.latest - new:
            units = self._here[h]
            units.discard(unit)
            if not units:
                del self._here[h]
        for h in new - trail.latest:
            self._here.setdefault(h, set()).add(unit)
        trail.latest = new

    def _prune_trail(self, unit: str, trail: _Trail, keep: float) -> None:
        """Drop a unit's pings before ``keep`` and visits that ended before it."""
        for h in list(trail.visits):
            vs = trail.visits[h]
            k = bisect_left(vs, keep, key=_end)
            if k:
                del vs[:k]
                self._cache.pop(h, None)
                if not vs:
                    self._forget_visits(unit, trail, h)
        for h in list(trail.present):
            present = trail.present[h]
            kept = trail.visits.get(h)
            # A kept visit's pings before ``keep`` still count towards its ``pings``.
            k = bisect_left(present, min(keep, kept[0].start) if kept else keep)
            if k:
                del present[:k]
                if not present:
                    del trail.present[h]
        times = trail.times
        k = bisect_left(times, keep)
        if k:
            del times[:k]
            del trail.where[:k]
        # Keep the status in force at ``keep`` and everything after it.
        i = bisect_right(trail.st, keep) - 1
        if i > 0:
            del trail.st[:i]
            del trail.ok[:i]
        self._update_latest(unit, trail)
        if not times and not trail.visits and not trail.st:
            del self._units[unit]
