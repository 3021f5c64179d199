"""A realistic control-room state for browser tests: a fleet around the shipped hotspots.

Everything goes into a real Redis through ``Store.write_batch`` / ``Store.write_coverage``,
exactly as the ingest worker and the coverage evaluator put it there.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet, load_hotspots
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.roster import Roster, load_roster
from patrolwatch.store import Batch
from patrolwatch.users import Role, User, hash_password, save_users

ROOT = Path(__file__).resolve().parents[2]
HOTSPOTS = ROOT / "config/hotspots.geojson"
UNITS = ROOT / "config/units.yaml"
ZONE = ZoneInfo("Europe/London")
PASSWORD = "browser-test-password"

# What a busy evening looks like: most units patrolling, a few committed to incidents.
STATUS_MIX = (
    (Status.ON_PATROL, 52), (Status.AVAILABLE, 18), (Status.EN_ROUTE, 8), (Status.AT_SCENE, 8),
    (Status.COMMITTED, 7), (Status.REFRESHMENT, 5), (Status.OFF_DUTY, 2),
)


def hotspot_set() -> HotspotSet:
    """Load the shipped hotspot file."""
    return load_hotspots(HOTSPOTS, CoverageDefaults(), ZONE)


def roster() -> Roster:
    """Load the shipped roster."""
    return load_roster(UNITS)


def offset(lat: float, lon: float, metres: float, bearing_deg: float) -> tuple[float, float]:
    """Return the point ``metres`` from (lat, lon) on a bearing (flat earth: fine at 1 km)."""
    b = math.radians(bearing_deg)
    dlat = metres * math.cos(b) / 111_320.0
    dlon = metres * math.sin(b) / (111_320.0 * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


@dataclass(frozen=True)
class Fleet:
    """The seeded state and the facts a test checks against."""

    batch: Batch
    unit_ids: list[str]
    emergency: str
    stale: str
    off_duty: list[str]
    by_status: dict[Status, int]


def fleet(hotspots: HotspotSet, unit_ids: list[str], now: float, seed: int = 7,
          stale_after_s: float = 180.0) -> Fleet:
    """Return a batch placing units near hotspots: one EMERGENCY, one silent (lost contact)."""
    rng = random.Random(seed)
    statuses = [s for s, weight in STATUS_MIX for _ in range(weight)]
    spots = list(hotspots.hotspots)
    batch = Batch()
    emergency, stale = unit_ids[0], unit_ids[1]
    by_status: dict[Status, int] = {}
    off_duty: list[str] = []
    for i, unit in enumerate(unit_ids):
        spot = spots[i % len(spots)]
        lat, lon = offset(*spot.centroid, rng.uniform(0, 700), rng.uniform(0, 360))
        status = (Status.EMERGENCY if unit == emergency
                  else Status.ON_PATROL if unit == stale else rng.choice(statuses))
        ts = now - (stale_after_s + 240 if unit == stale else rng.uniform(0, 20))
        batch.positions.append(Position(unit, ts, round(lat, 6), round(lon, 6), acc=8.0))
        batch.statuses.append(StatusChange(unit, ts - 600, status))
        by_status[status] = by_status.get(status, 0) + 1
        if status is Status.OFF_DUTY:
            off_duty.append(unit)
    return Fleet(batch, unit_ids, emergency, stale, off_duty, by_status)


def coverage_snapshot(hotspots: HotspotSet, now: float, gap_ids: list[str], *,
                      present: dict[str, list[str]] | None = None,
                      due_ids: list[str] | None = None, inactive_ids: list[str] | None = None,
                      suggestions: list[str] | None = None) -> dict[str, Any]:
    """Return an evaluator-shaped snapshot: the given gaps, due and present hotspots."""
    present = present or {}
    due_ids = due_ids or []
    inactive_ids = inactive_ids or []
    entries: dict[str, Any] = {}
    gaps: list[dict[str, Any]] = []
    dosage: list[dict[str, Any]] = []
    window_start = now - 3 * 3600
    for i, h in enumerate(hotspots.hotspots):
        state = ("gap" if h.id in gap_ids else "due" if h.id in due_ids
                 else "present" if h.id in present else "inactive" if h.id in inactive_ids
                 else "covered")
        last_end = {"gap": now - h.max_gap_minutes * 60 - 25 * 60,
                    "due": now - (h.max_gap_minutes - 10) * 60}.get(state, now - 20 * 60)
        since = last_end + h.max_gap_minutes * 60  # a presence gap opens T after the reference
        overdue = (now - since) / 60 if state == "gap" else 0.0
        entries[h.id] = {
            "id": h.id, "active": state != "inactive", "state": state,
            "gap_kind": "presence_gap" if state == "gap" else None,
            "gap_since": since if state == "gap" else None, "overdue_minutes": overdue,
            "window_start": None if state == "inactive" else window_start,
            "window_end": None if state == "inactive" else now + 3600,
            "last_visit_end": last_end, "reference": last_end,
            "visits_in_window": 3 + i % 4, "qualifying_visits_in_window": 1 + i % 3,
            "patrol_minutes_in_window": 24.0 + 7 * (i % 5),
            "officer_minutes_in_window": 41.0 + 9 * (i % 5),
            "present_units": present.get(h.id, []),
            "target_minutes": h.min_visit_minutes, "max_gap_minutes": h.max_gap_minutes,
        }
        if state == "gap":
            lat, lon = h.centroid
            gaps.append({
                "hotspot": h.id, "name": h.name, "kind": "presence_gap", "since": since,
                "priority": h.priority, "overdue_minutes": overdue, "lat": lat, "lon": lon,
                "suggested_units": [
                    {"id": u, "distance_m": 420.0 + 310 * k + 90 * len(gaps),
                     "eta_s": 300.0 + 220 * k + 65 * len(gaps)}
                    for k, u in enumerate((suggestions or [])[2 * len(gaps):2 * len(gaps) + 2])],
            })
        planned = 4 + i % 3
        qualifying = max(0, planned - i % 4)
        dosage.append({
            "hotspot": h.id, "name": h.name, "category": h.category, "windows": 2 + i % 2,
            "qualifying_visits": qualifying, "planned_visits": planned,
            "patrol_minutes": 38.0 + 11 * (i % 6), "officer_minutes": 60.0 + 17 * (i % 6),
            "compliance": qualifying / planned,
        })
    shift = [{**d, "planned_visits": 1 + i % 2, "qualifying_visits": i % 2,
              "delivered_visits": i % 2, "compliance": (i % 2) / (1 + i % 2),
              "patrol_minutes": 12.0 + i, "officer_minutes": 15.0 + i}
             for i, d in enumerate(dosage)]
    return {"evaluated_at": now, "feed_fresh": True, "hotspots": entries, "gaps": gaps,
            "dosage": dosage, "dosage_shift": shift,
            "dosage_periods": {"week": [now - 3 * 86400, now], "shift": [now - 4 * 3600, now]},
            "predictability": []}


def write_users(path: Path, *users: tuple[str, Role, str | None]) -> Path:
    """Write a users file (name, role, unit) sharing one password; cheap hashes for tests."""
    save_users(path, {name: User(name, role, hash_password(PASSWORD, rounds=4), unit)
                      for name, role, unit in users})
    return path
