"""One answer whatever the timing: late points older than the hot period are on replay frames
the moment they are accepted (before the archiver's next pass), and a point exactly at ``at``
is on the frame ("at or before"), from either tier. Real Redis, real Parquet, DuckDB."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from patrolwatch.archive.archiver import Archiver
from patrolwatch.archive.frames import frame
from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tiers import History
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store

pytestmark = pytest.mark.integration


def _world(redis_url: str, tmp_path: Path) -> tuple[Settings, Store, History, float]:
    settings = Settings(redis_url=redis_url, archive=str(tmp_path / "archive"), hot_hours=1)
    store = Store.from_url(redis_url)
    history = History(store, ArchiveReader(ArchiveStorage(settings.archive)))
    now = time.time()
    return settings, store, history, now


def test_a_late_point_is_on_the_frame_before_the_archiver_runs_again(
        redis_url: str, tmp_path: Path) -> None:
    settings, store, history, now = _world(redis_url, tmp_path)
    t0 = math.floor(now / 3600) * 3600.0 - 4 * 3600  # hours older than the hot hour
    store.write_batch(Batch(positions=[Position("A1", t0 + 60.0, 51.5, -0.13)],
                            statuses=[StatusChange("A1", t0, Status.ON_PATROL)]), now=now)
    archiver = Archiver(settings, store)
    archiver.run_once(now)
    assert store.archived_until() > t0 + 3600 and store.trail_count("A1") == 0
    # A handheld flushes its buffer: two points in that archived hour, and a status.
    store.write_batch(Batch(positions=[Position("B2", t0 + 600.0, 51.51, -0.12),
                                       Position("A1", t0 + 900.0, 51.52, -0.11)],
                            statuses=[StatusChange("B2", t0 + 500, Status.AT_SCENE)]), now=now)
    found = frame(history, t0 + 1200, ["A1", "B2"], {}, [], 180.0, 31 * 86_400.0)
    units = {u.id: u for u in found.units}
    assert set(units) == {"A1", "B2"}
    assert (units["A1"].ts, units["A1"].lat) == (t0 + 900.0, 51.52)  # the late one, newer
    assert units["B2"].status == "AT_SCENE" and units["A1"].status == "ON_PATROL"
    # The archiver's next pass changes nothing in the answer.
    archiver.run_once(now)
    assert store.trail_count("B2") == 0
    again = frame(history, t0 + 1200, ["A1", "B2"], {}, [], 180.0, 31 * 86_400.0)
    assert again == found


@pytest.mark.parametrize("archived", [False, True])
def test_a_point_exactly_at_the_frame_time_is_on_it(redis_url: str, tmp_path: Path,
                                                    archived: bool) -> None:
    settings, store, history, now = _world(redis_url, tmp_path)
    t0 = math.floor(now / 3600) * 3600.0 - 3 * 3600
    at = round((t0 + 1234.567891) * 1e6) / 1e6  # microseconds: what the archive keeps
    # A device's epoch float with sub-microsecond digits: stored at `at` once archived, so it
    # is on the frame at `at` from Redis too (the same answer before and after the move).
    store.write_batch(Batch(positions=[Position("C3", t0 + 30.0, 51.50, -0.10),
                                       Position("C3", at + 3e-7, 51.53, -0.13)]), now=now)
    if archived:
        Archiver(settings, store).run_once(now)
        assert store.trail_count("C3") == 0
    found = frame(history, at, ["C3"], {}, [], 180.0, 31 * 86_400.0)
    assert [(u.id, u.ts, u.lat) for u in found.units] == [("C3", at, 51.53)]
    before = frame(history, at - 1e-6, ["C3"], {}, [], 180.0, 31 * 86_400.0)
    assert [(u.ts, u.lat) for u in before.units] == [(t0 + 30.0, 51.50)]


@pytest.mark.parametrize("archived", [False, True])
def test_a_frame_asked_at_a_points_own_sub_microsecond_time_has_it(
        redis_url: str, tmp_path: Path, archived: bool) -> None:
    """Replay opens at the first observed time, a point's raw event time: the frame there
    must hold that point even when its time rounds up to the next microsecond."""
    settings, store, history, now = _world(redis_url, tmp_path)
    t0 = math.floor(now / 3600) * 3600.0 - 3 * 3600
    raw = round((t0 + 1234.567891) * 1e6) / 1e6 + 7e-7  # stored as the next microsecond
    assert round(raw * 1e6) / 1e6 > raw
    store.write_batch(Batch(positions=[Position("C3", raw, 51.53, -0.13)]), now=now)
    if archived:
        Archiver(settings, store).run_once(now)
        assert store.trail_count("C3") == 0
    found = frame(history, raw, ["C3"], {}, [], 180.0, 31 * 86_400.0)
    assert [(u.id, u.lat) for u in found.units] == [("C3", 51.53)]


def test_late_files_of_an_hour_are_compacted_and_answers_do_not_change(
        redis_url: str, tmp_path: Path) -> None:
    settings, store, history, now = _world(redis_url, tmp_path)
    t0 = math.floor(now / 3600) * 3600.0 - 5 * 3600
    archiver = Archiver(settings, store)
    store.write_batch(Batch(positions=[Position("D4", t0 + i * 60.0, 51.5, -0.1 + i * 1e-4)
                                       for i in range(30)]), now=now)
    archiver.run_once(now)
    from patrolwatch.archive import layout

    folder = layout.day_dir(layout.POSITIONS, layout.day_of(t0))
    hour = layout.file_hour(archiver.storage.list_dir(folder)[0])
    for k in range(4):  # four late flushes into the archived hour: four small files
        store.write_batch(Batch(positions=[Position("D4", t0 + 5.0 + k, 51.6, -0.2)]), now=now)
        # ...and one point twice: a crash left it in two files
        archiver.run_once(now)
    trail = history.trail("D4", t0, t0 + 3600, 1000)
    files = [n for n in archiver.storage.list_dir(folder) if layout.file_hour(n) == hour]
    index = [n for n in archiver.storage.list_dir(
        layout.day_dir(layout.UNIT_HOURS, layout.day_of(t0))) if layout.file_hour(n) == hour]
    assert len(files) <= 2 and sorted(index) == sorted(files)
    assert trail.total == 34 and len({p[0] for p in trail.points}) == 34
    near = history.reader.unit_hours_near(t0, t0 + 3600, (51.59, -0.21, 51.61, -0.19))
    assert [(u, n) for u, h, n, _ in near if h == int(t0 // 3600)] == [("D4", 34)]


def test_the_evaluator_rebuild_keeps_visits_older_than_the_archive_mark(
        redis_url: str, tmp_path: Path) -> None:
    """The rebuild horizon (26 h) is longer than the hot period: a rebuild must not replace
    stored visits whose trails already left Redis by the fragments left there."""
    from ingest.evaluator import CoverageEvaluator
    from patrolwatch.roster import Roster
    from tests.integration.test_evaluator_wiring import _setup

    settings, store, hotspots = _setup(redis_url, around_now=False)
    now = time.time()
    old = {"unit": "E5", "hotspot": "spot", "start": now - 25 * 3600,
           "end": now - 24.5 * 3600, "pings": 60}
    store.apply_visit_delta([], [old])
    store.mark_archived_until(now - 24 * 3600)  # its trail is in the archive, not in Redis
    evaluator = CoverageEvaluator(settings, store, hotspots, Roster.empty())
    evaluator.rebuild(now)
    assert [v["unit"] for v in store.visits("spot", now - 26 * 3600, now)] == ["E5"]
