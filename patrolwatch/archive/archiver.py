"""The archiver: moves positions, statuses and hotspot states older than the hot period to Parquet.

Exactly one runs at a time (a Redis lock with expiry, renewed between batches). A batch is
one UTC hour of every unit's trail, with each point's speed, heading, battery and source
from its extras (``keys.k_trail_extras``): read from Redis, written as one file, made
durable, then removed from Redis exactly as read, each point with its extras. A crash
anywhere leaves the points (with their extras) in Redis, in the archive, or in both, never
in neither: a re-run rewrites the same file name with the same bytes, and readers drop
duplicates by (unit, ts, lat, lon). Statuses move the same way, each with its note
(``keys.k_status_notes``). Each unit's newest status before the cutoff stays in Redis too
(as well as in the archive), with its note, so the status a unit is in at the start of the
hot period is always known there.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
from dataclasses import dataclass, field

import redis

from patrolwatch.archive import layout
from patrolwatch.archive.compact import compact_hour
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tables import (
    PARQUET_OPTIONS,
    positions_table,
    states_table,
    statuses_table,
    unit_hours_table,
)
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from patrolwatch.store.codec import join_extras
from patrolwatch.store.replay import parse_state_member

log = logging.getLogger(__name__)
UNIT_CHUNK = 1000  # units per pipelined window read


@dataclass
class RunResult:
    """What one archiver pass moved."""

    points: int = 0
    statuses: int = 0
    states: int = 0
    files: list[str] = field(default_factory=list)
    bytes_written: int = 0
    days_deleted: list[str] = field(default_factory=list)
    compacted: int = 0  # late files merged into one


class Archiver:
    """Moves old history from Redis to the archive, and deletes expired archive days."""

    def __init__(self, settings: Settings, store: Store, storage: ArchiveStorage | None = None,
                 *, granularity_s: float = layout.HOUR_S) -> None:
        self.settings = settings
        self.store = store
        self.storage = storage or ArchiveStorage(settings.archive)
        self.hot_s = settings.hot_hours * 3600.0
        self.granularity_s = granularity_s  # hour windows; tests and benches may use less
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.lock_ttl_s = 120.0

    def cutoff(self, now: float) -> float:
        """Return the time before which history leaves Redis (aligned to whole windows)."""
        return math.floor((now - self.hot_s) / self.granularity_s) * self.granularity_s

    # --- one pass ---------------------------------------------------------------------
    def run_once(self, now: float | None = None) -> RunResult:
        """Archive everything older than the cutoff and apply retention; caller holds the lock."""
        now = time.time() if now is None else now
        self.storage.ensure_root()
        cutoff = self.cutoff(now)
        result = RunResult()
        units = sorted(self.store.seen_units())
        chunks = [units[i:i + UNIT_CHUNK] for i in range(0, len(units), UNIT_CHUNK)]
        oldest = min((self.store.oldest_point(c) for c in chunks), default=math.inf)
        if oldest < cutoff:
            lo = layout.hour_floor(oldest)
            while lo < cutoff:
                hi = min(lo + layout.HOUR_S, cutoff)
                self._positions(chunks, lo, hi, result)
                self._renew()
                lo = hi
        self._statuses(chunks, cutoff, result)
        self._states(cutoff, result)
        self._compact(result)
        self.store.mark_archived_until(cutoff)
        self._retention(now, result)
        return result

    def _positions(self, chunks: list[list[str]], lo: float, hi: float,
                   result: RunResult) -> None:
        read: dict[str, list[bytes]] = {}
        tails: dict[str, list[bytes | None]] = {}
        owners: dict[str, list[bytes | None]] = {}
        for chunk in chunks:
            for unit, (members, extras) in self.store.trail_window(chunk, lo, hi).items():
                read[unit] = members
                tails[unit], owners[unit] = join_extras(members, extras)
        if not read:
            return
        table, digest = positions_table(read, tails)
        rel = (f"{layout.day_dir(layout.POSITIONS, layout.day_of(lo))}/"
               f"{layout.file_name(lo, digest)}")
        result.bytes_written += self.storage.write_parquet(rel, table,
                                                           **PARQUET_OPTIONS[layout.POSITIONS])
        result.files.append(rel)
        # The unit-hour index first too: a point must never be in the archive but unfindable.
        index = (f"{layout.day_dir(layout.UNIT_HOURS, layout.day_of(lo))}/"
                 f"{layout.file_name(lo, digest)}")
        result.bytes_written += self.storage.write_parquet(
            index, unit_hours_table(table, layout.hour_floor(lo)),
            **PARQUET_OPTIONS[layout.UNIT_HOURS])
        # Durable now: only what was read (and written) leaves Redis, each point's extras
        # with it.
        for chunk in chunks:
            part = {u: read[u] for u in chunk if u in read}
            if part:
                self.store.remove_trail_window(part, lo, hi, {u: owners[u] for u in part})
        result.points += table.num_rows

    def _statuses(self, chunks: list[list[str]], cutoff: float, result: RunResult) -> None:
        for chunk in chunks:
            old = self.store.status_members_before(chunk, cutoff)
            by_hour: dict[float, list[tuple[str, bytes, bytes | None]]] = {}
            for unit, rows in old.items():
                for member, ts, note in rows:
                    by_hour.setdefault(layout.hour_floor(ts), []).append((unit, member, note))
            for hour, entries in sorted(by_hour.items()):
                table, digest = statuses_table(entries)
                rel = (f"{layout.day_dir(layout.STATUSES, layout.day_of(hour))}/"
                       f"{layout.file_name(hour, digest)}")
                result.bytes_written += self.storage.write_parquet(
                    rel, table, **PARQUET_OPTIONS[layout.STATUSES])
                result.files.append(rel)
            # Keep each unit's newest old status in Redis: the hot tier's starting status
            # (with its note, archived again with it next time). The others leave with their
            # notes, in one call each.
            self.store.remove_status_members({u: [r[0] for r in rows[:-1]]
                                              for u, rows in old.items()})
            result.statuses += sum(len(r) for r in old.values())

    def _states(self, cutoff: float, result: RunResult) -> None:
        members = self.store.hotspot_state_members_before(cutoff)
        by_hour: dict[float, list[bytes]] = {}
        for member in members:
            when = parse_state_member(member)[0]
            by_hour.setdefault(layout.hour_floor(when), []).append(member)
        for hour, rows in sorted(by_hour.items()):
            table, digest = states_table(rows)
            rel = (f"{layout.day_dir(layout.HOTSPOT_STATES, layout.day_of(hour))}/"
                   f"{layout.file_name(hour, digest)}")
            result.bytes_written += self.storage.write_parquet(
                rel, table, **PARQUET_OPTIONS[layout.HOTSPOT_STATES])
            result.files.append(rel)
        self.store.remove_hotspot_state_members(members)
        result.states += len(members)

    def _compact(self, result: RunResult) -> None:
        """Merge the late files of every hour this pass wrote to (``archive.compact``)."""
        touched = set()
        for rel in result.files:
            dataset, folder, name = rel.split("/")
            day, hour = layout.parse_day(folder), layout.file_hour(name)
            if dataset != layout.UNIT_HOURS and day is not None and hour is not None:
                touched.add((dataset, day, hour))
        for dataset, day, hour in sorted(touched):
            result.compacted += compact_hour(self.storage, dataset, day, hour)

    def _retention(self, now: float, result: RunResult) -> None:
        """Delete whole archive days older than the retention period, in every dataset."""
        for dataset in layout.DATASETS:
            days = [d for d in (layout.parse_day(n) for n in self.storage.list_dir(dataset))
                    if d is not None]
            for day in layout.expired_days(days, now, self.settings.trail_retention_s):
                self.storage.delete_dir(layout.day_dir(dataset, day))
                result.days_deleted.append(f"{dataset}/{day.isoformat()}")

    # --- the lock and the loop ---------------------------------------------------------
    def _renew(self) -> None:
        if not self.store.acquire_archive_lock(self.owner, self.lock_ttl_s):
            raise LostLockError("another archiver took the lock")

    def run(self, stop: threading.Event) -> None:
        """Archive every ``archive_every_s`` while holding the lock, until stopped."""
        while not stop.is_set():
            try:
                if self.store.acquire_archive_lock(self.owner, self.lock_ttl_s):
                    result = self.run_once()
                    if result.points or result.statuses or result.days_deleted:
                        log.info("archived %d points, %d statuses, %d hotspot states in %d "
                                 "files (%d bytes); deleted days %s", result.points,
                                 result.statuses, result.states, len(result.files),
                                 result.bytes_written, result.days_deleted or "none")
            except (redis.RedisError, OSError, LostLockError) as exc:
                # Nothing is lost: what was not removed from Redis is archived next time.
                log.warning("archiver pass stopped early, will retry: %s", exc)
            stop.wait(self.settings.archive_every_s)
        with contextlib.suppress(redis.RedisError):
            self.store.release_archive_lock(self.owner)


class LostLockError(RuntimeError):
    """Another archiver holds the lock now: stop this pass."""
