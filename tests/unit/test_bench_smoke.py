"""The benchmarks' pure helpers, at tiny sizes, so the benchmarks cannot rot unnoticed.

No timing is asserted anywhere here: speed figures live in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patrolwatch.bench import dashboard as dash_bench
from patrolwatch.bench import memory, soak
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.core.model import Status
from patrolwatch.settings import Settings
from patrolwatch.store import Store

ROOT = Path(__file__).resolve().parents[2]


def test_fleet_batch_has_the_promised_mix() -> None:
    ids = dash_bench.unit_ids(200)
    batch = dash_bench.fleet_batch(ids, now=1_700_000_000.0, stale_after_s=180.0)
    assert [p.unit for p in batch.positions] == ids == [s.unit for s in batch.statuses]
    assert [s.status for s in batch.statuses].count(Status.EMERGENCY) == 1
    silent = [p for p in batch.positions if p.ts < 1_700_000_000.0 - 180.0]
    assert len(silent) == len(range(1, 200, round(1 / dash_bench.STALE_SHARE)))  # ~3%
    assert all(51.2 < p.lat < 51.8 and -0.6 < p.lon < 0.4 for p in batch.positions)
    roster = dash_bench.synthetic_roster(ids)
    assert sorted(roster.units) == ids
    assert len({u.callsign for u in roster.units.values()}) == 200


def test_coverage_snapshot_has_a_gap_every_ninth_hotspot() -> None:
    settings = Settings()
    hotspots = load_hotspots(ROOT / "config/hotspots.geojson",
                             CoverageDefaults.from_settings(settings), settings.zone)
    snap = dash_bench.coverage_snapshot(hotspots, now=1_700_000_000.0)
    assert len(snap["hotspots"]) == len(hotspots)
    assert len(snap["gaps"]) == math.ceil(len(hotspots) / 9)
    assert all(snap["hotspots"][g["hotspot"]]["state"] == "gap" for g in snap["gaps"])


@pytest.mark.parametrize(("samples", "median", "p95", "worst"), [
    ([5.0], 5.0, 5.0, 5.0),
    ([1.0, 2.0, 3.0, 4.0], 2.5, 4.0, 4.0),
    ([float(i) for i in range(1, 101)], 50.5, 95.0, 100.0),
])
def test_summary(samples: list[float], median: float, p95: float, worst: float) -> None:
    assert dash_bench.summary(samples) == {"median": median, "p95": p95, "max": worst}


def test_refresh_request_is_what_the_browser_sends(tmp_path: Path) -> None:
    """The bench POSTs the live refresh exactly as dash-renderer would: every output named."""
    from dashboard import ids

    settings = dash_bench.bench_settings(Settings(), "redis://127.0.0.1:1/0", tmp_path)
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                             settings.zone)
    app = dash_bench.Dashboard(settings, Store.from_url(settings.redis_url),
                               dash_bench.synthetic_roster(["A1"]), hotspots).app
    body = dash_bench.refresh_request(app, 7, {"units": "abc"})
    assert {"id": ids.PICTURE, "property": "data"} in body["outputs"]
    assert body["changedPropIds"] == [f"{ids.TICK}.n_intervals"]
    assert body["state"] == [{"id": ids.PICTURE_HAVE, "property": "data", "value": 7},
                             {"id": ids.DIGESTS, "property": "data", "value": {"units": "abc"}},
                             {"id": ids.GAP_HOLD, "property": "data", "value": None}]
    assert dash_bench.picture_version({ids.PICTURE: {"data": '{"v":9,"steps":[]}'}}, 7) == 9
    assert dash_bench.picture_version({}, 7) == 7
    assert json.loads(json.dumps(body)) == body


@pytest.mark.parametrize(("times", "values", "per_hour"), [
    ([0.0, 60.0, 120.0], [100.0, 100.0, 100.0], 0.0),
    ([0.0, 1800.0, 3600.0], [100.0, 105.0, 110.0], 10.0),
    ([0.0, 3600.0], [50.0, 48.0], -2.0),
    ([0.0], [10.0], 0.0),
])
def test_slope_per_hour(times: list[float], values: list[float], per_hour: float) -> None:
    assert soak.slope_per_hour(times, values) == pytest.approx(per_hour)


def test_gauge_reads_prometheus_text() -> None:
    text = ("# HELP patrolwatch_ingest_inbox_messages x\n"
            "patrolwatch_ingest_inbox_messages 12.0\npatrolwatch_ingest_lag_seconds 0.25\n")
    assert soak.gauge(text, "patrolwatch_ingest_inbox_messages") == 12.0
    assert soak.gauge(text, "patrolwatch_ingest_lag_seconds") == 0.25
    assert soak.gauge(text, "patrolwatch_missing") is None


@given(st.integers(min_value=0, max_value=10**7), st.integers(min_value=1, max_value=20_000))
def test_soak_positions_are_valid_and_per_unit(i: int, units: int) -> None:
    topic, body = soak.position(i, units, 1_700_000_000.5)
    assert topic == f"patrol/S{i % units:05d}/position"
    payload = json.loads(body)
    assert payload["seq"] == i and payload["ts"] == 1_700_000_000.5
    assert -90 <= payload["lat"] <= 90 and -180 <= payload["lon"] <= 180


def test_memory_projection_arithmetic() -> None:
    figures = {"live_bytes_per_unit": 1024.0, "trail_bytes_per_point_long": 100.0,
               "feed_bytes_per_entry": 50.0}
    out = memory.projection(figures, units=10_000, every_s=5.0)
    assert out["fleet_trail_points_31d"] == 10_000 * 31 * 86_400 / 5
    assert out["fleet_live_state_mb"] == round(10_000 * 1024 / 2**20, 1)
    assert out["fleet_trails_31d_gb"] == round(10_000 * 31 * 86_400 / 5 * 100 / 2**30, 1)
