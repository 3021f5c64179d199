"""Synthetic archive for ``bench history``: a week of a force's positions written straight to
Parquet (the archiver's own tables and layout), fast enough for a shared machine.

Each unit walks at foot pace around a beat centre across central London (the beats of the
earlier history bench: denser in the middle), one fix every ``every_s`` seconds with jitter;
every contract column is filled (``speed``, ``heading``, ``battery``, ``source``). Per hour:
one positions file and its unit-hour index, as ``Archiver._positions`` writes them. Per day:
statuses (on patrol, a refreshment break, on patrol). Hotspot states once a minute, and a
few visits per hotspot per hour in Redis (the evaluator's), for the report and presence.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow as pa

from patrolwatch.archive import layout
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tables import (
    LAT_TYPE,
    LON_TYPE,
    PARQUET_OPTIONS,
    POSITION_SCHEMA,
    STATE_SCHEMA,
    STATUS_SCHEMA,
    _decimals,
    _micros,
    spatial_order,
    unit_hours_table,
)
from patrolwatch.core.hotspots import HotspotSet
from patrolwatch.store import K_SEEN, Store, k_status_log

Array = np.ndarray[Any, Any]


def fleet_homes(units: int, seed: int = 11) -> tuple[Array, Array]:
    """Return each unit's beat centre: around central London, denser in the middle."""
    rng = np.random.default_rng(seed)
    return 51.507 + rng.normal(0, 0.03, units), -0.128 + rng.normal(0, 0.05, units)


class Fleet:
    """The walking fleet: its ids, beats and where each unit is now."""

    def __init__(self, units: int, every_s: float, seed: int = 5) -> None:
        self.ids = [f"H{i:05d}" for i in range(units)]
        self.home_lat, self.home_lon = fleet_homes(units)
        self.lat, self.lon = self.home_lat.copy(), self.home_lon.copy()
        self.every_s = every_s
        self.rng = np.random.default_rng(seed)
        self.unit_dict = pa.array(self.ids, pa.string())

    def hour(self, start: float) -> pa.Table:
        """Return one hour of every unit's fixes as a positions table sorted by unit, ts."""
        n, u = int(3600 / self.every_s), len(self.ids)
        rng = self.rng
        step = self.every_s * 1.4 / 111_320.0  # walking pace, in degrees of latitude
        lats = self.lat[:, None] + np.cumsum(rng.normal(0, step / 1.6, (u, n)), axis=1)
        lons = self.lon[:, None] + np.cumsum(rng.normal(0, step / 1.0, (u, n)), axis=1)
        lats += (self.home_lat[:, None] - lats) * 0.05
        lons += (self.home_lon[:, None] - lons) * 0.05
        self.lat, self.lon = lats[:, -1], lons[:, -1]
        ts = start + np.arange(n)[None, :] * self.every_s + rng.uniform(0, 0.999, (u, n))
        rows = u * n
        idx = pa.array(np.repeat(np.arange(u, dtype=np.int32), n))
        return spatial_order(pa.Table.from_arrays([
            pa.DictionaryArray.from_arrays(idx, self.unit_dict),
            _micros(np.round(ts, 3).ravel()),
            _decimals(np.round(lats, 6).ravel(), LAT_TYPE),
            _decimals(np.round(lons, 6).ravel(), LON_TYPE),
            pa.array(rng.choice(np.array([5.0, 8.0, 12.0, 20.0]), rows)),
            pa.array(np.round(rng.uniform(0.8, 1.8, rows), 1)),
            pa.array(np.round(rng.uniform(0, 360, rows))),
            pa.array(np.repeat(np.round(np.linspace(100, 20, u) % 80 + 20), n).astype(float)),
            pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)),
                                           pa.array(["native"])),
        ], schema=POSITION_SCHEMA))


def _name(start: float, parts: list[bytes]) -> str:
    return layout.file_name(start, hashlib.blake2b(b"".join(parts), digest_size=16).hexdigest())


def write_hour(storage: ArchiveStorage, fleet: Fleet, start: float) -> tuple[int, int]:
    """Write one hour's positions and unit-hour index; return (points, bytes)."""
    table = fleet.hour(start)
    name = _name(start, [repr(start).encode(), b"positions"])
    day = layout.day_of(start)
    size = storage.write_parquet(f"{layout.day_dir(layout.POSITIONS, day)}/{name}", table,
                                 **PARQUET_OPTIONS[layout.POSITIONS])
    storage.write_parquet(f"{layout.day_dir(layout.UNIT_HOURS, day)}/{name}",
                          unit_hours_table(table, start), **PARQUET_OPTIONS[layout.UNIT_HOURS])
    return table.num_rows, size


def write_day_statuses(storage: ArchiveStorage, ids: list[str], day: float) -> None:
    """Write a day's statuses: on patrol, a refreshment break at noon, on patrol again."""
    marks = [(day, "ON_PATROL"), (day + 43_200.0, "REFRESHMENT"), (day + 45_000.0, "ON_PATROL")]
    units = [u for u in ids for _ in marks]
    table = pa.Table.from_arrays([
        pa.array(units, pa.string()),
        _micros(np.array([t for _ in ids for t, _ in marks], float)),
        pa.array([s for _ in ids for _, s in marks], pa.string()),
        pa.nulls(len(units), pa.string())], schema=STATUS_SCHEMA)
    storage.write_parquet(f"{layout.day_dir(layout.STATUSES, layout.day_of(day))}/"
                          f"{_name(day, [repr(day).encode(), b'statuses'])}", table,
                          **PARQUET_OPTIONS[layout.STATUSES])


def write_hour_states(storage: ArchiveStorage, hotspots: HotspotSet, start: float) -> None:
    """Write an hour of hotspot states, once a minute: mostly covered, now and then a gap."""
    ids = [h.id for h in hotspots]
    ts, hs, st = [], [], []
    for minute in range(60):
        t = start + minute * 60.0
        for k, h in enumerate(ids):
            ts.append(t)
            hs.append(h)
            st.append("gap" if (minute // 10 + k + int(start // 3600)) % 17 == 0 else "covered")
    table = pa.Table.from_arrays([_micros(np.array(ts)), pa.array(hs, pa.string()),
                                  pa.array(st, pa.string()),
                                  pa.array(np.ones(len(ts), bool))], schema=STATE_SCHEMA)
    storage.write_parquet(f"{layout.day_dir(layout.HOTSPOT_STATES, layout.day_of(start))}/"
                          f"{_name(start, [repr(start).encode(), b'states'])}", table,
                          **PARQUET_OPTIONS[layout.HOTSPOT_STATES])


def seed_redis(store: Store, fleet: Fleet, hotspots: HotspotSet, since: float,
               until: float) -> int:
    """Make Redis what it is after the archiver ran: units seen, each one's newest status
    kept, the archive mark at ``until``, and the evaluator's visits; return the visits."""
    pipe = store.r.pipeline(transaction=False)
    for unit in fleet.ids:
        pipe.zadd(K_SEEN, {unit: until})
        last = until - until % 86_400.0 + 45_000.0
        last = last if last < until else last - 86_400.0
        pipe.zadd(k_status_log(unit), {f"{last!r}|ON_PATROL": last})
    pipe.execute()
    store.mark_archived_until(until)
    rng = np.random.default_rng(3)
    visits = []
    for h in hotspots:
        t = since
        while t < until:
            start = t + float(rng.uniform(0, 1800))
            visits.append({"unit": fleet.ids[int(rng.integers(len(fleet.ids)))],
                           "hotspot": h.id, "start": start,
                           "end": start + float(rng.uniform(60, 1500)), "pings": 20})
            t += 3600.0 / 4
    for k in range(0, len(visits), 5000):
        store.apply_visit_delta([], visits[k:k + 5000])
    return len(visits)
