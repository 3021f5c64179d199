"""Outcomes: a crimes CSV (``time, lat, lon, category, harm``) counted per place and day (pure).

``time`` is RFC 3339 or ISO 8601 (a time without zone is local, ``PATROL_TZ``); ``harm`` a
weight such as the Cambridge Crime Harm Index days (blank: 1). An event counts for a place on
the local day it happened (the whole day, not only the dose window): inside the place, or in
its buffer ring. Rows that cannot be read are reported, ``file:line N: reason``.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path

import numpy as np

from patrolwatch.core.hotspots import HotspotSet
from patrolwatch.errors import ConfigError, problem
from patrolwatch.experiments.rings import in_rings, ring_id

COLUMNS = ("time", "lat", "lon", "category", "harm")


@dataclass(frozen=True)
class Crime:
    """One recorded event."""

    ts: float
    lat: float
    lon: float
    category: str
    harm: float


def _time(text: str, tz: tzinfo) -> float:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def read_crimes(path: Path, tz: tzinfo) -> list[Crime]:
    """Read a crimes CSV; raise ConfigError naming every bad row."""
    problems: list[str] = []
    out: list[Crime] = []
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("time", "lat", "lon") if c not in (reader.fieldnames or [])]
            if missing:
                raise ConfigError([problem(path, "header", f"missing columns {missing}: "
                                                           f"expected {', '.join(COLUMNS)}")])
            for n, row in enumerate(reader, start=2):
                try:
                    lat, lon = float(row["lat"]), float(row["lon"])
                    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                        raise ValueError("lat/lon out of range")
                    harm = float(row.get("harm") or 1.0)
                    out.append(Crime(_time(row["time"], tz), lat, lon,
                                     (row.get("category") or "").strip(), harm))
                except (ValueError, TypeError) as exc:
                    problems.append(problem(path, f"line {n}", str(exc)))
    except OSError as exc:
        raise ConfigError([problem(path, "crimes", f"cannot read: {exc.strerror}")]) from None
    if problems:
        raise ConfigError(problems)
    return out


@dataclass(frozen=True)
class Tally:
    """Events and harm of one place-day, inside and in the buffer ring."""

    events: int = 0
    harm: float = 0.0
    buffer_events: int = 0
    buffer_harm: float = 0.0


def tally(crimes: Sequence[Crime], places: HotspotSet, ids: Sequence[str], buffer_m: float,
          tz: tzinfo) -> dict[tuple[str, date], Tally]:
    """Return events and harm per (place, local day) inside each place and in its ring."""
    if not crimes:
        return {}
    lats = np.array([c.lat for c in crimes], float)
    lons = np.array([c.lon for c in crimes], float)
    inside = places.containing_many(lats, lons)
    rings = in_rings(places, ids, lats, lons, buffer_m)
    acc: dict[tuple[str, date], list[float]] = defaultdict(lambda: [0, 0.0, 0, 0.0])
    wanted = set(ids)
    for c, here, ring in zip(crimes, inside, rings, strict=True):
        day = datetime.fromtimestamp(c.ts, tz).date()
        for h in here:
            if h in wanted:
                acc[(h, day)][0] += 1
                acc[(h, day)][1] += c.harm
        for h in ids:
            if ring_id(h) in ring:
                acc[(h, day)][2] += 1
                acc[(h, day)][3] += c.harm
    return {k: Tally(int(v[0]), v[1], int(v[2]), v[3]) for k, v in acc.items()}
