"""Redis memory per unit of live state, per trail point, per change-feed entry.

Writes through ``Store.write_batch`` exactly as the ingest worker does, into a fresh Redis,
then asks Redis for each key family's size (``MEMORY USAGE key SAMPLES 0``: every element
counted). Trails are measured in both of Redis's sorted-set encodings: a short trail
(at most 128 points: a compact listpack) and a long one (a skiplist, which is what a unit
reporting every 5 s for 31 days holds). The 31-day projection uses the long-trail figure.

Run it with ``python -m patrolwatch.bench.memory [--json]``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterable
from typing import Any

from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.servers import redis_server, tempdir
from patrolwatch.store import (
    K_FEED,
    K_GEO,
    K_POS,
    K_POS_TS,
    K_SEEN,
    K_STATUS,
    K_STATUS_TS,
    Batch,
    Store,
    k_status_log,
    k_trail,
    k_trail_extras,
)

LIVE_UNITS = 10_000
SHORT_TRAIL_UNITS, SHORT_TRAIL_POINTS = 2_000, 100  # listpack: <= 128 members
LONG_TRAIL_UNITS, LONG_TRAIL_POINTS = 20, 10_000  # skiplist: what 31 days of trail is
BATCH = 1_000
LIVE_KEYS = (K_POS, K_POS_TS, K_GEO, K_STATUS, K_STATUS_TS, K_SEEN)
DAYS = 31
REPORT_EVERY_S = 5.0


def memory_of(store: Store, keys: Iterable[str]) -> int:
    """Return the bytes Redis holds for these keys, every element counted."""
    pipe = store.r.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    return sum(int(b or 0) for b in pipe.execute())


def used_memory(store: Store) -> int:
    """Return Redis's used_memory in bytes."""
    return int(store.r.info("memory")["used_memory"])


def write_trails(store: Store, units: list[str], points: int, now: float, seed: int) -> None:
    """Write ``points`` distinct positions per unit, in batches like the worker's."""
    rng = random.Random(seed)
    pending: list[Position] = []
    for k in range(points):
        for uid in units:
            ts = now - (points - k) * REPORT_EVERY_S + rng.random()
            pending.append(Position(uid, round(ts, 3), round(51.5 + rng.gauss(0, 0.05), 6),
                                    round(-0.12 + rng.gauss(0, 0.08), 6), acc=6.0,
                                    speed=round(rng.uniform(0, 2), 1),
                                    heading=float(rng.randrange(360)), battery=80.0))
            if len(pending) >= BATCH:
                store.write_batch(Batch(positions=pending), now=now)
                pending = []
    if pending:
        store.write_batch(Batch(positions=pending), now=now)


def live_state(store: Store, now: float) -> dict[str, float]:
    """Write one position and one status per unit; return bytes per unit by key family."""
    units = [f"M{i:05d}" for i in range(LIVE_UNITS)]
    before = used_memory(store)
    rng = random.Random(1)
    for start in range(0, LIVE_UNITS, BATCH):
        chunk = units[start:start + BATCH]
        store.write_batch(Batch(
            positions=[Position(u, now - rng.uniform(0, 5), round(51.5 + rng.gauss(0, 0.05), 6),
                                round(-0.12 + rng.gauss(0, 0.08), 6), acc=6.0, speed=1.2,
                                battery=80.0, seq=7) for u in chunk],
            statuses=[StatusChange(u, now - 600, Status.ON_PATROL) for u in chunk]), now=now)
    live = memory_of(store, LIVE_KEYS)
    status_logs = memory_of(store, (k_status_log(u) for u in units))
    feed = memory_of(store, [K_FEED])
    entries = int(store.r.xlen(K_FEED))
    return {
        "live_bytes_per_unit": round(live / LIVE_UNITS, 1),
        **{f"live_bytes_per_unit_{k.rsplit(':', 1)[1]}": round(memory_of(store, [k]) / LIVE_UNITS,
                                                                 1) for k in LIVE_KEYS},
        "status_log_bytes_per_change_short": round(status_logs / LIVE_UNITS, 1),
        "feed_bytes_per_entry": round(feed / entries, 1),
        "used_memory_bytes_per_unit_all_keys": round((used_memory(store) - before) / LIVE_UNITS,
                                                     1),
    }


def _extras_keys(store: Store, unit: str) -> list[str]:
    """Return the keys of a unit's trail extras buckets."""
    pattern = k_trail_extras(unit, 0).rsplit(":", 1)[0] + ":*"
    return [k.decode() if isinstance(k, bytes) else k
            for k in store.r.scan_iter(match=pattern, count=1000)]


def trails(store: Store, now: float) -> dict[str, Any]:
    """Return bytes per trail point for short (listpack) and long (skiplist) trails."""
    short = [f"T{i:05d}" for i in range(SHORT_TRAIL_UNITS)]
    write_trails(store, short, SHORT_TRAIL_POINTS, now, seed=2)
    long = [f"L{i:03d}" for i in range(LONG_TRAIL_UNITS)]
    write_trails(store, long, LONG_TRAIL_POINTS, now, seed=3)
    encoding = store.r.object("encoding", k_trail(long[0]))
    short_bytes = memory_of(store, (k_trail(u) for u in short))
    long_bytes = memory_of(store, (k_trail(u) for u in long))
    # Each point's speed, heading, battery and source, kept beside the trail for the archive.
    short_x = memory_of(store, (k for u in short for k in _extras_keys(store, u)))
    long_x = memory_of(store, (k for u in long for k in _extras_keys(store, u)))
    return {
        "extras_bytes_per_point_short": round(short_x / (len(short) * SHORT_TRAIL_POINTS), 1),
        "extras_bytes_per_point_long": round(long_x / (len(long) * LONG_TRAIL_POINTS), 1),
        "trail_bytes_per_point_short": round(short_bytes / (len(short) * SHORT_TRAIL_POINTS), 1),
        "trail_bytes_per_point_long": round(long_bytes / (len(long) * LONG_TRAIL_POINTS), 1),
        "long_trail_encoding": encoding.decode() if isinstance(encoding, bytes) else str(encoding),
    }


def projection(figures: dict[str, Any], units: int = 10_000,
               every_s: float = REPORT_EVERY_S) -> dict[str, float]:
    """Return the memory a fleet needs: live state, 31 days of trails, a full change feed."""
    from patrolwatch.store import FEED_MAXLEN

    points = units * DAYS * 86_400 / every_s
    per_point = (figures["trail_bytes_per_point_long"]
                 + figures.get("extras_bytes_per_point_long", 0.0))  # trail + its extras
    return {
        "fleet_units": float(units), "fleet_report_every_s": every_s,
        "fleet_live_state_mb": round(units * figures["live_bytes_per_unit"] / 2**20, 1),
        "fleet_trail_points_31d": points,
        "fleet_trails_31d_gb": round(points * per_point / 2**30, 1),
        "fleet_trails_per_day_gb": round(points / DAYS * per_point / 2**30, 2),
        "feed_full_mb": round(FEED_MAXLEN * figures["feed_bytes_per_entry"] / 2**20, 1),
    }


def run_memory() -> dict[str, Any]:
    """Measure everything in one fresh Redis; return the figures."""
    with tempdir("pw-bench-mem-") as work:
        server = redis_server(work)
        try:
            store = Store.from_url(server.url)
            now = time.time()
            out: dict[str, Any] = live_state(store, now)
            store.r.flushall()
            out |= trails(store, now)
            out["redis_version"] = str(store.r.info("server")["redis_version"])
        finally:
            server.terminate()
    return out | projection(out)


def main(argv: list[str] | None = None) -> None:
    """Print the figures (and one JSON object last with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m patrolwatch.bench.memory")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args(argv)
    figures = run_memory()
    for key, value in figures.items():
        print(f"{key:>40}: {value}")
    if args.json:
        print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
