"""The evaluator's wiring against a real Redis: observed time from the change feed and from a
rebuild, the snapshot's states, dosage rows and periods, and predictability flags.

Messages are written with ``Store.write_batch``, as the worker writes them, so the change
feed and the trails are the real ones; no broker is needed for what is tested here.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from ingest.evaluator import CoverageEvaluator, operation_week_start, shift_start_before
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.roster import Roster
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from tests.integration.conftest import make_settings

pytestmark = pytest.mark.integration
INSIDE = (51.5000, -0.1000)
OUTSIDE = (51.5600, -0.1000)
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _square(hid: str, lat: float, lon: float, **props: Any) -> dict[str, Any]:
    d = 0.0012
    return {"type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[
                [lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d],
                [lon - d, lat - d]]]},
            "properties": {"id": hid, "name": hid.title(), "category": "other", "priority": 1,
                           **props}}


def _setup(redis_url: str, *, around_now: bool = True) -> tuple[Settings, Store, HotspotSet]:
    """Return settings, store and one hotspot: active from 5 h ago to 5 h on, or always."""
    settings = make_settings("mqtt://127.0.0.1:1", redis_url)
    store = Store.from_settings(settings)
    props: dict[str, Any] = {"target": {"min_visit_minutes": 10, "max_gap_minutes": 60}}
    if around_now:
        local = datetime.now(settings.zone)
        props["schedule"] = [{"days": ALL_DAYS,
                              "start": (local - timedelta(hours=5)).strftime("%H:%M"),
                              "end": (local + timedelta(hours=5)).strftime("%H:%M")}]
    hotspots = HotspotSet.from_features([_square("spot", *INSIDE, **props)],
                                        CoverageDefaults.from_settings(settings), settings.zone)
    return settings, store, hotspots


def _pings(store: Store, unit: str, start: float, end: float, where: tuple[float, float],
           step: float = 30.0) -> None:
    t, batch = start, Batch()
    while t <= end:
        batch.positions.append(Position(unit, t, where[0], where[1], acc=10.0))
        t += step
    store.write_batch(batch)


def test_a_system_started_two_minutes_ago_shows_no_data_never_hours_overdue(
    redis_url: str,
) -> None:
    settings, store, hotspots = _setup(redis_url)
    now = time.time()
    evaluator = CoverageEvaluator(settings, store, hotspots, Roster.empty())
    evaluator.rebuild(now - 120)  # the evaluator starts with the system: nothing stored yet
    _pings(store, "Z", now - 120, now, OUTSIDE)  # through the change feed
    snap = evaluator.tick(now)
    entry = snap["hotspots"]["spot"]
    assert (entry["state"], entry["overdue_minutes"], snap["gaps"]) == ("no_data", 0.0, [])
    assert snap["feed_fresh"] is True
    assert snap["observed_since"] == pytest.approx(now - 120)
    assert entry["observed_since"] == pytest.approx(now - 120)
    assert entry["reference"] == pytest.approx(now - 120)
    # Dosage: the windows so far were not observed, so they are not a failure at 0 %.
    (row,) = snap["dosage"]
    assert row["compliance"] is None and row["planned_visits"] == 0
    assert row["mostly_unobserved"] is True
    assert row["unobserved_windows"] == row["windows"] >= 1
    assert row["observed_minutes"] == pytest.approx(2.0, abs=0.05)
    (shift,) = snap["dosage_shift"]
    assert shift["observed_minutes"] <= 2.05
    assert store.coverage() == snap  # what the dashboard reads carries the same keys


def test_an_outage_is_no_data_then_a_gap_only_a_full_t_after_it_and_late_data_fills_it(
    redis_url: str,
) -> None:
    settings, store, hotspots = _setup(redis_url)
    now = time.time()
    _pings(store, "Z", now - 4 * 3600, now - 3 * 3600, OUTSIDE)  # up, then an outage
    evaluator = CoverageEvaluator(settings, store, hotspots, Roster.empty())
    evaluator.rebuild(now - 2 * 3600)
    assert evaluator.tick(now - 2 * 3600)["hotspots"]["spot"]["state"] == "no_data"
    _pings(store, "Z", now - 600, now, OUTSIDE)  # back ten minutes ago
    snap = evaluator.tick(now)
    assert snap["hotspots"]["spot"]["state"] == "no_data"  # T = 60: too young to tell
    assert snap["observed_since"] == pytest.approx(now - 600)
    assert store.observed_intervals(0, now + 1000) == [
        (pytest.approx(now - 4 * 3600), pytest.approx(now - 3 * 3600 + 180)),
        (pytest.approx(now - 600), pytest.approx(now + 180)),
    ]
    # A second process takes the lock: rebuilt from stored data, it says the same.
    other = CoverageEvaluator(settings, store, hotspots, Roster.empty())
    other.rebuild(now)
    assert other.observed.intervals() == evaluator.observed.intervals()
    again = other.tick(now)
    assert again["hotspots"]["spot"]["state"] == "no_data"
    # The devices flush their buffers: the outage is filled in backwards, by event time.
    _pings(store, "Z", now - 3 * 3600, now - 600, OUTSIDE)
    late = other.tick(now)
    assert late["observed_since"] == pytest.approx(now - 4 * 3600)
    entry = late["hotspots"]["spot"]
    assert entry["state"] == "gap"  # nobody there in four observed hours
    assert entry["reference"] == pytest.approx(now - 4 * 3600)  # not the unseen window start
    assert entry["gap_since"] == pytest.approx(now - 3 * 3600)
    (gap,) = late["gaps"]
    assert (gap["hotspot"], gap["visits_in_window"], gap["last_presence_end"]) == (
        "spot", 0, None)
    assert len(store.observed_intervals(0, now + 1000)) == 1


def test_a_young_stretch_with_a_unit_inside_is_present_and_its_visit_is_kept(
    redis_url: str,
) -> None:
    settings, store, hotspots = _setup(redis_url)
    now = time.time()
    _pings(store, "A", now - 300, now - 5, INSIDE)
    evaluator = CoverageEvaluator(settings, store, hotspots, Roster.empty())
    evaluator.rebuild(now)
    entry = evaluator.tick(now)["hotspots"]["spot"]
    assert (entry["state"], entry["present_units"]) == ("present", ["A"])
    assert entry["visits_in_window"] == 1 and entry["qualifying_visits_in_window"] == 0
    assert entry["last_presence_end"] == pytest.approx(now - 5)
    assert entry["last_visit_end"] is None  # no qualifying visit: the panel says so


def _at_local(day: datetime, hh: int, mm: int) -> float:
    return day.replace(hour=hh, minute=mm, second=0, microsecond=0).timestamp()


def test_snapshot_dosage_rows_periods_and_predictability_flags(redis_url: str) -> None:
    settings, store, hotspots = _setup(redis_url, around_now=False)
    zone = settings.zone
    now_local = datetime.now(zone).replace(hour=12, minute=0, second=0, microsecond=0)
    now = now_local.timestamp()
    days = [now_local - timedelta(days=k) for k in (3, 2, 1)]
    # Qualifying visits at 09:00-09:15 local three days running: predictable.
    visits = [{"unit": "A", "hotspot": "spot", "start": _at_local(d, 9, 0),
               "end": _at_local(d, 9, 15), "pings": 31} for d in days]
    # And a short one today, which counts as a visit but not a qualifying one.
    visits.append({"unit": "B", "hotspot": "spot", "start": now - 3600,
                   "end": now - 3300, "pings": 11})
    store.apply_visit_delta([], visits)
    # Observed: two days ago from 06:00 to today at noon, as an earlier holder stored it.
    since = _at_local(days[1], 6, 0)
    store.replace_observed_after(0.0, [(since, now + 60)])
    evaluator = CoverageEvaluator(settings, store, hotspots, Roster.empty())
    snap = evaluator.tick(now)
    assert snap["dosage_periods"] == {
        "week": [operation_week_start(now, hotspots, zone), now],
        "shift": [shift_start_before(now, settings.shift_start_times, zone), now],
    }
    (week,) = snap["dosage"]
    observed_min = (now - max(since, snap["dosage_periods"]["week"][0])) / 60.0
    assert week["observed_minutes"] == pytest.approx(observed_min, abs=0.1)
    assert week["visits"] == 4 and week["qualifying_visits"] == 3
    # Windows are local days 00:00-24:00: four were not observed at all, the day before
    # yesterday only from 06:00 (75 %: judged), yesterday and today fully.
    assert week["windows"] == 7 and week["unobserved_windows"] == 4
    assert week["delivered_visits"] == 2  # two days back and yesterday; none yet today
    assert week["compliance"] == pytest.approx(2 / week["planned_visits"])
    assert week["mostly_unobserved"] is True
    (shift,) = snap["dosage_shift"]
    assert shift["unobserved_windows"] == 0 and shift["visits"] == 1
    (flag,) = snap["predictability"]
    assert flag["hotspot"] == "spot" and flag["name"] == "Spot"
    assert flag["days"] == [d.date().isoformat() for d in days]
    assert flag["typical_time"] == "09:00"


def test_statuses_alone_keep_time_observed(redis_url: str) -> None:
    settings, store, hotspots = _setup(redis_url)
    now = time.time()
    evaluator = CoverageEvaluator(settings, store, hotspots, Roster.empty())
    evaluator.rebuild(now)
    store.write_batch(Batch(statuses=[StatusChange("Z", now - 30, Status.ON_PATROL)]))
    snap = evaluator.tick(now)
    assert snap["observed_since"] == pytest.approx(now - 30)


def test_a_rebuild_keeps_observed_time_older_than_its_horizon(redis_url: str) -> None:
    settings, store, hotspots = _setup(redis_url)
    now = time.time()
    # An earlier holder observed the last 30 h; the trails in the 26 h horizon say the same
    # only where positions were kept (here: the last ten minutes).
    store.replace_observed_after(0.0, [(now - 30 * 3600, now - 60)])
    _pings(store, "Z", now - 600, now, OUTSIDE)
    evaluator = CoverageEvaluator(settings, store, hotspots, Roster.empty())
    evaluator.rebuild(now)
    assert store.observed_intervals(0, now + 1000) == [
        (pytest.approx(now - 30 * 3600), pytest.approx(now + 180))]
    assert evaluator.tick(now)["observed_since"] == pytest.approx(now - 30 * 3600)


def test_store_keeps_observed_intervals_by_end(redis_url: str) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    store.replace_observed_after(0.0, [(now - 900, now - 800), (now - 500, now - 400),
                                       (now - 100, now)])
    assert store.observed_intervals(now - 450, now - 50) == [
        (now - 500, now - 400), (now - 100, now)]
    assert store.observed_intervals(now - 400, now - 100) == []  # touching is not overlapping
    # The interval that starts at now - 500 grew and swallowed the next: replace from there.
    store.replace_observed_after(now - 500, [(now - 500, now)])
    assert store.observed_intervals(0, now + 1) == [(now - 900, now - 800), (now - 500, now)]
