"""Every contract column in the archive: a status's note.

The status-log member (``ts|STATUS``) is the status's identity and stays as it was; a hash
per unit beside it (``k_status_notes``) keeps the note, written in the same script call as
the log row and only when the row is new, moved with the row, trimmed and expired with it.
Real broker, real ingest worker, real Redis, real Parquet files read back with DuckDB.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from patrolwatch.archive.archiver import Archiver
from patrolwatch.archive.tables import statuses_table
from patrolwatch.core.model import Status, StatusChange
from patrolwatch.mqtt import MqttClient
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store, k_status_ids, k_status_log, k_status_notes
from tests.integration.conftest import RunningWorker
from tests.services import wait_until

pytestmark = pytest.mark.integration
NOW = 1_764_590_400.0  # 2025-12-01 12:00 UTC
TYPED = "=HYPERLINK(\"x\") suspect left | towards Oxford St, café, 2 males 🚶"  # typed


def archived_statuses(root: Path) -> dict[tuple[str, float, str], str | None]:
    """Return every archived status row's note, read with DuckDB, by (unit, ts, status)."""
    rows = duckdb.sql(f"""
        SELECT DISTINCT unit, epoch_us(ts) / 1e6 AS t, status, note
        FROM read_parquet('{root}/statuses/day=*/*.parquet', hive_partitioning = true)
    """).fetchall()
    out: dict[tuple[str, float, str], str | None] = {}
    for unit, t, status, note in rows:
        key = (unit, round(t, 6), status)
        assert key not in out, f"{key} archived with two different notes"
        out[key] = note
    return out


def notes_of(store: Store, unit: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in
            store.r.hgetall(k_status_notes(unit)).items()}  # type: ignore[union-attr]


def test_a_note_published_through_the_worker_is_archived(
        start_worker: Callable[..., RunningWorker], publisher: MqttClient, tmp_path: Path) -> None:
    """A note, a re-delivery with another note, a status without one: real worker, DuckDB."""
    rw = start_worker()
    store = rw.store
    now = time.time()
    t1, t2, t3 = round(now - 3 * 3600, 3), round(now - 2.5 * 3600, 3), round(now - 2 * 3600, 3)
    publisher.publish("patrol/N1/status", json.dumps(
        {"ts": t1, "status": "AT_SCENE", "note": TYPED}))
    publisher.publish("patrol/N1/status", json.dumps({"ts": t2, "status": "EN_ROUTE"}))
    wait_until(lambda: store.r.zcard(k_status_log("N1")) == 2, 30, what="two statuses logged")
    # The same status again (a re-delivery: same ts and status) with another note, then a
    # later status with a note: once that is logged, the re-delivery was handled before it.
    publisher.publish("patrol/N1/status", json.dumps(
        {"ts": t1, "status": "AT_SCENE", "note": "changed"}))
    publisher.publish("patrol/N1/status", json.dumps(
        {"ts": t3, "status": "ON_PATROL", "note": "resuming"}))
    wait_until(lambda: store.r.zcard(k_status_log("N1")) == 3, 30, what="third status logged")
    assert notes_of(store, "N1") == {f"{t1!r}|AT_SCENE": TYPED, f"{t3!r}|ON_PATROL": "resuming"}

    settings = Settings(redis_url=rw.settings.redis_url, archive=str(tmp_path / "a"),
                        hot_hours=1)
    Archiver(settings, store).run_once(time.time() + 2 * 3600)
    # The newest stays hot with its note; the others left Redis with theirs.
    assert store.r.zrange(k_status_log("N1"), 0, -1) == [f"{t3!r}|ON_PATROL".encode()]
    assert notes_of(store, "N1") == {f"{t3!r}|ON_PATROL": "resuming"}
    assert archived_statuses(tmp_path / "a") == {
        ("N1", t1, "AT_SCENE"): TYPED, ("N1", t2, "EN_ROUTE"): None,
        ("N1", t3, "ON_PATROL"): "resuming"}


def test_a_duplicate_never_changes_a_note(redis_url: str, tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    s = StatusChange("D1", NOW - 3 * 3600 + 0.5, Status.AT_SCENE, "first words")
    other = StatusChange("D1", s.ts, Status.AT_SCENE, "other words")
    bare = StatusChange("D1", s.ts, Status.AT_SCENE)
    # Twice in a batch, with another note in the same batch, in a later one, and without.
    store.write_batch(Batch(statuses=[s, other, s]), now=NOW)
    store.write_batch(Batch(statuses=[other]), now=NOW)
    store.write_batch(Batch(statuses=[bare]), now=NOW)
    assert store.r.zcard(k_status_log("D1")) == 1
    assert notes_of(store, "D1") == {f"{s.ts!r}|AT_SCENE": "first words"}
    # The log row itself guards the note too: a status the identities no longer hold (as
    # one logged before they were kept) finds its row there and leaves its note alone.
    store.r.delete(k_status_ids("D1"))
    store.write_batch(Batch(statuses=[other]), now=NOW)
    assert notes_of(store, "D1") == {f"{s.ts!r}|AT_SCENE": "first words"}
    # A status without a note makes no field.
    store.write_batch(Batch(statuses=[StatusChange("D1", NOW - 2 * 3600, Status.ON_PATROL)]),
                      now=NOW)
    assert len(notes_of(store, "D1")) == 1
    Archiver(Settings(redis_url=redis_url, archive=str(tmp_path / "a"), hot_hours=1),
             store).run_once(NOW)
    assert archived_statuses(tmp_path / "a") == {
        ("D1", s.ts, "AT_SCENE"): "first words", ("D1", NOW - 2 * 3600, "ON_PATROL"): None}
    # The kept (newest) status has no note: nothing is left of the notes.
    assert not store.r.exists(k_status_notes("D1"))


def test_the_status_kept_hot_keeps_its_note_and_is_archived_with_it(redis_url: str,
                                                                    tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    a = StatusChange("K1", NOW - 3 * 3600, Status.EN_ROUTE, "to the bank")
    b = StatusChange("K1", NOW - 2.5 * 3600, Status.AT_SCENE, "alarm false, checking")
    store.write_batch(Batch(statuses=[a, b]), now=NOW)
    settings = Settings(redis_url=redis_url, archive=str(tmp_path / "a"), hot_hours=1)
    Archiver(settings, store).run_once(NOW)
    assert store.r.zcard(k_status_log("K1")) == 1
    assert notes_of(store, "K1") == {f"{b.ts!r}|AT_SCENE": "alarm false, checking"}
    # A later status: the kept one leaves at the next pass, with its note, archived again.
    c = StatusChange("K1", NOW - 0.5 * 3600, Status.ON_PATROL)
    store.write_batch(Batch(statuses=[c]), now=NOW)
    Archiver(settings, store).run_once(NOW + 2 * 3600)
    assert store.r.zrange(k_status_log("K1"), 0, -1) == [f"{c.ts!r}|ON_PATROL".encode()]
    assert not store.r.exists(k_status_notes("K1"))
    assert archived_statuses(tmp_path / "a") == {
        ("K1", a.ts, "EN_ROUTE"): "to the bank", ("K1", b.ts, "AT_SCENE"): "alarm false, checking",
        ("K1", c.ts, "ON_PATROL"): None}


def test_retention_trims_a_note_with_its_status_and_the_notes_expire(redis_url: str) -> None:
    store = Store.from_url(redis_url)
    retention = store.trail_retention_s
    old = StatusChange("R1", NOW - 600, Status.AT_SCENE, "long ago")
    store.write_batch(Batch(statuses=[old]), now=NOW)
    ttl = int(store.r.ttl(k_status_notes("R1")))  # type: ignore[arg-type]
    assert retention < ttl <= retention + 2 * 3600
    later = NOW + retention + 3600
    new = StatusChange("R1", later - 60, Status.ON_PATROL, "back on")
    store.write_batch(Batch(statuses=[new]), now=later)
    assert store.r.zrange(k_status_log("R1"), 0, -1) == [f"{new.ts!r}|ON_PATROL".encode()]
    assert notes_of(store, "R1") == {f"{new.ts!r}|ON_PATROL": "back on"}


def test_the_note_is_in_the_file_name() -> None:
    """The same entries give the same digest; a note changes it; no notes: as before."""
    rows = [("U", b"1764590400.5|AT_SCENE", None), ("U", b"1764590500.0|ON_PATROL", None)]
    table, digest = statuses_table(rows)
    assert table.column("note").null_count == 2
    # The digest of a batch without notes is the one it had before notes were kept.
    assert digest == hashlib.blake2b(repr([("U", 1764590400.5, "AT_SCENE"), (
        "U", 1764590500.0, "ON_PATROL")]).encode(), digest_size=16).hexdigest()
    noted = [rows[0], ("U", rows[1][1], b"back on")]
    table, other = statuses_table(noted)
    assert other != digest and statuses_table(noted)[1] == other
    assert table.column("note").to_pylist() == [None, "back on"]


def test_a_trim_of_thousands_of_noted_statuses_takes_their_notes(redis_url: str) -> None:
    """More old rows than Lua's unpack takes at once (about 8,000): trimmed all the same."""
    store = Store.from_url(redis_url)
    n = 9000
    for first in range(0, n, 1000):
        store.write_batch(Batch(statuses=[
            StatusChange("M1", NOW - 7200 + i * 0.5, Status.AT_SCENE if i % 2 else
                         Status.ON_PATROL, f"n{i}") for i in range(first, first + 1000)]),
            now=NOW)
    assert store.r.hlen(k_status_notes("M1")) == n
    later = NOW + store.trail_retention_s + 3600
    store.write_batch(Batch(statuses=[StatusChange("M1", later, Status.EN_ROUTE, "last")]),
                      now=later)
    assert store.r.zcard(k_status_log("M1")) == 1
    assert notes_of(store, "M1") == {f"{later!r}|EN_ROUTE": "last"}
