"""The coverage evaluator: change feed -> visit engine -> hotspot states, gaps, dosage.

Every ingest process runs one; a Redis lock with expiry lets only one evaluate at a time.
The holder keeps a VisitEngine and the observed-time intervals in memory, fed from the store's
change feed (every accepted position, status and ack, by event time); when it (re)takes the
lock it first rebuilds both from the stored trails, status histories and observed intervals,
so a new holder gives the same answer as the old one. Results go back through the store: the
dashboard and API only read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import redis

from ingest.past_states import PastStates
from patrolwatch.core import taskings as tk
from patrolwatch.core.coverage import (
    HotspotCoverage,
    WindowCache,
    coverage_event,
    evaluate_hotspot,
    gaps,
)
from patrolwatch.core.dosage import dosage_rows
from patrolwatch.core.hotspots import Hotspot, HotspotSet, windows_between
from patrolwatch.core.model import Ack, Status, StatusChange
from patrolwatch.core.observed import ObservedTime
from patrolwatch.core.predictability import predictable_patterns
from patrolwatch.core.schedule import wall_to_utc
from patrolwatch.core.suggest import suggest_units
from patrolwatch.core.visit_engine import VisitEngine
from patrolwatch.core.visits import Ping, Visit, VisitParams
from patrolwatch.experiments.service import PlanSource, load_for
from patrolwatch.live import unit_states
from patrolwatch.roster import Roster
from patrolwatch.settings import Settings
from patrolwatch.store import Store, points_for

log = logging.getLogger(__name__)

FEED_READ_MAX = 50_000  # entries per tick at most, so one tick never stalls the loop
REBUILD_CHUNK = 200  # units per pipelined trail read during a rebuild
SLOW_EVERY_S = 60.0  # dosage and predictability read a week of visits: not every tick
Row = tuple[str, float, float, float, float | None]  # unit, ts, lat, lon, acc


def visit_dict(v: Visit) -> dict[str, Any]:
    """Return a visit as the store keeps it."""
    return {"unit": v.unit, "hotspot": v.hotspot, "start": v.start, "end": v.end, "pings": v.pings}


def coverage_dict(c: HotspotCoverage, hotspot: Hotspot) -> dict[str, Any]:
    """Return a hotspot's coverage as the snapshot keeps it (JSON-able, epoch seconds)."""
    data = c._asdict()  # flat: asdict's deep copy cost more than the evaluation itself
    window = data.pop("window", None)
    data["window_start"] = window.start.timestamp() if window else None
    data["window_end"] = window.end.timestamp() if window else None
    data["present_units"] = list(c.present_units)
    data["target_minutes"] = hotspot.min_visit_minutes
    data["max_gap_minutes"] = hotspot.max_gap_minutes
    return data


class CoverageEvaluator:
    """Holds the visit engine while it holds the lock; evaluates on a short tick."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        hotspots: HotspotSet,
        roster: Roster,
        *,
        publish: Callable[[str, str], object] | None = None,
        horizon_s: float = 26 * 3600.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.hotspots = hotspots
        self.roster = roster
        self.publish = publish
        self.pending_acks: list[Ack] = []
        self.horizon_s = horizon_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.params = VisitParams(
            gap_s=settings.visit_gap_s, grace_s=settings.visit_grace_s,
            max_acc_m=settings.max_presence_acc_m,
        )
        self.engine = VisitEngine(self.params, horizon_s=horizon_s)
        self.observed = ObservedTime(settings.stale_after_s, horizon_s=horizon_s)
        self.windows = WindowCache(settings.zone)
        self.past = PastStates(WindowCache(settings.zone), settings.due_warning_minutes)
        self.cursor = "0-0"
        self.holding = False
        self.previous: dict[str, HotspotCoverage] = {}
        self.slow: dict[str, Any] = {"dosage": [], "predictability": []}
        self.slow_at = 0.0
        self.evaluations = 0
        self.arms = PlanSource(load_for(settings), store, hotspots.by_id, settings.zone)

    # --- lock and loop -----------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Evaluate every ``evaluate_every_s`` while holding the lock, until stopped."""
        interval = self.settings.evaluate_every_s
        ttl = max(10.0, 5 * interval)
        while not stop.is_set():
            try:
                if self.store.acquire_evaluator_lock(self.owner, ttl):
                    if not self.holding:
                        log.info("coverage evaluator %s took the lock; rebuilding", self.owner)
                        self.rebuild(time.time())
                        self.holding = True
                    self.tick(time.time())
                elif self.holding:
                    log.info("coverage evaluator %s lost the lock", self.owner)
                    self.holding = False
            except redis.RedisError as exc:
                if self.holding:
                    log.warning("coverage evaluation paused, Redis unavailable: %s", exc)
                self.holding = False
            stop.wait(interval)
        if self.holding:
            with contextlib.suppress(redis.RedisError):
                self.store.release_evaluator_lock(self.owner)

    # --- rebuild and incremental feed ------------------------------------------------------------
    def rebuild(self, now: float) -> None:
        """Recompute visits in the horizon from stored trails and status histories."""
        self.cursor = self.store.feed_last_id()  # before reading: later entries are re-applied
        # Not before the archive mark: older trails left Redis, and rebuilding visits there
        # from what is left would replace whole stored visits by fragments (docs/archive.md).
        since = max(now - self.horizon_s, self.store.archived_until())
        self.engine = VisitEngine(self.params, horizon_s=self.horizon_s)
        self.observed = ObservedTime(self.settings.stale_after_s, horizon_s=self.horizon_s)
        # What earlier holders persisted, then every stored event time in the horizon again.
        self.observed.seed(self.store.observed_intervals(since, math.inf))
        units = self.store.seen_units()
        first = math.inf  # the oldest event time the rebuild took in
        for start in range(0, len(units), REBUILD_CHUNK):
            chunk = units[start:start + REBUILD_CHUNK]
            trails = points_for(chunk, self.store, since, now + self.settings.max_future_s)
            statuses = [
                StatusChange(unit, ts, Status(status))
                for unit in chunk
                for ts, status in self.store.status_history(unit, 0, now + 3600)
            ]
            pings = self._classify(
                (unit, ts, lat, lon, acc)
                for unit, points in trails.items()
                for ts, lat, lon, acc in points
            )
            self.engine.add(pings, statuses)
            times = [p.ts for p in pings] + [s.ts for s in statuses]
            self._observe(times, now)
            first = min([first, *(t for t in times if t >= since)])
        visits = [visit_dict(v) for v in self.engine.visits()]
        self.store.replace_visits_since([h.id for h in self.hotspots], since, visits)
        self._persist_observed()
        self._states_unrecorded(first, now)
        log.info("rebuilt coverage from %d units' trails: %d visits", len(units), len(visits))

    def _states_unrecorded(self, first: float, now: float) -> None:
        """Have the past states evaluated where no evaluator recorded them.

        Data stored while no evaluator held the lock (a handheld's flush before the worker
        started, the minutes of a restart) is in the rebuilt visits but was never in a
        recorded state: from the newest recorded entry, or the oldest rebuilt event when
        there is none newer, to now, the past is evaluated as late data would have it.
        """
        last = self.store.hotspot_states_at(now)
        self.past.mark([max(first, last[0]) if last is not None else first], now)

    def _classify(self, rows: Iterable[Row]) -> list[Ping]:
        """Tag each position with the hotspots it is geometrically inside (one vectorised query)."""
        items = list(rows)
        if not items:
            return []
        lats = np.fromiter((r[2] for r in items), dtype=float, count=len(items))
        lons = np.fromiter((r[3] for r in items), dtype=float, count=len(items))
        inside = self.hotspots.containing_many(lats, lons)
        # One frozenset per distinct answer: the engine interns them, so sharing saves hashing.
        sets: dict[tuple[str, ...], frozenset[str]] = {}
        return [Ping(r[0], r[1], sets.get(ids) or sets.setdefault(ids, frozenset(ids)), r[4])
                for r, ids in zip(items, inside, strict=True)]

    def consume_feed(self) -> int:
        """Apply new change-feed entries to the engine and persist the visit delta."""
        entries = self.store.read_feed(self.cursor, count=FEED_READ_MAX)
        if not entries:
            return 0
        self.cursor = entries[-1][0]
        rows: list[Row] = []
        statuses: list[StatusChange] = []
        times = [float(f["t"]) for _, f in entries if "t" in f]
        for _, f in entries:
            if f.get("k") == "p":
                rows.append((f["u"], float(f["t"]), float(f["la"]), float(f["lo"]),
                             float(f["a"]) if f.get("a") else None))
            elif f.get("k") == "s":
                statuses.append(StatusChange(f["u"], float(f["t"]), Status(f["s"])))
            elif f.get("k") == "a":
                self.pending_acks.append(Ack(f["u"], f["i"], float(f["t"]), f["ok"] == "1",
                                             f.get("r") or None))
        delta = self.engine.add(self._classify(rows), statuses)
        if delta.removed or delta.added:
            self.store.apply_visit_delta([visit_dict(v) for v in delta.removed],
                                         [visit_dict(v) for v in delta.added])
        self._observe(times, time.time())
        self.past.mark(times, time.time())  # late data: the states recorded since may change
        return len(entries)

    def _observe(self, times: list[float], now: float) -> None:
        """Extend observed time by these event times (one from a fast clock counts as now)."""
        if times:
            self.observed.add(np.minimum(np.asarray(times, dtype=float), now))

    def _persist_observed(self) -> None:
        """Write the observed intervals that changed, for dosage and the next lock holder."""
        changed = self.observed.take_dirty()
        if changed is not None:
            self.store.replace_observed_after(changed, self.observed.intervals(since=changed))

    # --- evaluation ------------------------------------------------------------------------------
    def tick(self, now: float) -> dict[str, Any]:
        """Consume the feed, evaluate every hotspot, store the snapshot, publish gap events."""
        while self.consume_feed() >= FEED_READ_MAX:
            pass
        self._persist_observed()
        self.engine.prune(now - self.horizon_s)
        self.observed.prune(now - self.horizon_s)
        open_taskings = self.advance_taskings(now)
        snapshot, events = self.evaluate(now, tk.busy_units(open_taskings))
        self.store.write_coverage(snapshot, events)
        self.store.record_hotspot_states(  # replay's history of states (at least once a minute)
            now, {h: c["state"] for h, c in snapshot["hotspots"].items()}, snapshot["feed_fresh"])
        self.past.run(self, now)  # and the past's, by event time, when late data changed them
        if self.publish is not None:
            for event in events:
                self.publish("patrol/events/coverage", json.dumps(event))
        self.evaluations += 1
        return snapshot

    def advance_taskings(self, now: float) -> list[tk.Tasking]:
        """Apply crews' acks, arrivals, qualifying visits and expiries; return what stays open."""
        acks, self.pending_acks = self.pending_acks, []
        by_id = {t["id"]: tk.Tasking.from_json(t) for t in self.store.open_taskings()}
        unknown = repeated = 0
        for ack in acks:
            current = by_id.get(ack.id)
            if current is None or current.unit != ack.unit:
                # Made-up or other units' ids: counted, never audited, so a device cannot
                # fill the supervisors' audit log (kept 31 days) with junk.
                unknown += 1
                continue
            change = tk.apply_ack(current, ack, now)
            if change is None:  # a repeat: the first answer is audited, repeats counted
                repeated += 1
                continue
            by_id[ack.id] = change.tasking
            self.store.save_tasking(change.tasking.to_json(), change.tasking.open,
                                    change.audit())
        self.store.count_unknown_acks(unknown, repeated)
        for tid, t in list(by_id.items()):
            if not t.open:
                continue
            hotspot = self.hotspots.by_id.get(t.hotspot)
            if hotspot is None:
                continue
            present = t.unit in self.engine.present_units(t.hotspot, now)
            qualifying = any(
                v.unit == t.unit and v.end >= t.created
                and v.end - v.start >= hotspot.min_visit_minutes * 60.0
                for v in self.engine.visits(t.hotspot, since=t.created)
            )
            change = tk.advance(t, present, qualifying, now, self.settings.tasking_ack_timeout_s,
                                self.settings.tasking_arrival_timeout_s)
            if change is not None:
                by_id[tid] = change.tasking
                self.store.save_tasking(change.tasking.to_json(), change.tasking.open,
                                        change.audit())
        return [t for t in by_id.values() if t.open]

    def evaluate(self, now: float, busy: set[str] | frozenset[str] = frozenset()
                 ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Return the coverage snapshot for ``now`` and the gap events since the last one."""
        observed_since = self.observed.observed_since(now)
        feed_fresh = observed_since is not None
        present = self.engine.present_by_hotspot(now)
        coverages: dict[str, HotspotCoverage] = {}
        arms = self.arms.plan(now)  # experiment: treated carry the dose, controls no target
        for h in map(arms.hotspot, self.hotspots):
            coverages[h.id] = arms.coverage(evaluate_hotspot(
                h, self.windows.window_at(h, now), self.engine.hotspot_visits(h.id),
                present.get(h.id, set()), now, observed_since, self.settings.due_warning_minutes,
            ))
        events = []
        for h in self.hotspots:
            event = coverage_event(self.previous.get(h.id), coverages[h.id], h)
            if event is not None:
                events.append(event)
        self.previous = coverages
        rows = self.store.live_rows()
        units = unit_states(rows, self.roster, now, self.settings.stale_after_s)
        speeds = {"foot": self.settings.speed_foot_mps, "cycle": self.settings.speed_cycle_mps,
                  "vehicle": self.settings.speed_vehicle_mps}
        gap_rows = []
        for gap in gaps(list(coverages.values()), self.hotspots.by_id):
            row = asdict(gap)
            # A presence gap is about qualifying visits: say what shorter ones there were, so
            # the gap list cannot read "no presence" beside a panel counting 3 visits.
            row["visits_in_window"] = coverages[gap.hotspot].visits_in_window
            row["last_presence_end"] = coverages[gap.hotspot].last_presence_end
            row["suggested_units"] = [
                asdict(s) for s in suggest_units(gap.lat, gap.lon, units, speeds, set(busy), now,
                                                 self.settings.stale_after_s)
            ]
            gap_rows.append(row)
        if now - self.slow_at >= SLOW_EVERY_S:
            self.slow = self._slow_figures(now)
            self.slow_at = now
        snapshot = {
            "evaluated_at": now,
            "feed_fresh": feed_fresh,
            "observed_since": observed_since,
            "hotspots": {hid: arms.annotate(coverage_dict(c, arms.hotspot(
                self.hotspots.by_id[hid]))) for hid, c in coverages.items()},
            "gaps": gap_rows,
            **self.slow,
        }
        return snapshot, events

    def _slow_figures(self, now: float) -> dict[str, Any]:
        """Compute dosage (this shift, this operation week) and predictability from visits."""
        zone = self.settings.zone
        shift_start = shift_start_before(now, self.settings.shift_start_times, zone)
        week_start = operation_week_start(now, self.hotspots, zone)
        lookback = self.settings.predictable_days + 1
        since = min(week_start, now - lookback * 86_400.0)
        ids = [h.id for h in self.hotspots]
        stored = self.store.visits_many(ids, since, now)
        visits = {hid: [Visit(v["unit"], hid, v["start"], v["end"], v["pings"]) for v in rows]
                  for hid, rows in stored.items()}
        observed = self.store.observed_intervals(since, now)

        def rows(start: float) -> list[dict[str, Any]]:
            begin = datetime.fromtimestamp(start, UTC)
            end = datetime.fromtimestamp(now, UTC)
            windows = {h.id: windows_between(h, begin, end, zone) for h in self.hotspots}
            return [asdict(r) for r in dosage_rows(self.hotspots, windows, visits, start, now,
                                                   observed)]

        flags = predictable_patterns(
            [v for vs in visits.values() for v in vs if v.start >= now - lookback * 86_400.0],
            zone, days=self.settings.predictable_days,
            tolerance_minutes=self.settings.predictable_tolerance_minutes,
            min_minutes_by_hotspot={h.id: h.min_visit_minutes for h in self.hotspots},
        )
        return {
            "dosage": rows(week_start),
            "dosage_shift": rows(shift_start),
            "dosage_periods": {"week": [week_start, now], "shift": [shift_start, now]},
            "predictability": [
                {"hotspot": f.hotspot, "name": self.hotspots.by_id[f.hotspot].name,
                 "days": [d.isoformat() for d in f.days], "typical_time": f.typical_time}
                for f in flags
            ],
        }


def shift_start_before(now: float, starts: list[dt_time], zone: ZoneInfo) -> float:
    """Return when the current shift began: the latest local shift change at or before now.

    Wall times follow the schedules' rule (``wall_to_utc``): a change that falls in the
    spring-forward gap happens at the first valid instant, an ambiguous one at its first
    occurrence, so a shift and a window set for the same wall time start together.
    """
    local = datetime.fromtimestamp(now, zone)
    candidates = [
        wall_to_utc(local.date() - timedelta(days=back), t, zone).timestamp()
        for back in (0, 1) for t in starts
    ]
    return max(c for c in candidates if c <= now)


def operation_week_start(now: float, hotspots: HotspotSet, zone: ZoneInfo) -> float:
    """Return the start of the last 7 local days, not before the operation's first day."""
    local = datetime.fromtimestamp(now, zone)
    start = datetime.combine(local.date() - timedelta(days=6), dt_time(0), tzinfo=zone)
    firsts = [h.valid_from for h in hotspots if h.valid_from is not None]
    if firsts:
        first = datetime.combine(min(firsts), dt_time(0), tzinfo=zone)
        start = max(start, min(first, local))
    return start.timestamp()
