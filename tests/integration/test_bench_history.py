"""``bench history`` measures each request as the history pool runs it: that setup must
keep working whenever the pool's own start-up changes (it broke once, unnoticed, when the
pool began to take the roster). A tiny archive, real Redis, a real spawned pool process."""

from __future__ import annotations

from pathlib import Path

import pytest

from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.bench import history, history_data
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.settings import Settings
from patrolwatch.store import Store

pytestmark = pytest.mark.integration


def test_bench_history_runs_frames_and_the_report_in_a_pool_process(
        redis_url: str, tmp_path: Path) -> None:
    settings = Settings(redis_url=redis_url, archive=str(tmp_path / "archive"))
    hotspots = load_hotspots(history.ROOT / "config/hotspots.geojson", CoverageDefaults(),
                             settings.zone)
    storage = ArchiveStorage(settings.archive)
    storage.ensure_root()
    fleet = history_data.Fleet(20, 300.0)
    since = 1_796_000_400.0  # a whole hour
    history_data.write_day_statuses(storage, fleet.ids, since)
    points, _ = history_data.write_hour(storage, fleet, since)
    history_data.write_hour_states(storage, hotspots, since)
    history_data.seed_redis(Store.from_url(redis_url), fleet, hotspots, since, since + 3600)
    frame = history.in_pool_process(settings, hotspots, "frame", (since + 1800,), repeat=1)
    assert points == 20 * 12 and frame["answer"] == 20
    report = history.in_pool_process(settings, hotspots, "report", (since, since + 3600), 1)
    assert report["answer"] > 0 and report["peak_rss_mb"] > 0
