"""History from both tiers at once: Redis for the hot hours, the archive before them.

``archived_until`` (B) is the archiver's mark: every point older than B was written to the
archive at least once. A read before B asks the archive and also Redis (a late point, or
one a crashed move left in both, may be there), merges and drops duplicates; after B it
asks Redis only. Points from Redis are rounded as the archive stores them
(``tables.quantize``), so an answer does not change when its data moves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from patrolwatch.archive.reader import ArchiveReader, even_picks
from patrolwatch.archive.tables import quantize
from patrolwatch.core.model import Status, StatusChange
from patrolwatch.store import Store
from patrolwatch.store.replay import StateEntry

Point = tuple[float, float, float, float | None]  # ts, lat, lon, acc
FRAME_LOOKBACK_S = 3600.0  # a unit with no fix in the hour before `at` is not on the frame
STATES_MAX_AGE_S = 300.0  # hotspot states older than this at `at`: the evaluator was not running
ROUNDING_S = 5e-7  # a Redis point this far past `at` is stored at `at` (microseconds)


@dataclass(frozen=True)
class Trail:
    """A trail answer: the points kept, how many exist, whether some were thinned out."""

    points: list[Point]
    total: int
    truncated: bool


def _q(points: Iterable[Point]) -> list[Point]:
    out = []
    for ts, lat, lon, acc in points:
        t, la, lo = quantize(ts, lat, lon)
        out.append((t, la, lo, acc))
    return out


def dedupe(points: Iterable[Point]) -> list[Point]:
    """Return points sorted by time with repeats of (ts, lat, lon) dropped."""
    seen: dict[tuple[float, float, float], Point] = {}
    for p in points:
        seen.setdefault((p[0], p[1], p[2]), p)
    return [seen[k] for k in sorted(seen)]


class History:
    """Two-tier reads of trails, last positions, statuses and hotspot states."""

    def __init__(self, store: Store, reader: ArchiveReader) -> None:
        self.store = store
        self.reader = reader

    def boundary(self) -> float:
        """Return B: before it, history may be in the archive."""
        return self.store.archived_until()

    # --- trails -----------------------------------------------------------------------------
    def trail(self, unit: str, since: float, until: float, max_points: int) -> Trail:
        """Return a unit's trail in [since, until], oldest first, evenly thinned to max_points."""
        b = self.boundary()
        if since >= b:
            n = self.store.trail_count_between(unit, since, until)
            picks = even_picks(n, max_points)
            if picks is None:
                points = _q(self.store.trail(unit, since, until))
            else:
                points = _q(self.store.trail_by_ranks(unit, since, picks))
            return Trail(points, n, picks is not None)
        if until < b:
            cold_hi, later = until, 0
            early_hot = _q(self.store.trail(unit, since, until))
        else:  # [since, B) from the archive (and Redis leftovers), [B, until] from Redis
            cold_hi = b - 1e-6
            early_hot = [p for p in _q(self.store.trail(unit, since, b)) if p[0] < b]
            later = self.store.trail_count_between(unit, b, until)
        total, cold, late_picks = self.reader.trail(unit, since, cold_hi, early_hot,
                                                    later=later, max_points=max_points)
        late = _q(self.store.trail_by_ranks(unit, b, late_picks)) if later else []
        return Trail(cold + late, total, len(cold) + len(late) < total)

    def points(self, units: Sequence[str], since: float, until: float) -> dict[str, list[Point]]:
        """Return whole trails of several units in [since, until] from both tiers, deduplicated."""
        from patrolwatch.store import points_for

        out: dict[str, list[Point]] = {u: [] for u in units}
        for start in range(0, len(units), 500):
            chunk = list(units[start:start + 500])
            for unit, pts in points_for(chunk, self.store, since, until).items():
                out[unit].extend(_q(pts))
        if since < self.boundary() and units:
            for unit, ts, lat, lon, acc in self.reader.points(since, until, units=units):
                out[unit].append((ts, lat, lon, acc))
        return {u: dedupe(p) for u, p in out.items()}

    def units_in_bbox(self, since: float, until: float,
                      bbox: tuple[float, float, float, float]) -> set[str]:
        """Return the units that may have a point in (min_lat, min_lon, max_lat, max_lon)."""
        found: set[str] = set()
        b = self.boundary()
        # Redis has no spatial index of history: its hot trails are read (before B it holds
        # only late points awaiting the next pass, which the archive will answer for).
        units = self.store.seen_units() if until >= b else []
        for start in range(0, len(units), 500):
            chunk = units[start:start + 500]
            for unit, pts in self.store_points(chunk, max(since, b), until).items():
                if any(bbox[0] <= p[1] <= bbox[2] and bbox[1] <= p[2] <= bbox[3] for p in pts):
                    found.add(unit)
        if since < b:
            found.update(self.reader.units_in_bbox(since, until, bbox))
        return found

    def hot_points_in_bbox(self, since: float, until: float,
                           bbox: tuple[float, float, float, float], *, chunk: int = 100
                           ) -> dict[str, list[Point]]:
        """Return the Redis trails in [since, until] of the units with a point in ``bbox``.

        Redis has no spatial index of history, so every unit's trail in the period is read,
        a hundred units at a time, and only the units with a point in the box are kept: the
        memory held is theirs, the rest is read and dropped.
        """
        kept: dict[str, list[Point]] = {}
        units = self.store.seen_units()
        for start in range(0, len(units), chunk):
            for unit, pts in self.store_points(units[start:start + chunk], since, until).items():
                if any(bbox[0] <= p[1] <= bbox[2] and bbox[1] <= p[2] <= bbox[3] for p in pts):
                    kept[unit] = pts
        return kept

    def store_points(self, units: Sequence[str], since: float, until: float
                     ) -> dict[str, list[Point]]:
        """Return Redis-held trails of several units, rounded like the archive's."""
        from patrolwatch.store import points_for

        return {u: _q(p) for u, p in points_for(units, self.store, since, until).items()}

    # --- statuses ---------------------------------------------------------------------------
    def status_changes(self, units: Sequence[str], since: float, until: float,
                       retention_s: float) -> list[StatusChange]:
        """Return the units' status changes in [since, until] plus the one in force at since."""
        rows: set[tuple[str, float, str]] = set()
        logs = self.store.status_logs(list(units), since - retention_s, until)
        for unit, changes in logs.items():
            rows.update((unit, round(ts * 1e6) / 1e6, s) for ts, s in changes)
        if since < self.boundary() and units:
            rows.update(self.reader.statuses(since - retention_s, until, units))
        before: dict[str, tuple[float, str]] = {}
        out = []
        for unit, ts, status in sorted(rows):
            if ts < since:
                before[unit] = (ts, status)
            else:
                out.append(StatusChange(unit, ts, Status(status)))
        out.extend(StatusChange(u, ts, Status(s)) for u, (ts, s) in before.items())
        return sorted(out, key=lambda c: (c.unit, c.ts))

    def statuses_at(self, units: Sequence[str], at: float,
                    retention_s: float) -> dict[str, str]:
        """Return each unit's status at ``at`` (units that never sent one are left out).

        From B on, Redis alone: it keeps each unit's newest status before the cutoff.
        Before B, both: the archive and any late status Redis holds.
        """
        best = {u: (round(ts * 1e6) / 1e6, s)
                for u, (ts, s) in self.store.statuses_at(units, at).items()}
        if at >= self.boundary():
            return {u: s for u, (_, s) in best.items()}
        # Before B the archive, and Redis too: a late status waits there for the next pass.
        for unit, ts, status in self.reader.latest_statuses(at - retention_s, at):
            if unit not in best or (ts, status) > best[unit]:
                best[unit] = (ts, status)
        return {u: best[u][1] for u in units if u in best}

    # --- frames -----------------------------------------------------------------------------
    def last_positions(self, units: Sequence[str], at: float
                       ) -> dict[str, tuple[float, float, float]]:
        """Return each unit's last position at or before ``at`` (within the hour) as (ts, lat, lon).

        Both tiers on either side of B: before B Redis holds late points the archiver has
        not moved yet (a handheld flushing an old buffer), and they count the moment they
        are accepted. Redis is asked a microsecond past ``at`` and its points rounded as the
        archive stores them, so a point exactly at ``at`` is on the frame whichever tier
        holds it.
        """
        since = at - FRAME_LOOKBACK_S
        best: dict[str, tuple[float, float, float]] = {}
        late: dict[str, float] = {}  # rounded past `at` though stored just after it: ask again
        for unit, p in self.store.last_points_at(units, at + ROUNDING_S, since).items():
            q = quantize(*p)
            if q[0] <= at:
                best[unit] = q
            else:
                late[unit] = p[0]
        for unit, raw in late.items():
            for u, p in self.store.last_points_at([unit], f"({raw!r}", since).items():
                if quantize(*p)[0] <= at:
                    best[u] = quantize(*p)
        if since < self.boundary():
            for unit, p in self.reader.last_positions(since, at).items():
                if unit not in best or p > best[unit]:
                    best[unit] = p
        return best

    def hotspot_states_at(self, at: float) -> StateEntry | None:
        """Return the hotspot states in force at ``at``, or None if none were kept recently."""
        found = self.store.hotspot_states_at(at)
        if found is not None:
            found = (round(found[0] * 1e6) / 1e6, found[1], found[2])
        if at - STATES_MAX_AGE_S < self.boundary():
            cold = self.reader.hotspot_states(at - STATES_MAX_AGE_S, at)
            if cold and (found is None or cold[-1][0] > found[0]):
                found = cold[-1]
        if found is None or at - found[0] > STATES_MAX_AGE_S:
            return None
        return found

    def hotspot_states(self, since: float, until: float) -> list[StateEntry]:
        """Return every hotspot-state entry in [since, until], oldest first."""
        rows = {round(t * 1e6) / 1e6: (t, s, o)
                for t, s, o in self.store.hotspot_states_between(since, until)}
        if since < self.boundary():
            for entry in self.reader.hotspot_states(since, until):
                rows.setdefault(entry[0], entry)
        return [(t, s, o) for t, (_, s, o) in sorted(rows.items())]
