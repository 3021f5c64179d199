"""The operation report reads a week in seconds without changing what it says.

It reads only the status changes of the units that raised an EMERGENCY and, of the
hotspot-state history, only each entry's time, observed flag and gap states
(``patrolwatch.archive.report_reads``). These tests hold those reads to the full ones on real
Redis, real Parquet and DuckDB: the same emergencies as every unit's status log gives (an
alarm forgotten after the audit retention, an alarm Redis no longer holds at all, two
emergencies folded into one alarm), and the same gap and observed stretches.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

from dashboard.deps import Deps
from dashboard.replay import actions as replay
from dashboard.replay.view import Clock
from dashboard.reports import actions
from dashboard.reports.view import emergency_rows, gap_spans, observed_spans
from patrolwatch.archive.archiver import Archiver
from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.report_reads import gap_entries
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tiers import History
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.core.model import Status, StatusChange
from patrolwatch.roster import Roster
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from patrolwatch.store.batch import alarm_id
from patrolwatch.store.keys import K_ALARMS, K_ALARMS_EMERGENCY

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _world(redis_url: str, tmp_path: Path) -> tuple[Settings, Store, History, float, float]:
    settings = Settings(redis_url=redis_url, archive=str(tmp_path / "archive"), hot_hours=1,
                        hotspots=ROOT / "config/hotspots.geojson")
    store = Store.from_url(redis_url)
    history = History(store, ArchiveReader(ArchiveStorage(settings.archive)))
    now = float(int(time.time()))  # whole seconds: the status log keeps microseconds
    return settings, store, history, now, math.floor(now / 3600) * 3600.0 - 5 * 3600


def _every_units_emergencies(settings: Settings, store: Store, history: History,
                             since: float, until: float) -> list[Any]:
    """Return the emergencies as the report read them before: every seen unit's statuses."""
    changes = history.status_changes(store.seen_units(), since, until,
                                     settings.trail_retention_s)
    return emergency_rows(changes, store.audit_between(since, until + 3600), since, until)


def _deps(settings: Settings, store: Store) -> Deps:
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults(), settings.zone)
    return Deps(settings=settings, store=store, roster=Roster.empty(), hotspots=hotspots)


def _report(settings: Settings, store: Store, history: History, since: float,
            until: float) -> Any:
    return actions.build(_deps(settings, store), history, since, until)


def test_the_report_lists_every_emergency_the_status_logs_hold_whatever_the_alarm_store_kept(
        redis_url: str, tmp_path: Path) -> None:
    settings, store, history, now, t0 = _world(redis_url, tmp_path)
    old_a = StatusChange("A", t0 + 600, Status.EMERGENCY)
    folded = [StatusChange("C", t0 + 300, Status.EMERGENCY),
              StatusChange("C", t0 + 400, Status.ON_PATROL),
              StatusChange("C", t0 + 500, Status.EMERGENCY)]  # while C's first is still open
    old_e = StatusChange("E", t0 - 7200, Status.EMERGENCY)  # before the report's period
    store.write_batch(Batch(statuses=[
        StatusChange("A", t0, Status.ON_PATROL), old_a,
        StatusChange("A", t0 + 1200, Status.ON_PATROL), *folded,
        StatusChange("D", t0, Status.ON_PATROL),
        StatusChange("D", t0 + 700, Status.REFRESHMENT),
        old_e, StatusChange("E", t0 - 7100, Status.ON_PATROL)]), now=now)
    # C's second EMERGENCY folded into its open alarm: one alarm, two emergencies.
    assert [a["repeats"] for a in store.all_alarms() if a["unit"] == "C"] == [1]
    # A's alarm, acknowledged, is forgotten by a store that keeps an hour of audit.
    short = Store.from_url(redis_url, audit_retention_s=3600.0)
    assert short.acknowledge_alarm(alarm_id(old_a), "sgt", now) is not None
    assert store.alarm(alarm_id(old_a)) is None
    Archiver(settings, store).run_once(now)  # what is older than an hour goes to Parquet
    b = StatusChange("B", now - 600, Status.EMERGENCY, arrival=now - 600)
    store.write_batch(Batch(statuses=[b]), now=now - 600)
    store.acknowledge_alarm(alarm_id(b), "sgt", now - 500)
    # E presses again within the hot hour while its first alarm (before the period) is still
    # open: folded into that old alarm, which is then acknowledged and forgotten. Only
    # Redis's status log holds the new press, and only the alarm index still names E.
    store.write_batch(Batch(statuses=[
        StatusChange("E", now - 300, Status.EMERGENCY, arrival=now - 300)]), now=now - 300)
    assert short.acknowledge_alarm(alarm_id(old_e), "sgt", now) is not None
    assert not [a for a in store.all_alarms() if a["unit"] in "AE"]

    since, until = t0 - 3600, now
    every = _every_units_emergencies(settings, store, history, since, until)
    expected = [("C", t0 + 300), ("C", t0 + 500), ("A", t0 + 600),
                ("B", now - 600), ("E", now - 300)]
    assert [(e.unit, e.start) for e in every] == expected
    report = _report(settings, store, history, since, until)
    assert report.emergencies == every
    assert (report.emergencies[3].by, report.emergencies[3].ack_s) == ("sgt", 100)
    # Replay's "Next emergency" reads the same units: it finds each of them in turn.
    deps, at = _deps(settings, store), since
    for _, start in expected:
        moved = replay.jump(deps, "sgt", Clock(since, until, at), "emergency")
        assert isinstance(moved, Clock) and moved.at == start
        at = moved.at
    assert replay.jump(deps, "sgt", Clock(since, until, at), "emergency") == (
        "No emergency after this in the period.")

    # No alarm of A or C left in Redis at all (emergencies archived before the alarm index
    # existed, or a Redis restored from an older copy): the archive itself names them.
    store.r.hdel(K_ALARMS_EMERGENCY, "A", "C")
    store.r.hdel(K_ALARMS, *[a["id"] for a in store.all_alarms() if a["unit"] in "AC"])
    assert {a["unit"] for a in store.all_alarms()} == {"B"}
    again = _report(settings, store, history, since, until)
    assert [(e.unit, e.start) for e in again.emergencies] == expected
    assert again.emergencies == _every_units_emergencies(settings, store, history, since, until)


def test_gap_entries_are_the_state_history_cut_to_its_gaps_from_both_tiers(
        redis_url: str, tmp_path: Path) -> None:
    settings, store, history, now, t0 = _world(redis_url, tmp_path)
    states = ["covered", "gap", "present", "due", "gap", "no_data"]
    for k, ts in enumerate(range(int(t0), int(now) - 60, 60)):
        entry = {"a": states[k % 6], "b": states[(k + 1) % 6], "c": "covered"}
        store.record_hotspot_states(float(ts), {} if k % 50 == 7 else entry, k % 9 != 4)
    Archiver(settings, store).run_once(now)
    # Late data re-evaluated an archived stretch: Redis's entries win at the same time.
    store.replace_hotspot_states(t0 + 600, t0 + 900, [
        (t0 + 600, {"a": "covered", "b": "gap"}, True), (t0 + 660, {"a": "gap"}, False)])
    since, until = t0 - 60, now
    full = history.hotspot_states(since, until)
    assert any(t < history.boundary() for t, _, _ in full)
    assert any(t >= history.boundary() for t, _, _ in full)
    cut = gap_entries(history, since, until)
    assert cut == [(t, {h: s for h, s in st.items() if s == "gap"}, o) for t, st, o in full]
    assert gap_spans(cut, until) == gap_spans(full, until)
    assert observed_spans(cut, until) == observed_spans(full, until)
