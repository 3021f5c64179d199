"""Experiment mode end to end: real Mosquitto, Redis, the ingest process and the archive.

- A two-day experiment driven by simulated units over MQTT gives the expected panel rows,
  read from both tiers (the first day archived to Parquet, the second still in Redis).
- An OwnTracks phone (a real MQTT subscriber) receives today's ``setWaypoints``.
- A control hotspot never gets a gap or a suggestion; a treated one does.
"""

from __future__ import annotations

import json
import queue
import time
import uuid
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.evaluator import CoverageEvaluator
from patrolwatch.archive.archiver import Archiver
from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tiers import History
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.core.schedule import wall_to_utc
from patrolwatch.core.visits import VisitParams
from patrolwatch.experiments.allocation import allocate
from patrolwatch.experiments.design import load_experiment
from patrolwatch.experiments.panel import panel
from patrolwatch.mqtt import Inbound, MqttClient
from patrolwatch.roster import load_roster
from patrolwatch.servers import wait_until
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from patrolwatch.store.experiments import ExperimentStore
from tests.integration.conftest import make_settings
from tests.integration.ingest_process import IngestProcess

pytestmark = pytest.mark.integration
BASE = (51.50, -0.10)
STEP = 0.01  # ~1 km between places
HALF = 0.0012  # half a side of each square place, in degrees
PHONE = "alice/phone"


def square(hid: str, lat: float, lon: float, **props: Any) -> dict[str, Any]:
    d = HALF
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[
        [lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d],
        [lon - d, lat - d]]]},
        "properties": {"id": hid, "name": f"Place {hid}", "category": "other", "priority": 1,
                       "target": {"min_visit_minutes": 10, "max_gap_minutes": 60}, **props}}


CENTRES = {f"p{i}": (BASE[0], BASE[1] + i * STEP) for i in range(4)}


def write_config(folder: Path, start: date, end: date, **dose: Any) -> dict[str, Path]:
    """Write hotspots, roster and experiment files; return their paths."""
    hotspots = folder / "hotspots.geojson"
    hotspots.write_text(json.dumps({"type": "FeatureCollection", "features": [
        square(h, *c) for h, c in CENTRES.items()]}))
    units = folder / "units.yaml"
    units.write_text(yaml.safe_dump({"units": [
        {"id": "PH-1", "callsign": "PH1", "team": "T", "kind": "foot", "owntracks": PHONE},
        {"id": "NEAR", "callsign": "NEAR", "team": "T", "kind": "foot"}]}))
    experiment = folder / "experiment.yaml"
    experiment.write_text(yaml.safe_dump({
        "id": "trial", "name": "Integration trial", "start": start.isoformat(),
        "end": end.isoformat(), "pool": list(CENTRES), "per_day": 2,
        "dose": dose or {"visits": 1, "minutes": 10,
                         "window": {"start": "10:00", "end": "11:00"}},
        "buffer_m": 100, "seed": 7}))
    return {"hotspots": hotspots, "units": units, "experiment": experiment}


def at_local(day: date, hh: int, mm: int, zone: Any) -> float:
    return wall_to_utc(day, dt_time(hh, mm), zone).timestamp()


def run(unit: str, where: tuple[float, float], start: float, minutes: float
        ) -> list[tuple[str, str]]:
    """Return one unit's position messages, one a minute, at ``where`` from ``start``."""
    return [(f"patrol/{unit}/position", json.dumps(
        {"ts": start + i * 60.0, "lat": where[0], "lon": where[1], "acc": 5}))
        for i in range(int(minutes) + 1)]


def ring_point(hid: str) -> tuple[float, float]:
    """Return a point ~50 m north of a place's edge: in its 100 m buffer ring."""
    lat, lon = CENTRES[hid]
    return lat + HALF + 0.00045, lon


def drive_two_days(mqtt_url: str, exp: Any, d1: date, d2: date, zone: Any
                   ) -> dict[tuple[str, str], dict[str, Any]]:
    """Publish both days' simulated patrols; return the panel values each place-day must get."""
    publisher = MqttClient(mqtt_url, f"sim-{uuid.uuid4().hex[:6]}")
    assert publisher.start(wait_s=10)
    expected: dict[tuple[str, str], dict[str, Any]] = {}
    for n, day in enumerate((d1, d2)):
        alloc = allocate(exp, day)
        t0, t1 = alloc.treatment
        c0, c1 = alloc.control
        ten = at_local(day, 10, 0, zone)
        messages = run(f"HB{n}", (BASE[0] - 0.05, BASE[1]), ten - 300, 70)  # observed
        messages += run(f"UA{n}", CENTRES[t0], ten + 5 * 60, 15)  # a qualifying visit
        messages += run(f"UB{n}", CENTRES[c0], ten + 30 * 60, 5)  # a short control visit
        messages += run(f"UC{n}", ring_point(t1), ten + 40 * 60, 10)  # in t1's ring
        for t, payload in messages:
            publisher.publish(t, payload)
        d = day.isoformat()
        expected[(d, t0)] = {"arm": "treatment", "visits": 1, "qualifying_visits": 1,
                             "patrol_minutes": 15.0, "compliance": 1.0,
                             "buffer_patrol_minutes": 0.0}
        expected[(d, t1)] = {"arm": "treatment", "visits": 0, "qualifying_visits": 0,
                             "patrol_minutes": 0.0, "compliance": 0.0,
                             "buffer_patrol_minutes": 10.0}
        expected[(d, c0)] = {"arm": "control", "visits": 1, "qualifying_visits": 0,
                             "patrol_minutes": 5.0, "compliance": None,
                             "planned_visits": None}
        expected[(d, c1)] = {"arm": "control", "visits": 0, "compliance": None}
    publisher.stop()
    return expected


def assert_regions(msg: Inbound, treated: tuple[str, ...]) -> None:
    """Check an OwnTracks setWaypoints command naming exactly the treated places."""
    command = json.loads(msg.payload)
    assert msg.topic == f"owntracks/{PHONE}/cmd"
    assert (command["_type"], command["action"]) == ("cmd", "setWaypoints")
    assert command["waypoints"]["_type"] == "waypoints"
    regions = command["waypoints"]["waypoints"]
    assert [w["desc"] for w in regions] == [f"Patrol: Place {h}" for h in treated]
    assert all(w["_type"] == "waypoint" and w["rad"] > 0 and "tst" in w for w in regions)


def test_two_day_experiment_panel_and_owntracks_regions(
        tmp_path: Path, mqtt_url: str, redis_url: str) -> None:
    zone = make_settings(mqtt_url, redis_url).zone
    today = datetime.now(zone).date()
    d1, d2 = today - timedelta(days=2), today - timedelta(days=1)
    paths = write_config(tmp_path, d1, today)
    archive = tmp_path / "archive"
    inbox: queue.Queue[Inbound] = queue.Queue()
    topic = f"owntracks/{PHONE}/cmd"
    phone = MqttClient(mqtt_url, f"phone-{uuid.uuid4().hex[:6]}",
                       subscriptions=[(topic, 1)], on_message=inbox.put)
    assert phone.start(wait_s=10)
    proc = IngestProcess(mqtt_url, redis_url, tmp_path / "ingest.log", env={
        "PATROL_HOTSPOTS": str(paths["hotspots"]), "PATROL_UNITS": str(paths["units"]),
        "PATROL_EXPERIMENT": str(paths["experiment"]), "PATROL_UNIT_MAX_RATE": "1000",
        "PATROL_ARCHIVE": str(archive)})
    proc.start()
    try:
        store = Store.from_url(redis_url)
        proc.wait_storing(store)
        # The phone gets today's treated places as regions, on its command topic.
        exp = load_experiment(paths["experiment"])
        treated_today = allocate(exp, today).treatment
        assert_regions(inbox.get(timeout=60), treated_today)
        # Today was allocated automatically, stored and audited.
        stored = ExperimentStore(store).day("trial", today)
        assert stored is not None and stored.treatment == treated_today
        audit = [e for e in store.audit_log(50) if e.get("kind") == "experiment_allocation"]
        assert {e["date"] for e in audit} >= {today.isoformat()}
        assert all(e["digest"] == exp.digest() for e in audit)

        # Two past days driven by simulated units over MQTT.
        expected = drive_two_days(mqtt_url, exp, d1, d2, zone)
        last = at_local(d2, 10, 40, zone) + 600
        wait_until(lambda: any(p[0] >= last - 1 for p in store.trail(
            "UC1", last - 120, last + 1)), 60, what="the second day's positions stored")
        proc.stop()  # its archiver holds the archive lock; this test moves the first day itself
        # The first day leaves Redis for the Parquet archive; the second stays hot.
        settings = make_settings(mqtt_url, redis_url, archive=str(archive))
        archiver = Archiver(settings, store)
        wait_until(lambda: store.acquire_archive_lock(archiver.owner, 60), 150,
                   what="the archive lock")
        archiver.run_once(at_local(d2, 0, 0, zone) + 24 * 3600)
        assert any(archive.rglob("*.parquet"))
        hotspots = load_hotspots(paths["hotspots"], CoverageDefaults(), zone)
        history = History(store, ArchiveReader(ArchiveStorage(str(archive))))
        rows = panel(exp, hotspots, history, store, d1, d2, zone, VisitParams(),
                     settings.trail_retention_s, settings.stale_after_s)
        assert len(rows) == 8  # 4 places x 2 days
        streak = {}
        for row in rows:
            want = expected[(row.date, row.hotspot)]
            got = {k: getattr(row, k) for k in want}
            assert got == pytest.approx(want), (row.date, row.hotspot)
            assert row.observed_minutes == pytest.approx(60.0)
            assert row.digest == exp.digest()
            streak[(row.date, row.hotspot)] = row.consecutive_treated_days
        # Past raw retention the stored measures answer, the same rows.
        assert panel(exp, hotspots, history, store, d1, d2, zone, VisitParams(), 3600.0,
                     settings.stale_after_s) == rows
        for h in CENTRES:
            was = allocate(exp, d1).arm(h) == "treatment"
            now_t = allocate(exp, d2).arm(h) == "treatment"
            assert streak[(d2.isoformat(), h)] == (2 if was and now_t else int(now_t))
    finally:
        proc.stop()
        phone.stop()


def local_settings(redis_url: str, paths: dict[str, Path], **extra: Any) -> Settings:
    return Settings(mqtt_url="mqtt://127.0.0.1:1", redis_url=redis_url,  # type: ignore[arg-type]
                    hotspots=paths["hotspots"], units=paths["units"], **extra)


def test_a_control_hotspot_never_gets_a_gap_or_a_suggestion(tmp_path: Path,
                                                             redis_url: str) -> None:
    settings0 = make_settings("mqtt://127.0.0.1:1", redis_url)
    zone = settings0.zone
    day = datetime.now(zone).date() - timedelta(days=1)
    # 24 visits of 10 minutes a day: a treated place's T is 60 min, like the places' own.
    paths = write_config(tmp_path, day, day, visits=24, minutes=10)
    settings = local_settings(redis_url, paths, experiment=paths["experiment"])
    store = Store.from_settings(settings)
    hotspots = load_hotspots(paths["hotspots"], CoverageDefaults.from_settings(settings), zone)
    roster = load_roster(paths["units"])
    now = at_local(day, 15, 0, zone)
    batch = Batch()
    t = now - 3 * 3600
    while t <= now:  # observed for 3 h; a unit available near every place, in none
        batch.positions.append(Position("NEAR", t, BASE[0] + 0.005, BASE[1] + 0.015, acc=5.0))
        t += 60.0
    batch.statuses.append(StatusChange("NEAR", now - 3 * 3600, Status.AVAILABLE))
    store.write_batch(batch)
    evaluator = CoverageEvaluator(settings, store, hotspots, roster)
    evaluator.rebuild(now)
    snap, _ = evaluator.evaluate(now)
    alloc = allocate(load_experiment(paths["experiment"]), day)
    gaps = {g["hotspot"]: g for g in snap["gaps"]}
    for h in alloc.control:
        entry = snap["hotspots"][h]
        assert entry["state"] == "inactive" and entry["arm"] == "control", entry
        assert entry["target_minutes"] is None and h not in gaps
    for h in alloc.treatment:
        entry = snap["hotspots"][h]
        assert entry["arm"] == "treatment" and entry["state"] == "gap"
        assert entry["target_minutes"] == 10 and entry["max_gap_minutes"] == 60
        assert [s["id"] for s in gaps[h]["suggested_units"]] == ["NEAR"]
    # Without the experiment, the same controls would be in gap (the hook is what hides them).
    plain = CoverageEvaluator(local_settings(redis_url, paths), store, hotspots, roster)
    plain.rebuild(now)
    plain_gaps = {g["hotspot"] for g in plain.evaluate(now)[0]["gaps"]}
    assert set(alloc.control) <= plain_gaps
    assert time.time() > now  # the day evaluated is in the past: any time of day works
