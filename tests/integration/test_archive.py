"""The archive against real Redis, real Parquet files and real DuckDB.

The move is lossless and idempotent under kill -9 (the archiver runs as a real child
process); trails agree whether their points are hot or archived; retention deletes days whole.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
import redis

from patrolwatch.archive import layout
from patrolwatch.archive.archiver import UNIT_CHUNK, Archiver
from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tables import quantize
from patrolwatch.archive.tiers import History
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.settings import Settings
from patrolwatch.store import (
    K_ARCHIVE_LOCK,
    K_SEEN,
    Batch,
    Store,
    extras_bucket,
    k_status_log,
    k_status_notes,
    k_trail,
    k_trail_extras,
    pack_point,
)
from patrolwatch.store.codec import extras_tail, join_extras
from tests.services import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
NOW = 1_764_590_400.0  # 2025-12-01 12:00 UTC: fixed, so day folders are known


SOURCES = ("native", "owntracks", "tetra")


def fill(store: Store, units: int, hours: float, every_s: float, end: float
         ) -> set[tuple[str, float, float, float]]:
    """Write trails and their extras straight into Redis (the ingest's member formats, as
    ``scripts.LIVE`` writes them); return the points quantized."""
    points: set[tuple[str, float, float, float]] = set()
    pipe = store.r.pipeline(transaction=False)
    start = end - hours * 3600
    for u in range(units):
        unit = f"U{u:04d}"
        members: dict[str, float] = {}
        extras: dict[str, dict[str, str]] = {}
        n = int(hours * 3600 / every_s)
        for i in range(n):
            p = Position(unit, start + i * every_s + 0.25, 51.5 + u * 1e-4 + i * 1e-6,
                         -0.12 + i * 1.3e-6, acc=5.0 if i % 3 else None,
                         **expected_extras(i))  # type: ignore[arg-type]
            members[pack_point(p)] = p.ts
            extras.setdefault(k_trail_extras(unit, extras_bucket(p.ts)), {})[repr(p.ts)] = \
                extras_tail(p)
            points.add((unit, *quantize(p.ts, p.lat, p.lon)))
        pipe.zadd(k_trail(unit), members)
        for key, fields in extras.items():
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        pipe.zadd(K_SEEN, {unit: start + n * every_s})
        if u % 50 == 49:
            pipe.execute()
    pipe.execute()
    return points


def expected_extras(i: int) -> dict[str, object]:
    """Return the speed, heading, battery and source ``fill`` gives a unit's i-th point."""
    return {"speed": i % 7 * 0.5, "heading": float(i % 360), "battery": float(100 - i % 90),
            "source": SOURCES[i % 3]}


def extras_below(store: Store, unit: str, cutoff: float) -> int:
    """Return how many extras fields a unit holds in Redis for points before ``cutoff``."""
    fields = [f for key in store.r.keys(f"pw:trailx:{{{unit}}}:*")  # type: ignore[union-attr]
              for f in store.r.hkeys(key)]  # type: ignore[union-attr]
    return sum(float(f.split(b",")[0]) < cutoff for f in fields)


def archived_extras(root: Path) -> dict[tuple[str, float], tuple[object, ...]]:
    """Return each archived point's (speed, heading, battery, source), read with DuckDB."""
    rows = duckdb.sql(f"""
        SELECT DISTINCT unit, epoch_us(ts), speed, heading, battery, source
        FROM read_parquet('{root}/positions/day=*/*.parquet')""").fetchall()
    out = {(u, t / 1e6): tuple(rest) for u, t, *rest in rows}
    assert len(out) == len(rows), "a point archived with two different extras"
    return out


def everything(history: History, store: Store, since: float, until: float
               ) -> list[tuple[str, float, float, float]]:
    """Return every point both tiers answer with, as a list (so a double shows)."""
    units = store.seen_units()
    out = []
    for unit, pts in history.points(units, since, until).items():
        out.extend((unit, ts, lat, lon) for ts, lat, lon, _ in pts)
    return out


_ARCHIVE_ONCE = [sys.executable, "-m", "patrolwatch.cli", "archive", "--once"]


def _archive_env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PATROL_REDIS_URL": redis_url, "PATROL_ARCHIVE": str(tmp_path / "a"),
            "PATROL_HOT_HOURS": "1"}


def _rerun_archiver(store: Store, redis_url: str, tmp_path: Path) -> None:
    """Let the killed archiver's lock run out (it outlives it until its TTL), run it again."""
    store.r.pexpire(K_ARCHIVE_LOCK, 1)
    wait_until(lambda: not store.r.exists(K_ARCHIVE_LOCK), 10, what="the lock to expire")
    assert subprocess.run(_ARCHIVE_ONCE, check=False, env=_archive_env(redis_url, tmp_path),
                          cwd=ROOT, timeout=120, capture_output=True).returncode == 0


def _kill_archiver_mid_move(redis_url: str, tmp_path: Path, count: Callable[[], int],
                            what: str) -> None:
    """Run ``patrolwatch archive --once`` into tmp_path/a and SIGKILL it the moment ``count``
    (what Redis holds of the data being moved) first drops."""
    initial = count()
    child = subprocess.Popen(_ARCHIVE_ONCE, env=_archive_env(redis_url, tmp_path), cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: count() < initial, 60, interval=0.001, what=what)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)


def test_move_survives_kill_9_and_rerun(redis_url: str, tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    expected = fill(store, units=200, hours=5, every_s=10, end=now)
    positions = tmp_path / "a" / "positions"
    cutoff = Archiver(Settings(hot_hours=1), store).cutoff(now)

    def old_in_redis() -> int:
        pipe = store.r.pipeline(transaction=False)
        for unit in store.seen_units():
            pipe.zcount(k_trail(unit), "-inf", f"({cutoff}")
        return sum(pipe.execute())

    # Kill the moment Redis starts losing points: the file they went to must be durable.
    _kill_archiver_mid_move(redis_url, tmp_path, old_in_redis, "the archiver's first removal")
    left = old_in_redis()
    assert left > 0, "the kill came after the move finished: the test proved nothing"
    # Every point the kill left in Redis still has its extras there (none left without).
    for unit in store.seen_units():
        window = store.trail_window([unit], 0, cutoff).get(unit)
        if window:
            tails, _ = join_extras(*window)
            assert None not in tails, unit
            assert extras_below(store, unit, cutoff) == len(tails)
    # Nothing lost, nothing counted twice, even between the kill and the re-run.
    history = History(store, ArchiveReader(ArchiveStorage(str(tmp_path / "a"))))
    store.mark_archived_until(cutoff)  # a reader that believes the move completed
    got = everything(history, store, now - 6 * 3600, now)
    assert len(got) == len(set(got)) and set(got) == expected

    assert store.r.exists(K_ARCHIVE_LOCK)  # the killed archiver's lock outlives it
    _rerun_archiver(store, redis_url, tmp_path)
    left = sum(store.r.zcount(k_trail(u), "-inf", f"({cutoff}") for u in store.seen_units())
    assert left == 0
    assert sum(extras_below(store, u, cutoff) for u in store.seen_units()) == 0
    got = everything(history, store, now - 6 * 3600, now)
    assert len(got) == len(set(got)) and set(got) == expected
    # Every archived point has every column, the ones it was written with.
    extras = archived_extras(tmp_path / "a")
    assert len(extras) == len([p for p in expected if p[1] < cutoff])
    start = now - 5 * 3600
    for (unit, ts), values in extras.items():
        i = round((ts - 0.25 - start) / 10)
        assert values == tuple(expected_extras(i).values()), (unit, ts)
    # Running again changes nothing: the same files, the same answer.
    files = sorted(positions.glob("day=*/*.parquet"))
    Archiver(Settings(hot_hours=1, archive=str(tmp_path / "a")), store).run_once(now)
    assert sorted(positions.glob("day=*/*.parquet")) == files
    assert sorted(everything(history, store, now - 6 * 3600, now)) == sorted(got)


StatusNotes = dict[tuple[str, float, str], str | None]


def statuses_in_redis(store: Store, units: list[str]) -> StatusNotes:
    """Return every status-log row of these units with its note; no note may lack its row."""
    out: StatusNotes = {}
    pipe = store.r.pipeline(transaction=False)
    for unit in units:
        pipe.zrange(k_status_log(unit), 0, -1)
        pipe.hgetall(k_status_notes(unit))
    got = pipe.execute()
    for i, unit in enumerate(units):
        rows, notes = got[2 * i], got[2 * i + 1]
        assert set(notes) <= set(rows), unit  # no note outlives its row
        for m in rows:
            ts, status = m.decode().split("|")
            note = notes.get(m)
            out[(unit, float(ts), status)] = None if note is None else note.decode()
    return out


def archived_statuses(root: Path) -> StatusNotes:
    """Return every archived status with its note, read with DuckDB (one note each)."""
    rows = duckdb.sql(f"""SELECT DISTINCT unit, epoch_us(ts), status, note FROM
        read_parquet('{root}/statuses/day=*/*.parquet')""").fetchall()
    out = {(u, t / 1e6, st): note for u, t, st, note in rows}
    assert len(out) == len(rows), "a status archived with two different notes"
    return out


def test_status_move_survives_kill_9_and_rerun(redis_url: str, tmp_path: Path) -> None:
    """Statuses with their notes: a kill between two units' chunks loses no note."""
    store = Store.from_url(redis_url)
    now = time.time()
    units = [f"S{u:04d}" for u in range(4 * UNIT_CHUNK)]  # four chunks: four removals
    start = float(round(now - 4 * 3600))  # whole seconds: the archive keeps µs
    written: StatusNotes = {}
    for first in range(0, len(units), 500):
        statuses = []
        for u in units[first:first + 500]:
            for i, status in enumerate((Status.EN_ROUTE, Status.AT_SCENE, Status.ON_PATROL)):
                note = None if i == 0 else f"{u} note {i} =1+2"
                s = StatusChange(u, start + i * 3600 + 0.5, status, note)
                statuses.append(s)
                written[(u, s.ts, status.value)] = note
        store.write_batch(Batch(statuses=statuses), now=now)
    cutoff = Archiver(Settings(hot_hours=1), store).cutoff(now)
    assert all(ts < cutoff for _, ts, _ in written)

    def old_rows() -> int:
        pipe = store.r.pipeline(transaction=False)
        for unit in units:
            pipe.zcard(k_status_log(unit))
        return sum(pipe.execute())

    _kill_archiver_mid_move(redis_url, tmp_path, old_rows, "the archiver's first status removal")
    assert old_rows() > len(units), "the kill came after the move finished: proved nothing"

    # Every status is in Redis or in the archive, or both, always with the note it was sent
    # with: none left in Redis without its note.
    hot, cold = statuses_in_redis(store, units), archived_statuses(tmp_path / "a")
    assert set(hot) | set(cold) == set(written)
    assert all(written[k] == v for k, v in (*hot.items(), *cold.items()))

    _rerun_archiver(store, redis_url, tmp_path)
    assert archived_statuses(tmp_path / "a") == written
    # Each unit's newest status stays hot, with its note; nothing else is left of the notes.
    assert statuses_in_redis(store, units) == {k: v for k, v in written.items()
                                               if k[2] == "ON_PATROL"}
    assert all(store.r.hlen(k_status_notes(u)) == 1 for u in units)


def test_trail_is_the_same_hot_or_archived(redis_url: str, tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    settings = Settings(redis_url=redis_url, archive=str(tmp_path / "a"), hot_hours=1)
    fill(store, units=3, hours=4, every_s=5, end=NOW)
    history = History(store, ArchiveReader(ArchiveStorage(settings.archive)))
    since, until = NOW - 3.5 * 3600, NOW
    before = {cap: history.trail("U0001", since, until, cap) for cap in (100_000, 500, 2)}
    assert before[100_000].total == before[500].total == 2520
    assert not before[100_000].truncated and before[500].truncated
    assert len(before[500].points) == 500 and len(before[2].points) == 2
    assert before[2].points[0] == before[100_000].points[0]
    assert before[2].points[-1] == before[100_000].points[-1]

    result = Archiver(settings, store).run_once(NOW)
    assert result.points > 0 and store.trail_count("U0001") < 2520
    for cap, trail in before.items():
        assert history.trail("U0001", since, until, cap) == trail
    # A window wholly in the archive, and one wholly hot.
    assert history.trail("U0001", since, NOW - 2 * 3600, 10_000) == History(
        store, history.reader).trail("U0001", since, NOW - 2 * 3600, 10_000)
    assert len(history.trail("U0001", NOW - 1800, NOW, 10_000).points) == 360


def test_statuses_and_late_points_stay_in_redis_until_archived(redis_url: str,
                                                                tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    settings = Settings(redis_url=redis_url, archive=str(tmp_path / "a"), hot_hours=1)
    batch = Batch(positions=[Position("A", NOW - 3 * 3600 + i, 51.5, -0.1) for i in range(10)],
                  statuses=[StatusChange("A", NOW - 3 * 3600, Status.ON_PATROL),
                            StatusChange("A", NOW - 2.5 * 3600, Status.OFF_DUTY)])
    store.write_batch(batch, now=NOW)
    archiver = Archiver(settings, store)
    archiver.run_once(NOW)
    # The newest status before the cutoff stays hot: Redis still knows the unit is off duty.
    assert store.status_history("A", 0, NOW) == [(NOW - 2.5 * 3600, "OFF_DUTY")]
    history = History(store, ArchiveReader(archiver.storage))
    assert history.statuses_at(["A"], NOW - 2.7 * 3600, 31 * 86400) == {"A": "ON_PATROL"}
    # A late point in an archived hour is read from Redis, then archived by the next pass.
    store.write_batch(Batch(positions=[Position("A", NOW - 3 * 3600 + 30, 51.6, -0.1)]),
                      now=NOW)
    assert history.trail("A", NOW - 4 * 3600, NOW, 100).total == 11
    archiver.run_once(NOW)
    assert store.trail_count("A") == 0
    assert history.trail("A", NOW - 4 * 3600, NOW, 100).total == 11


def test_retention_deletes_whole_days(redis_url: str, tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    settings = Settings(redis_url=redis_url, archive=str(tmp_path / "a"), hot_hours=1,
                        trail_retention_days=2)
    store.write_batch(Batch(positions=[Position("A", NOW - d * 86400 - 3600 * h, 51.5, -0.1)
                                       for d in range(5) for h in (1, 6)]), now=NOW - 4 * 86400)
    # Archive everything first, with nothing expired yet.
    Archiver(settings.model_copy(update={"trail_retention_days": 31.0}), store).run_once(NOW)
    archiver = Archiver(settings, store)
    days = sorted(p.name for p in (tmp_path / "a" / "positions").iterdir())
    assert len(days) == 5
    result = archiver.run_once(NOW)
    kept = sorted(p.name for p in (tmp_path / "a" / "positions").iterdir())
    # NOW is 12:00: days ending at or before NOW - 2 days are gone; the day NOW - 2 d falls
    # in is kept whole, although its morning is older than retention.
    assert kept == ["day=2025-11-29", "day=2025-11-30", "day=2025-12-01"]
    assert sorted(result.days_deleted) == ["positions/2025-11-27", "positions/2025-11-28",
                                           "unit_hours/2025-11-27", "unit_hours/2025-11-28"]
    assert sorted(p.name for p in (tmp_path / "a" / "unit_hours").iterdir()) == kept
    assert set(days) - set(kept) == {"day=2025-11-27", "day=2025-11-28"}
    assert layout.expired_days([layout.day_of(NOW)], NOW, 0) == []


def test_archiver_lock_lets_one_run(redis_url: str, tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    a = Archiver(Settings(archive=str(tmp_path)), store)
    b = Archiver(Settings(archive=str(tmp_path)), store)
    assert store.acquire_archive_lock(a.owner, 30)
    assert not store.acquire_archive_lock(b.owner, 30)
    store.release_archive_lock(a.owner)
    assert store.acquire_archive_lock(b.owner, 30)
    with pytest.raises(redis.RedisError):
        Store.from_url("redis://127.0.0.1:1/0").acquire_archive_lock("x", 1)
