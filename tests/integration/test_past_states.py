"""Hotspot states of the past follow late data: a flushed history opens its gaps in replay.

A handheld (or the demo's fleet) publishes hours of its past after the evaluator recorded
those hours as ``no_data``. By event time, like every other rule, the past states are
re-evaluated and replace what was recorded live, so replay shows the gaps and "Next gap
opened" finds them. Real Redis, the change feed as the worker writes it.
"""

from __future__ import annotations

import itertools
import time

import pytest

from dashboard.replay.view import next_event
from ingest.evaluator import CoverageEvaluator
from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tiers import History
from patrolwatch.roster import Roster
from tests.integration.test_evaluator_wiring import INSIDE, OUTSIDE, _pings, _setup

pytestmark = pytest.mark.integration


def _settle(evaluator: CoverageEvaluator, first: float | None = None) -> None:
    """Tick (first at ``first``, else now) until no past states are left to re-evaluate."""
    deadline = time.monotonic() + 60
    evaluator.tick(time.time() if first is None else first)
    while evaluator.past.pending is not None:
        assert time.monotonic() < deadline, "past states still pending"
        evaluator.tick(time.time())


def test_a_late_flush_opens_a_past_gap_in_replay(redis_url: str, tmp_path: object) -> None:
    settings, store, hotspots = _setup(redis_url)  # active from 5 h ago, T = 60 min
    evaluator = CoverageEvaluator(settings, store, hotspots, Roster.empty())
    now = time.time()
    evaluator.rebuild(now)
    evaluator.tick(now)
    history = History(store, ArchiveReader(ArchiveStorage(str(tmp_path))))
    before = history.hotspot_states(now - 4 * 3600, now)
    assert next_event(before, [], now - 4 * 3600, "gap") is None  # nothing known of the past
    # The flush: 4 h ago to 1.5 h ago, away from the hotspot but for one 30-minute visit.
    _pings(store, "Z", now - 4 * 3600, now - 2.5 * 3600, OUTSIDE)
    _pings(store, "Z", now - 2.5 * 3600 + 30, now - 2 * 3600, INSIDE)
    _pings(store, "Z", now - 2 * 3600 + 30, now - 1.5 * 3600, OUTSIDE)
    _settle(evaluator)
    entries = history.hotspot_states(now - 4 * 3600, now)
    spot = {round(t): s["spot"] for t, s, _ in entries if "spot" in s}
    at = lambda hours_ago: spot[max(t for t in spot if t <= now - hours_ago * 3600)]  # noqa: E731
    assert at(3.9) == "no_data"  # observed for minutes only: too young to tell
    assert at(2.6) == "gap"  # observed over T with no visit: the gap the flush revealed
    assert at(2.25) == "present"
    assert at(1.75) == "covered"
    opened = next_event(entries, [], now - 4 * 3600, "gap")
    assert opened is not None and now - 3.1 * 3600 < opened < now - 2.5 * 3600
    assert all(o for t, _, o in entries if now - 3.9 * 3600 < t < now - 1.6 * 3600)


def test_a_flush_stored_before_the_evaluator_started_has_its_past_states(
        redis_url: str, tmp_path: object) -> None:
    """The demo's case: the fleet publishes its past before the evaluator took the lock, so
    the rebuild (not the change feed) takes the flush in; its states are still evaluated."""
    settings, store, hotspots = _setup(redis_url)  # active from 5 h ago, T = 60 min
    now = time.time()
    _pings(store, "Z", now - 4 * 3600, now - 2.5 * 3600, OUTSIDE)
    _pings(store, "Z", now - 2.5 * 3600 + 30, now - 2 * 3600, INSIDE)
    _pings(store, "Z", now - 2 * 3600 + 30, now - 1.5 * 3600, OUTSIDE)
    evaluator = CoverageEvaluator(settings, store, hotspots, Roster.empty())
    evaluator.rebuild(now)
    _settle(evaluator)
    history = History(store, ArchiveReader(ArchiveStorage(str(tmp_path))))
    entries = history.hotspot_states(now - 4 * 3600, now)
    spot = {round(t): s["spot"] for t, s, _ in entries if "spot" in s}
    at = lambda hours_ago: spot[max(t for t in spot if t <= now - hours_ago * 3600)]  # noqa: E731
    assert at(2.6) == "gap"
    assert at(2.25) == "present"
    opened = next_event(entries, [], now - 4 * 3600, "gap")
    assert opened is not None and now - 3.1 * 3600 < opened < now - 2.5 * 3600


def test_a_restart_fills_the_states_of_the_minutes_no_evaluator_ran(
        redis_url: str, tmp_path: object) -> None:
    """States recorded up to a crash stay; the minutes until the next holder are evaluated."""
    settings, store, hotspots = _setup(redis_url)
    now = time.time()
    _pings(store, "Z", now - 3 * 3600, now - 1 * 3600, OUTSIDE)
    first = CoverageEvaluator(settings, store, hotspots, Roster.empty())
    first.rebuild(now - 1.5 * 3600)  # it ran until 1.5 h ago, then died
    first.tick(now - 1.5 * 3600)
    recorded = store.hotspot_states_between(now - 1.5 * 3600, now - 1.5 * 3600)
    second = CoverageEvaluator(settings, store, hotspots, Roster.empty())
    second.rebuild(now)
    assert second.past.pending is not None
    assert second.past.pending[0] == pytest.approx(now - 1.5 * 3600)
    _settle(second)
    entries = store.hotspot_states_between(now - 1.5 * 3600, now)
    assert entries[0] == recorded[0]  # what was recorded before the crash is kept
    minutes = [t for t, _, _ in entries]
    assert max(b - a for a, b in itertools.pairwise(minutes)) <= 60.0


def test_the_states_recorded_live_during_a_flush_are_evaluated_again_up_to_the_tick(
        redis_url: str, tmp_path: object) -> None:
    """A flush's tail: the entry the evaluator recorded 50 s before the late data arrived
    (not 'late' by itself) is re-evaluated too, so one gap stays one gap in the report."""
    settings, store, hotspots = _setup(redis_url)
    now = time.time()
    evaluator = CoverageEvaluator(settings, store, hotspots, Roster.empty())
    evaluator.rebuild(now - 50)
    evaluator.tick(now - 50)  # nothing known yet: recorded as no_data
    recorded = store.hotspot_states_at(now - 50)
    assert recorded is not None and recorded[1]["spot"] == "no_data"
    _pings(store, "Z", now - 3 * 3600, now - 40, OUTSIDE)  # hours away from the hotspot
    _settle(evaluator, now)
    entries = store.hotspot_states_between(now - 2 * 3600 + 60, now - 1)
    assert entries and {s["spot"] for _, s, _ in entries} == {"gap"}
