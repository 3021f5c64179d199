"""The demo shows the job at any hour: the simulated fleet leaves gaps, judged by the real core.

No broker, no waiting: the simulator's clock is driven from three hours before a chosen
moment (the demo's history) to two minutes after it (the start of the live period), and
the coverage core (visits, observed time, hotspot state) judges the result as the evaluator
would. The hotspot file is the demo's: the sample operation, moved to the week of the test
moment (``patrolwatch.demo.operation_today``).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from patrolwatch.core.coverage import evaluate_hotspot
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet
from patrolwatch.core.model import Status, StatusChange
from patrolwatch.core.observed import observed_intervals, stretch_at
from patrolwatch.core.visits import Ping, VisitParams, visits_from_history
from patrolwatch.demo import DEMO_GAPS, HISTORY_H, demo_hotspots, operation_today
from patrolwatch.roster import load_roster
from patrolwatch.settings import Settings
from patrolwatch.sim.fleet import Fleet
from patrolwatch.sim.publisher import (
    HISTORY_INTERVAL_S,
    fleet_specs,
    left_uncovered,
    targets_from_geojson,
)
from patrolwatch.sim.types import PositionReport, StatusReport

ROOT = Path(__file__).resolve().parents[2]
ZONE = ZoneInfo("Europe/London")
STALE_S = 180.0
LIVE_S = 120.0  # "a gap within two minutes of the live period"

# Weekday and Sunday, night, morning, evening; a date past the sample operation's end too.
MOMENTS = [
    datetime(2026, 12, 8, 0, 30, tzinfo=ZONE),   # Tuesday 00:30: the daily windows are young
    datetime(2026, 12, 8, 12, 30, tzinfo=ZONE),  # Tuesday 12:30: so is the noon-to-noon one
    datetime(2026, 12, 8, 3, 0, tzinfo=ZONE),    # Tuesday 03:00
    datetime(2026, 12, 8, 10, 0, tzinfo=ZONE),   # Tuesday 10:00
    datetime(2026, 12, 8, 18, 0, tzinfo=ZONE),   # Tuesday 18:00
    datetime(2026, 12, 13, 3, 0, tzinfo=ZONE),   # Sunday 03:00
    datetime(2026, 12, 13, 10, 0, tzinfo=ZONE),  # Sunday 10:00
    datetime(2026, 12, 13, 18, 0, tzinfo=ZONE),  # Sunday 18:00
    datetime(2027, 6, 16, 14, 30, tzinfo=ZONE),  # a Wednesday months after the operation
]


def hotspots_of(day: date) -> tuple[Any, HotspotSet]:
    raw = json.loads((ROOT / "config/hotspots.geojson").read_text())
    data = demo_hotspots(raw, day)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    return data, HotspotSet.from_features(data["features"],
                                          CoverageDefaults.from_settings(settings), ZONE)


def run_demo_fleet(live: float, data: Any, units: int = 200, seed: int = 7
                   ) -> tuple[list[PositionReport], list[StatusReport]]:
    """Run the fleet as the demo does: 3 h of history at 90 s, then live at 5 s for 2 min."""
    specs = fleet_specs(load_roster(ROOT / "config/units.yaml"), units)
    start = live - HISTORY_H * 3600.0
    fleet = Fleet(specs, targets_from_geojson(data), start=start,
                  interval_s=HISTORY_INTERVAL_S, seed=seed, emergency_every_s=float("inf"),
                  neglect=left_uncovered(data, DEMO_GAPS))
    reports = fleet.advance(live)
    fleet.go_live(live, 5.0)
    reports += fleet.advance(live + LIVE_S)
    return ([r for r in reports if isinstance(r, PositionReport)],
            [r for r in reports if isinstance(r, StatusReport)])


def states_at(now: float, hotspots: HotspotSet, positions: list[PositionReport],
              statuses: list[StatusReport]) -> dict[str, str]:
    """Judge every hotspot at ``now`` from what was sent up to then, as the evaluator does."""
    sent = [p for p in positions if p.ts <= now]
    inside = hotspots.containing_many([p.lat for p in sent], [p.lon for p in sent])
    pings = [Ping(p.unit, p.ts, frozenset(ids), p.acc) for p, ids in zip(sent, inside,
                                                                           strict=True)]
    changes = [StatusChange(s.unit, s.ts, Status(s.status)) for s in statuses if s.ts <= now]
    visits = visits_from_history(pings, changes, VisitParams())
    observed_since = stretch_at(observed_intervals((p.ts for p in sent), STALE_S), now)
    last: dict[str, Ping] = {}
    for ping in pings:
        last[ping.unit] = ping
    out = {}
    for h in hotspots:
        present = {u for u, p in last.items() if h.id in p.inside and now - p.ts <= 120}
        mine = [v for v in visits if v.hotspot == h.id]
        window = h.window_at(datetime.fromtimestamp(now, ZONE), ZONE)
        out[h.id] = evaluate_hotspot(h, window, mine, present, now, observed_since).state
    return out


@pytest.mark.parametrize("moment", MOMENTS, ids=lambda m: m.strftime("%a-%Y%m%d-%H%M"))
def test_the_demo_fleet_leaves_a_gap_in_history_and_in_the_first_two_live_minutes(
        moment: datetime) -> None:
    data, hotspots = hotspots_of(moment.date())
    live = moment.timestamp()
    positions, statuses = run_demo_fleet(live, data)

    # A unit crossing the hotspot makes it "present" for a minute: a gap at some moment of
    # the first two live minutes, and of the history's last hour, is what the demo shows.
    live_states = [states_at(live + dt, hotspots, positions, statuses)
                   for dt in range(0, int(LIVE_S) + 1, 60)]
    assert any(s != "inactive" for s in live_states[0].values()), f"nothing active at {moment}"
    assert any("gap" in s.values() for s in live_states), (
        f"no gap within {LIVE_S:.0f} s of the live period at {moment}: {live_states[-1]}")
    history = [states_at(live - dt, hotspots, positions, statuses)
               for dt in range(600, 3601, 600)]
    assert any("gap" in s.values() for s in history), f"no gap in the history at {moment}"


def test_the_uncovered_hotspots_are_always_active_and_never_all() -> None:
    data, hotspots = hotspots_of(date(2026, 12, 8))
    chosen = left_uncovered(data, DEMO_GAPS)
    assert len(chosen) == DEMO_GAPS
    for h in chosen:  # active every day
        assert all(len(rule.days) == 7 for rule in hotspots.by_id[h].schedule), chosen
    one = {"features": [{"properties": {"id": "a"}}]}
    assert left_uncovered(one, 5) == []  # the only hotspot is still patrolled
    assert left_uncovered(data, 0) == []


def test_the_demo_moves_the_sample_operation_to_the_week_of_the_run() -> None:
    raw = json.loads((ROOT / "config/hotspots.geojson").read_text())
    assert operation_today(raw, date(2026, 12, 8)) is raw  # inside the operation: unchanged
    later = operation_today(raw, date(2027, 6, 16))
    props = later["features"][0]["properties"]
    start, end = date.fromisoformat(props["valid_from"]), date.fromisoformat(props["valid_to"])
    assert start <= date(2027, 6, 16) <= end
    first = date.fromisoformat(raw["features"][0]["properties"]["valid_from"])
    assert (start - first).days % 7 == 0  # whole weeks: schedules keep their weekdays
