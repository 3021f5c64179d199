"""The dashboard's /metrics: Prometheus text from Redis, public, no personal data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dashboard.app import create_app
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.core.model import Position, Reason, Rejection, Status, StatusChange
from patrolwatch.roster import load_roster
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _app(redis_url: str, tmp_path: Path) -> object:
    settings = Settings(redis_url=redis_url, users=tmp_path / "users.yaml",  # type: ignore[arg-type]
                        hotspots=ROOT / "config/hotspots.geojson",
                        units=ROOT / "config/units.yaml",
                        open_access=True)  # no users: this test is about the figures
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                             settings.zone)
    return create_app(settings, Store.from_url(redis_url), load_roster(settings.units), hotspots)


def test_metrics_report_messages_units_and_coverage(redis_url: str, tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    store.write_batch(Batch(
        positions=[Position("CW-402", now - 5, 51.5, -0.1)],
        statuses=[StatusChange("CW-402", now - 5, Status.AVAILABLE)],
        rejections=[Rejection(Reason.INVALID_JSON, "x", "patrol/a/position", b"{")]), now=now)
    store.write_coverage({"evaluated_at": now, "hotspots": {"h1": {"state": "gap"}},
                          "gaps": [{"kind": "presence_gap"}]})
    client = _app(redis_url, tmp_path).server.test_client()  # type: ignore[attr-defined]
    body = client.get("/metrics").get_data(as_text=True)
    assert 'patrolwatch_messages{reason="",result="accepted"} 2.0' in body
    assert 'patrolwatch_messages{reason="invalid_json",result="rejected"} 1.0' in body
    assert 'patrolwatch_units{lost_contact="false",status="AVAILABLE"} 1.0' in body
    assert 'patrolwatch_hotspots{state="gap"} 1.0' in body
    assert 'patrolwatch_gaps{kind="presence_gap"} 1.0' in body
    assert "CW-402" not in body and "patrolwatch_redis_up 1.0" in body


def test_metrics_answer_with_redis_down(tmp_path: Path) -> None:
    client = _app("redis://127.0.0.1:1/0", tmp_path).server.test_client()  # type: ignore[attr-defined]
    response = client.get("/metrics")
    assert response.status_code == 200 and "patrolwatch_redis_up 0.0" in response.get_data(
        as_text=True)
