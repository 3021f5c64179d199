"""The Store against a real three-node Redis Cluster: the same code, sharded.

Keys read or written together share a hash tag (store.py), so every multi-key command stays
in one slot; the set-if-newer script goes as EVAL (cluster pipelines refuse EVALSHA) and the
visit rebuild is a plain pipeline (one MULTI cannot span the hotspots' slots).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import duckdb
import pytest
from redis.cluster import RedisCluster

from patrolwatch import store as store_module
from patrolwatch.archive.archiver import Archiver
from patrolwatch.core.model import LostContact, Position, Status, StatusChange
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store, points_for
from tests.conftest import IN_CI
from tests.services import ServerProcess, free_port, wait_until

pytestmark = pytest.mark.integration
NODES = 3
HOWTO = "redis-server and redis-cli are needed for the cluster tests (apt-get install redis)"


def _cluster_ok(port: int) -> bool:
    info = subprocess.run(["redis-cli", "-p", str(port), "cluster", "info"],
                          check=False, capture_output=True, text=True, timeout=10).stdout
    return "cluster_state:ok" in info


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """Three cluster-enabled redis-server nodes on free ports, one shard each, no replicas."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        if IN_CI:
            pytest.fail(f"CI must run the cluster tests: {HOWTO}")
        pytest.skip(HOWTO)
    nodes: list[ServerProcess] = []
    try:
        for _ in range(NODES):
            port = free_port()
            workdir = tmp_path_factory.mktemp(f"cluster-{port}")
            # --cluster-port: the default bus port (port + 10000) may not exist above 55535.
            node = ServerProcess([server, "--port", str(port), "--bind", "127.0.0.1",
                                  "--cluster-enabled", "yes", "--cluster-port", str(free_port()),
                                  "--cluster-config-file", str(workdir / "nodes.conf"),
                                  "--save", "", "--appendonly", "no", "--dir", str(workdir)],
                                 port, workdir)
            node.start()
            nodes.append(node)
        subprocess.run([cli, "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in nodes],
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        wait_until(lambda: all(_cluster_ok(n.port) for n in nodes), 30, interval=0.2,
                   what="the cluster to agree on its slots")
        client = RedisCluster(host="127.0.0.1", port=nodes[0].port)
        yield client
        client.close()
    finally:
        for node in nodes:
            node.terminate()


@pytest.fixture
def store(cluster: RedisCluster) -> Store:
    cluster.flushall()
    return Store(cluster)  # type: ignore[arg-type]


def fleet_batch(now: float, units: int = 30) -> Batch:
    """Positions for units spread over every shard, statuses, one last-will."""
    return Batch(
        positions=[Position(f"U{i:03d}", now - 60 + i, 51.5 + i * 1e-3, -0.12, acc=5.0)
                   for i in range(units)],
        statuses=[StatusChange(f"U{i:03d}", now - 90, Status.ON_PATROL) for i in range(units)],
        lost=[LostContact("U001", now - 1)],
    )


def test_units_spread_over_every_shard(cluster: RedisCluster) -> None:
    """Per-unit trail keys land on all three nodes: a fleet's trails really are sharded."""
    keys = [store_module.k_trail(f"U{i:03d}") for i in range(30)]
    slots = {cluster.keyslot(k) for k in keys}  # type: ignore[no-untyped-call]
    owners = {cluster.get_node_from_key(k).name for k in keys}  # type: ignore[no-untyped-call]
    assert len(slots) > 1 and len(owners) == NODES


def test_write_and_read_live_state_trails_and_feed(store: Store) -> None:
    now = time.time()
    batch = fleet_batch(now)
    result = store.write_batch(batch, now=now)
    assert (result.new_points, result.moved_units) == (30, 30)
    again = store.write_batch(batch, now=now)  # a re-delivered batch is stored once
    assert (again.new_points, again.duplicate_points, again.moved_units) == (0, 30, 0)

    rows = store.live_rows()
    assert len(rows.positions) == len(rows.statuses) == 30
    assert rows.lwt == {"U001": pytest.approx(now - 1)}
    live, snapshot, stats = store.dashboard_state()
    assert len(live.seen) == 30 and snapshot is None
    assert stats.accepted_total == 61 + 31 and stats.duplicates_total == 30
    assert store.trail("U007", now - 3600, now) == [(now - 53, 51.507, -0.12, 5.0)]
    assert store.units_in_trails([f"U{i:03d}" for i in range(30)]) == {
        f"U{i:03d}": 1 for i in range(30)}
    assert {u: len(p) for u, p in points_for(["U000", "U029"], store, now - 3600, now).items()
            } == {"U000": 1, "U029": 1}
    assert store.status_history("U003", now - 3600, now) == [(now - 90, "ON_PATROL")]
    assert store.unit_events("U001")[0]["event"] == "lwt"
    assert [u for u, _ in store.units_near(51.5, -0.12, 50)] == ["U000"]
    # 60 positions (twice over) and 30 statuses: a status seen before changes nothing
    assert len(store.read_feed("0-0")) == 90
    assert store.last_seen("U029") == pytest.approx(now - 31)


def test_coverage_visits_lock_and_snapshot(store: Store) -> None:
    now = time.time()
    visits = [{"unit": "U1", "hotspot": h, "start": now - 900, "end": now - 60, "pings": 9}
              for h in ("nte-soho", "transport-kings-cross", "school-homerton")]
    store.apply_visit_delta([], visits)
    many = store.visits_many(["nte-soho", "transport-kings-cross", "school-homerton"],
                             now - 3600, now)
    assert all(len(v) == 1 for v in many.values())
    store.replace_visits_since(["nte-soho"], now - 1000, visits[:1])  # one hotspot: one slot
    assert store.visits("nte-soho", now - 3600, now, min_minutes=10)[0]["qualifying"] is True
    assert store.acquire_evaluator_lock("a", 5) and not store.acquire_evaluator_lock("b", 5)
    store.release_evaluator_lock("a")
    assert store.acquire_evaluator_lock("b", 5)
    store.write_coverage({"evaluated_at": now}, [{"hotspot": "nte-soho", "event": "gap"}])
    assert store.coverage() == {"evaluated_at": now}
    assert store.coverage_events()[0]["event"] == "gap"


def test_replace_visits_since_several_hotspots(cluster: RedisCluster, store: Store) -> None:
    """A rebuild over hotspots in different slots drops what started since and keeps the rest."""
    now = time.time()
    spots = ("nte-soho", "transport-kings-cross")
    slots = {cluster.keyslot(store_module.k_visits(h)) for h in spots}  # type: ignore[no-untyped-call]
    assert len(slots) == 2
    old = [{"unit": "U9", "hotspot": h, "start": now - 7200, "end": now - 6600, "pings": 4}
           for h in spots]
    stale = [{"unit": "U2", "hotspot": h, "start": now - 800, "end": now - 100, "pings": 5}
             for h in spots]
    store.apply_visit_delta([], old + stale)
    fresh = [{"unit": "U1", "hotspot": h, "start": now - 900, "end": now - 60, "pings": 9}
             for h in spots]
    store.replace_visits_since(list(spots), now - 1000, fresh)
    for hotspot, visits in store.visits_many(list(spots), now - 86_400, now).items():
        assert sorted(v["unit"] for v in visits) == ["U1", "U9"], hotspot


def test_taskings_audit_and_emergency_acks(store: Store) -> None:
    now = time.time()
    tasking = {"id": "t1", "unit": "U1", "hotspot": "nte-soho", "created": now}
    store.save_tasking(tasking, True, {"ts": now, "kind": "tasking", "id": "t1"})
    assert store.open_taskings() == [tasking] and store.tasking("t1") == tasking
    store.save_tasking({**tasking, "state": "COMPLETED"}, False)
    assert store.open_taskings() == [] and store.taskings()[0]["state"] == "COMPLETED"
    store.acknowledge_emergency("U1", "sup", now - 5, now + 1)
    assert store.emergency_acks()["U1"]["by"] == "sup"
    assert [e["kind"] for e in store.audit_log()] == ["emergency_ack", "tasking"]
    store.forget_taskings(["t1"])
    assert store.taskings() == []



def test_replay_reads_span_shards(store: Store) -> None:
    """A frame's latest-point and status reads work when the units' keys span slots."""
    now = time.time()
    store.write_batch(fleet_batch(now), now=now)
    units = [f"U{i:03d}" for i in range(30)]
    latest = store.last_points_at(units, now, now - 3600)
    assert sorted(latest) == units and latest["U007"][1] == pytest.approx(51.507)
    assert store.statuses_at(units, now) == {u: (pytest.approx(now - 90), "ON_PATROL")
                                             for u in units}


def test_trail_extras_are_written_trimmed_and_archived_on_a_cluster(
        store: Store, tmp_path: Path) -> None:
    """The per-slot trail script keeps each point's extras beside it (same hash tag)."""
    now = time.time()
    old = now - 3 * 3600
    batch = Batch(positions=[Position(f"U{i:03d}", old + i, 51.5 + i * 1e-3, -0.12, acc=5.0,
                                      speed=1.0 + i, heading=90.0, battery=50.0,
                                      source="owntracks") for i in range(30)])
    assert store.write_batch(batch, now=now).new_points == 30
    assert store.write_batch(batch, now=now).duplicate_points == 30  # no second extras
    cluster = cast(RedisCluster, store.r)
    for i in range(30):
        unit = f"U{i:03d}"
        extras = store_module.k_trail_extras(unit, store_module.extras_bucket(old + i))
        assert cluster.keyslot(store_module.k_trail(unit)) == cluster.keyslot(  # type: ignore[no-untyped-call]
            extras)
        assert store.r.hgetall(extras) == {
            repr(old + i).encode(): f"{1.0 + i!r}|90.0|50.0|o".encode()}
    settings = Settings(archive=str(tmp_path / "a"), hot_hours=1)
    Archiver(settings, store).run_once(now)
    assert all(store.r.exists(store_module.k_trail(f"U{i:03d}"), store_module.k_trail_extras(
        f"U{i:03d}", store_module.extras_bucket(old + i))) == 0 for i in range(30))
    rows = duckdb.sql(f"""SELECT speed, heading, battery, source FROM read_parquet(
        '{tmp_path}/a/positions/day=*/*.parquet') ORDER BY speed""").fetchall()
    assert rows == [(1.0 + i, 90.0, 50.0, "owntracks") for i in range(30)]


def test_status_notes_are_written_once_and_archived_on_a_cluster(
        store: Store, tmp_path: Path) -> None:
    """The per-slot status script keeps each new status's note beside its log row."""
    now = time.time()
    old = now - 3 * 3600
    batch = Batch(statuses=[StatusChange(f"U{i:03d}", old + i, Status.AT_SCENE, f"note {i}")
                            for i in range(30)])
    store.write_batch(batch, now=now)
    store.write_batch(Batch(statuses=[StatusChange(s.unit, s.ts, s.status, "changed")
                                      for s in batch.statuses]), now=now)
    cluster = cast(RedisCluster, store.r)
    for i, s in enumerate(batch.statuses):
        notes = store_module.k_status_notes(s.unit)
        assert cluster.keyslot(store_module.k_status_log(s.unit)) == cluster.keyslot(  # type: ignore[no-untyped-call]
            notes)
        assert store.r.hgetall(notes) == {f"{s.ts!r}|AT_SCENE".encode(): f"note {i}".encode()}
    # A later status per unit: the noted ones are archived and leave with their notes.
    store.write_batch(Batch(statuses=[StatusChange(s.unit, old + 1800, Status.ON_PATROL)
                                      for s in batch.statuses]), now=now)
    Archiver(Settings(archive=str(tmp_path / "a"), hot_hours=1), store).run_once(now)
    assert all(store.r.exists(store_module.k_status_notes(s.unit)) == 0
               for s in batch.statuses)
    rows = duckdb.sql(f"""SELECT DISTINCT unit, status, note FROM read_parquet(
        '{tmp_path}/a/statuses/day=*/*.parquet') ORDER BY unit, status""").fetchall()
    assert rows == [row for i in range(30) for row in (
        (f"U{i:03d}", "AT_SCENE", f"note {i}"), (f"U{i:03d}", "ON_PATROL", None))]
