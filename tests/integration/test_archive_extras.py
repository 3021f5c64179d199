"""Every contract column in the archive: a position's speed, heading, battery and source.

The trail member (``ts,lat,lon,acc``) is the message's identity and stays as it was; a
second sorted set per unit (``k_trail_extras``) keeps the rest, written in the same script
call, moved with the point and never doubled by a re-delivery. Real broker, real ingest
worker, real Redis, real Parquet files read back with DuckDB.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from patrolwatch.archive.archiver import Archiver
from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tiers import History
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.mqtt import MqttClient
from patrolwatch.roster import load_roster
from patrolwatch.settings import Settings
from patrolwatch.store import K_POS, Batch, Store, k_trail
from tests.integration.conftest import RunningWorker
from tests.lip_encoder import lat_code, lon_code, short_report
from tests.services import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
NOW = 1_764_590_400.0  # 2025-12-01 12:00 UTC
COLUMNS = ("speed", "heading", "battery", "source")
RADIO_UNIT, RADIO_ISSI = "CW-413", 1002413  # config/units.yaml


def extras_of(store: Store, unit: str) -> dict[bytes, bytes]:
    """Return every extras field a unit holds in Redis, whatever its bucket."""
    out: dict[bytes, bytes] = {}
    for key in store.r.keys(f"pw:trailx:{{{unit}}}:*"):  # type: ignore[union-attr]
        out.update(store.r.hgetall(key))  # type: ignore[arg-type]
    return out


def archived(root: Path) -> dict[tuple[str, float], dict[str, Any]]:
    """Return every archived position row, read with DuckDB, by (unit, epoch seconds)."""
    rows = duckdb.sql(f"""
        SELECT unit, epoch_us(ts) / 1e6 AS t, lat::DOUBLE AS lat, lon::DOUBLE AS lon, acc,
               speed, heading, battery, source
        FROM read_parquet('{root}/positions/day=*/*.parquet', hive_partitioning = true)
    """).fetchall()
    names = ("lat", "lon", "acc", *COLUMNS)
    out: dict[tuple[str, float], dict[str, Any]] = {}
    for unit, t, *values in rows:
        key = (unit, round(t, 6))
        assert key not in out, f"{key} archived twice"
        out[key] = dict(zip(names, values, strict=True))
    return out


def test_every_ingest_path_archives_every_column(
        start_worker: Callable[..., RunningWorker], publisher: MqttClient, tmp_path: Path) -> None:
    """Native (the fast parser), OwnTracks and a TETRA radio, through the real worker."""
    rw = start_worker(roster=load_roster(ROOT / "config/units.yaml"))
    store = rw.store
    now = time.time()
    t_native, t_owntracks = round(now - 3 * 3600, 3), int(now - 2 * 3600)
    publisher.publish("patrol/N1/position", json.dumps(
        {"ts": t_native, "lat": 51.5012345, "lon": -0.1412345, "acc": 5, "speed": 1.5,
         "heading": 90, "battery": 77}))
    publisher.publish("owntracks/alice/phone", json.dumps(
        {"_type": "location", "tst": t_owntracks, "lat": 51.51, "lon": -0.13, "acc": 8,
         "vel": 18, "cog": 180, "batt": 55}))
    publisher.publish(f"tetra/{RADIO_ISSI}/lip",
                      short_report(elapsed=0, lon=lon_code(-0.1276), lat=lat_code(51.5072),
                                   error=1, velocity=9, direction=4).hex())
    units = ("N1", "alice-phone", RADIO_UNIT)
    wait_until(lambda: all(store.trail_count(u) == 1 for u in units), 30,
               what="three positions stored")
    live = {u: orjson.loads(store.r.hget(K_POS, u)) for u in units}  # type: ignore[arg-type]

    # Archive everything: a pass run as if two hours later, with one hot hour.
    settings = Settings(redis_url=rw.settings.redis_url, archive=str(tmp_path / "a"),
                        hot_hours=1)
    Archiver(settings, store).run_once(time.time() + 2 * 3600)
    assert all(store.trail_count(u) == 0 for u in units)
    assert all(extras_of(store, u) == {} for u in units)  # left with their points

    rows = archived(tmp_path / "a")
    assert {k[0] for k in rows} == set(units)
    by_unit = {k[0]: v for k, v in rows.items()}
    assert by_unit["N1"] == {"lat": 51.5012345, "lon": -0.1412345, "acc": 5.0, "speed": 1.5,
                             "heading": 90.0, "battery": 77.0, "source": "native"}
    assert by_unit["alice-phone"]["speed"] == pytest.approx(5.0)  # 18 km/h
    assert (by_unit["alice-phone"]["heading"], by_unit["alice-phone"]["battery"],
            by_unit["alice-phone"]["source"]) == (180.0, 55.0, "owntracks")
    radio = by_unit[RADIO_UNIT]
    assert radio["source"] == "tetra" and radio["speed"] is not None
    assert radio["heading"] is not None  # a LIP report carries no battery level
    for unit in units:  # the archive holds what the live position said, exactly
        assert {c: by_unit[unit][c] for c in COLUMNS} == {c: live[unit][c] for c in COLUMNS}
    assert rows[("N1", t_native)]["speed"] == 1.5


def test_a_duplicate_never_adds_a_second_extras(redis_url: str, tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    p = Position("D1", NOW - 3 * 3600 + 0.5, 51.5, -0.1, acc=4.0, speed=2.0, heading=45.0,
                 battery=90.0)
    # The same message twice in a batch, again in a later batch, and once more with other
    # extras but the same identity (ts, lat, lon, acc): one point, one extras member.
    store.write_batch(Batch(positions=[p, p]), now=NOW)
    store.write_batch(Batch(positions=[p]), now=NOW)
    other = Position("D1", p.ts, p.lat, p.lon, acc=4.0, speed=9.0, heading=1.0, battery=1.0,
                     source="owntracks")
    result = store.write_batch(Batch(positions=[other]), now=NOW)
    assert result.duplicate_points == 1
    assert store.r.zcard(k_trail("D1")) == 1
    assert extras_of(store, "D1") == {repr(p.ts).encode(): b"2.0|45.0|90.0|n"}

    # Two points of one time (different places): each keeps its own extras.
    twin = Position("D1", p.ts, 51.6, -0.2, speed=3.0, heading=10.0, battery=80.0,
                    source="owntracks")
    store.write_batch(Batch(positions=[twin]), now=NOW)
    assert len(extras_of(store, "D1")) == 2
    settings = Settings(redis_url=redis_url, archive=str(tmp_path / "a"), hot_hours=1)
    Archiver(settings, store).run_once(NOW)
    assert store.trail_count("D1") == 0 and extras_of(store, "D1") == {}
    rows = duckdb.sql(f"""
        SELECT lat::DOUBLE, speed, heading, battery, source FROM read_parquet(
            '{tmp_path}/a/positions/day=*/*.parquet') ORDER BY lat""").fetchall()
    assert rows == [(51.5, 2.0, 45.0, 90.0, "native"), (51.6, 3.0, 10.0, 80.0, "owntracks")]


def test_a_late_point_older_than_the_hot_period_is_archived_whole(redis_url: str,
                                                                  tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    settings = Settings(redis_url=redis_url, archive=str(tmp_path / "a"), hot_hours=1)
    history = History(store, ArchiveReader(ArchiveStorage(settings.archive)))
    t0 = NOW - 4 * 3600
    store.write_batch(Batch(positions=[Position("L1", t0 + i * 60, 51.5, -0.1 + i * 1e-4,
                                                speed=1.0, heading=0.0, battery=50.0)
                                       for i in range(5)]), now=NOW)
    archiver = Archiver(settings, store)
    archiver.run_once(NOW)
    assert store.archived_until() > t0 + 3600 and store.trail_count("L1") == 0
    # A handheld flushes its buffer into that archived hour, out of order.
    late = [Position("L1", t0 + 90, 51.51, -0.11, acc=3.0, speed=4.5, heading=270.0,
                     battery=12.0, source="owntracks"),
            Position("L1", t0 + 30, 51.52, -0.12, speed=0.5, heading=5.0, battery=13.0)]
    store.write_batch(Batch(positions=late), now=NOW)
    assert history.trail("L1", t0, NOW, 100).total == 7  # answered before the next pass
    archiver.run_once(NOW)
    assert store.trail_count("L1") == 0 and extras_of(store, "L1") == {}
    rows = archived(tmp_path / "a")
    assert len(rows) == 7
    assert rows[("L1", t0 + 90)] == {"lat": 51.51, "lon": -0.11, "acc": 3.0, "speed": 4.5,
                                      "heading": 270.0, "battery": 12.0, "source": "owntracks"}
    assert rows[("L1", t0 + 30)]["battery"] == 13.0
    assert all(r["source"] is not None and r["speed"] is not None for r in rows.values())


def test_a_changed_window_removes_only_what_was_archived(redis_url: str,
                                                        tmp_path: Path) -> None:
    """A point that lands in the window between the archiver's read and its removal stays,
    with its extras; the points archived leave with theirs."""
    store = Store.from_url(redis_url)
    t0 = NOW - 4 * 3600
    store.write_batch(Batch(positions=[Position("W1", t0 + i, 51.5, -0.1, speed=float(i),
                                                source="tetra") for i in range(3)]), now=NOW)
    read = store.trail_window(["W1"], t0, t0 + 3600)
    members, extras = read["W1"]
    assert len(members) == len(extras) == 3
    store.write_batch(Batch(positions=[Position("W1", t0 + 10, 51.6, -0.1, speed=7.0)]),
                      now=NOW)
    from patrolwatch.store.codec import join_extras

    tails, owners = join_extras(members, extras)
    assert tails == [b"0.0|||t", b"1.0|||t", b"2.0|||t"]
    assert store.remove_trail_window({"W1": members}, t0, t0 + 3600, {"W1": owners}) == 3
    assert extras_of(store, "W1") == {repr(t0 + 10).encode(): b"7.0|||n"}
    assert store.trail_count("W1") == 1


def test_a_late_off_duty_deletes_the_points_extras_too(redis_url: str) -> None:
    store = Store.from_url(redis_url)
    t0 = NOW - 600
    store.write_batch(Batch(positions=[Position("F1", t0 + i * 60, 51.5, -0.1, speed=1.0)
                                       for i in range(5)]), now=NOW)
    store.write_batch(Batch(statuses=[StatusChange("F1", t0 + 90, Status.OFF_DUTY),
                                      StatusChange("F1", t0 + 150, Status.ON_PATROL)]), now=NOW)
    kept = [t0, t0 + 60, t0 + 180, t0 + 240]  # t0 + 120 was sent off duty
    assert [p[0] for p in store.trail("F1", 0, NOW)] == kept
    assert sorted(float(f) for f in extras_of(store, "F1")) == kept
