"""`patrolwatch bench coverage`: one coverage evaluation of 10,000 units against 1,000 hotspots.

Builds 1,000 synthetic hotspots around central London (150 m squares and 150 m-radius points,
a third of them on night-time-economy schedules), and a fleet of 10,000 units of which a
third patrol inside hotspots and the rest move about the area, 10% of them off duty or
committed. Ten minutes of 30 s pings (200,000 positions) go through ``VisitEngine.add`` one
step at a time to build visits and to measure the incremental cost per position. Then each
evaluation tick does what the coverage evaluator does:

- ``classify_ms``: tag 10,000 fresh positions with ``HotspotSet.containing_many``;
- ``feed_ms``: ``VisitEngine.add`` those 10,000 pings, and their event times into
  ``ObservedTime``;
- ``states_ms``: for all 1,000 hotspots, the active window (``WindowCache``), the engine's
  visits and present units, and ``evaluate_hotspot``; then ``gaps``.

``eval_ms`` is the median over the ticks of classify + feed + states (target <= 30 ms,
issue 20); ``*_ms_min`` the fastest tick; ``*_cpu_ms`` the same stages in CPU time, which
other processes on a shared machine disturb least.
"""

from __future__ import annotations

import math
import random
import resource
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from patrolwatch.core.coverage import HotspotCoverage, WindowCache, evaluate_hotspot, gaps
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet
from patrolwatch.core.model import Status, StatusChange
from patrolwatch.core.observed import ObservedTime
from patrolwatch.core.visit_engine import VisitEngine
from patrolwatch.core.visits import Ping, VisitParams
from patrolwatch.settings import Settings

UNITS = 10_000
HOTSPOTS = 1_000
HISTORY_STEPS = 20  # 30 s apart: ten minutes of pings before the measured ticks
TICKS = 9
STEP_S = 30.0
SIDE_M = 150.0
AREA_KM = 24.0  # hotspots and units spread over a square this wide
M_PER_DEG_LAT = 111_195.0
START = datetime(2024, 12, 6, 21, 0, tzinfo=UTC)  # a Friday night: the NTE windows are open


def _features(rng: random.Random, lat0: float, lon0: float) -> list[dict[str, Any]]:
    """Return HOTSPOTS synthetic GeoJSON features around (lat0, lon0)."""
    m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(lat0))
    half = AREA_KM * 500.0
    out = []
    for i in range(HOTSPOTS):
        lat = lat0 + rng.uniform(-half, half) / M_PER_DEG_LAT
        lon = lon0 + rng.uniform(-half, half) / m_per_deg_lon
        props: dict[str, Any] = {"id": f"bench-{i:04d}", "name": f"Bench hotspot {i}",
                                 "category": "other", "priority": 1 + i % 3}
        if i % 3 == 0:
            props["category"] = "night_time_economy"
            props["schedule"] = [{"days": ["thu", "fri", "sat"], "start": "20:00",
                                  "end": "04:00"}]
        if i % 5 == 0:
            props["radius_m"] = SIDE_M
            geometry: dict[str, Any] = {"type": "Point", "coordinates": [lon, lat]}
        else:
            dlat, dlon = SIDE_M / 2 / M_PER_DEG_LAT, SIDE_M / 2 / m_per_deg_lon
            ring = [[lon - dlon, lat - dlat], [lon + dlon, lat - dlat], [lon + dlon, lat + dlat],
                    [lon - dlon, lat + dlat], [lon - dlon, lat - dlat]]
            geometry = {"type": "Polygon", "coordinates": [ring]}
        out.append({"type": "Feature", "geometry": geometry, "properties": props})
    return out


class _Fleet:
    """Unit positions: a third hold a spot inside a hotspot, the rest wander."""

    def __init__(self, rng: np.random.Generator, hotspots: HotspotSet) -> None:
        self.rng = rng
        self.ids = [f"B{i:05d}" for i in range(UNITS)]
        centres = np.array([h.centroid for h in hotspots])
        lat0, lon0 = centres.mean(axis=0)
        self.m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(lat0))
        self.lat = lat0 + rng.uniform(-1, 1, UNITS) * AREA_KM * 500 / M_PER_DEG_LAT
        self.lon = lon0 + rng.uniform(-1, 1, UNITS) * AREA_KM * 500 / self.m_per_deg_lon
        posted = rng.random(UNITS) < 1 / 3
        spot = centres[rng.integers(0, len(centres), UNITS)]
        self.lat = np.where(posted, spot[:, 0], self.lat)
        self.lon = np.where(posted, spot[:, 1], self.lon)
        self.posted = posted

    def step(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the next positions: 40 m jitter on post, a 40 m/s-scale walk elsewhere."""
        sd = np.where(self.posted, 20.0, 40.0)
        lat = self.lat + self.rng.normal(0, 1, UNITS) * sd / M_PER_DEG_LAT
        lon = self.lon + self.rng.normal(0, 1, UNITS) * sd / self.m_per_deg_lon
        self.lat = np.where(self.posted, self.lat, lat)
        self.lon = np.where(self.posted, self.lon, lon)
        return lat, lon


def _pings(fleet: _Fleet, hotspots: HotspotSet, ts: float, cpu: list[float] | None = None
           ) -> tuple[list[Ping], float]:
    """Return one step of pings and the milliseconds spent classifying them.

    ``cpu`` gets the classification's CPU milliseconds (``time.process_time``) appended.
    """
    lat, lon = fleet.step()
    began, cpu_began = time.perf_counter(), time.process_time()
    inside = hotspots.containing_many(lat, lon)
    classify_ms = (time.perf_counter() - began) * 1000
    if cpu is not None:
        cpu.append((time.process_time() - cpu_began) * 1000)
    acc = 5.0
    sets: dict[tuple[str, ...], frozenset[str]] = {}  # as the evaluator's _classify shares them
    pings = [Ping(uid, ts, sets.get(ids) or sets.setdefault(ids, frozenset(ids)), acc)
             for uid, ids in zip(fleet.ids, inside, strict=True)]
    return pings, classify_ms


def _evaluate(
    hotspots: HotspotSet, engine: VisitEngine, windows: WindowCache, settings: Settings,
    now: float, observed: ObservedTime,
) -> list[HotspotCoverage]:
    present = engine.present_by_hotspot(now)
    nobody: set[str] = set()
    since = observed.observed_since(now)
    return [
        evaluate_hotspot(h, windows.window_at(h, now), engine.hotspot_visits(h.id),
                         present.get(h.id, nobody), now, since, settings.due_warning_minutes)
        for h in hotspots
    ]


def run(settings: Settings) -> dict[str, float]:
    """Run the benchmark; return its figures (milliseconds, microseconds, counts)."""
    rng = random.Random(20241206)
    features = _features(rng, settings.map_center_lat, settings.map_center_lon)
    hotspots = HotspotSet.from_features(features, CoverageDefaults.from_settings(settings),
                                        settings.zone, "bench")
    fleet = _Fleet(np.random.default_rng(20241206), hotspots)
    engine = VisitEngine(VisitParams(settings.visit_gap_s, settings.visit_grace_s,
                                     settings.max_presence_acc_m))
    t0 = START.timestamp()
    statuses = [StatusChange(uid, t0 - 3600, Status.OFF_DUTY if i % 20 == 0 else
                             Status.COMMITTED if i % 20 == 1 else Status.ON_PATROL)
                for i, uid in enumerate(fleet.ids)]
    engine.add(statuses=statuses)
    observed = ObservedTime(settings.stale_after_s)
    # The feed has been up for hours: the states measured are those of a running system.
    observed.add([t0 - 6 * 3600.0 + k * STEP_S for k in range(int(6 * 3600 / STEP_S))])
    fed = 0
    feed_s = 0.0
    for step in range(HISTORY_STEPS):
        pings, _ = _pings(fleet, hotspots, t0 + step * STEP_S)
        began = time.perf_counter()
        engine.add(pings)
        observed.add([p.ts for p in pings])
        feed_s += time.perf_counter() - began
        fed += len(pings)
    windows = WindowCache(settings.zone)
    classify, feed, states, total = [], [], [], []
    cpu_classify: list[float] = []
    cpu_feed, cpu_states, cpu_total = [], [], []
    coverages: list[HotspotCoverage] = []
    for tick in range(TICKS):
        now = t0 + (HISTORY_STEPS + tick) * STEP_S
        pings, classify_ms = _pings(fleet, hotspots, now, cpu_classify)
        began, cpu_began = time.perf_counter(), time.process_time()
        engine.add(pings)
        observed.add([p.ts for p in pings])
        fed_at, cpu_fed_at = time.perf_counter(), time.process_time()
        coverages = _evaluate(hotspots, engine, windows, settings, now, observed)
        gaps(coverages, hotspots.by_id)
        done, cpu_done = time.perf_counter(), time.process_time()
        classify.append(classify_ms)
        feed.append((fed_at - began) * 1000)
        states.append((done - fed_at) * 1000)
        total.append(classify_ms + (done - began) * 1000)
        cpu_feed.append((cpu_fed_at - cpu_began) * 1000)
        cpu_states.append((cpu_done - cpu_fed_at) * 1000)
        cpu_total.append(cpu_classify[-1] + (cpu_done - cpu_began) * 1000)
    by_state = {s: sum(1 for c in coverages if c.state == s)
                for s in ("present", "covered", "due", "gap", "inactive", "no_data")}
    return {
        "units": float(UNITS),
        "hotspots": float(HOTSPOTS),
        "eval_ms": statistics.median(total),
        "classify_ms": statistics.median(classify),
        "feed_ms": statistics.median(feed),
        "states_ms": statistics.median(states),
        # The fastest tick: on a shared machine the figure other processes disturb least.
        "eval_ms_min": min(total),
        "feed_ms_min": min(feed),
        "states_ms_min": min(states),
        # CPU time of the tick (time.process_time): what other processes on a shared
        # machine disturb least; wall time above includes waiting for a core.
        "eval_cpu_ms": statistics.median(cpu_total),
        "eval_cpu_ms_min": min(cpu_total),
        "classify_cpu_ms": statistics.median(cpu_classify),
        "feed_cpu_ms": statistics.median(cpu_feed),
        "states_cpu_ms": statistics.median(cpu_states),
        "us_per_position": feed_s / fed * 1e6,
        "positions_fed": float(fed),
        "visits": float(len(engine.visits())),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        **{f"hotspots_{k}": float(v) for k, v in by_state.items()},
    }
