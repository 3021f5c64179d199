"""``patrolwatch bench history``: a day of 10,000 units every 5 s through the real archiver.

Each hour is written into a fresh Redis in the ingest's member format (ZADD of
``ts,lat,lon,acc`` per unit, pipelined: the ingest path itself is ``bench ingest``'s), then
moved by ``Archiver.run_once`` exactly as in production: read, Parquet, fsync, remove.
Then, over the archived day: a replay frame of every unit, presence over one hotspot
(the polygon path, recomputed from raw trails: the slow one), the operation report, one
unit's capped trail. A week is stated from the day by its measured rate (the disk and the
two shared cores do not hold a real week). ``python -m patrolwatch.bench.history --hours N
--units N [--json]`` runs a smaller or larger one.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from patrolwatch.archive.archiver import Archiver
from patrolwatch.archive.frames import frame
from patrolwatch.archive.presence import Area, presence
from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.tiers import History
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.core.visits import VisitParams
from patrolwatch.servers import redis_server, tempdir
from patrolwatch.settings import Settings
from patrolwatch.store import K_SEEN, Store, k_status_log, k_trail

UNITS, HOURS, EVERY_S = 10_000, 24, 5.0
PIPE_UNITS = 250
DAYS_RETAINED = 31
ROOT = Path(__file__).resolve().parents[2]


def timed(func: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Return the median wall time in ms of ``repeat`` calls, and the last result."""
    ms, _, result = timed_cpu(func, repeat)
    return ms, result


def timed_cpu(func: Callable[[], Any], repeat: int = 3) -> tuple[float, float, Any]:
    """Return median wall and process CPU ms (every thread, DuckDB's too), and the result.

    On a shared machine the wall time grows with the load; the CPU time says what a
    request costs whatever the neighbours do.
    """
    wall, cpu, result = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = func()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return round(statistics.median(wall), 1), round(statistics.median(cpu), 1), result


def fleet_homes(units: int, seed: int = 11) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Return each unit's beat centre: around central London, denser in the middle."""
    rng = np.random.default_rng(seed)
    return 51.507 + rng.normal(0, 0.03, units), -0.128 + rng.normal(0, 0.05, units)


def write_hour(store: Store, ids: list[str], start: float, every_s: float,
               state: dict[str, np.ndarray[Any, Any]], rng: np.random.Generator) -> int:
    """Write one hour of every unit's trail (a random walk on its beat); return the points."""
    n = int(3600 / every_s)
    lat, lon = state["lat"], state["lon"]
    jitter = rng.uniform(0, 0.999, (len(ids), n))
    # Walking pace (about 1.4 m/s: 7 m per 5 s), pulled back towards the beat's centre.
    steps_lat = rng.normal(0, 4.5e-5, (len(ids), n))
    steps_lon = rng.normal(0, 7e-5, (len(ids), n))
    lats = lat[:, None] + np.cumsum(steps_lat, axis=1)
    lons = lon[:, None] + np.cumsum(steps_lon, axis=1)
    lats += (state["home_lat"][:, None] - lats) * 0.02
    lons += (state["home_lon"][:, None] - lons) * 0.02
    state["lat"], state["lon"] = lats[:, -1], lons[:, -1]
    accs = rng.choice(np.array([5.0, 8.0, 12.0, 20.0]), (len(ids), n))
    base = start + np.arange(n) * every_s
    total = 0
    for c in range(0, len(ids), PIPE_UNITS):
        pipe = store.r.pipeline(transaction=False)
        for u in range(c, min(c + PIPE_UNITS, len(ids))):
            ts = np.round(base + jitter[u], 3).tolist()
            la, lo = np.round(lats[u], 6).tolist(), np.round(lons[u], 6).tolist()
            ac = accs[u].tolist()
            pipe.zadd(k_trail(ids[u]), {f"{t!r},{a!r},{b!r},{x!r}": t
                                        for t, a, b, x in zip(ts, la, lo, ac, strict=True)})
            total += n
        pipe.zadd(K_SEEN, {ids[u]: start + 3600 for u in range(c, min(c + PIPE_UNITS, len(ids)))})
        pipe.execute()
    return total


def seed_statuses(store: Store, ids: list[str], day: float) -> None:
    """Give every unit a day's statuses: on patrol, a refreshment break mid-day, on patrol."""
    pipe = store.r.pipeline(transaction=False)
    for u in ids:
        pipe.zadd(k_status_log(u), {f"{day!r}|ON_PATROL": day,
                                    f"{day + 43_200.0!r}|REFRESHMENT": day + 43_200.0,
                                    f"{day + 45_000.0!r}|ON_PATROL": day + 45_000.0})
    pipe.execute()


def run(settings: Settings, units: int = UNITS, hours: int = HOURS,
        every_s: float = EVERY_S) -> dict[str, Any]:
    """Run the benchmark in a fresh Redis and archive folder; return the figures."""
    hotspots = load_hotspots(ROOT / "config/hotspots.geojson", CoverageDefaults(), settings.zone)
    ids = [f"H{i:05d}" for i in range(units)]
    home_lat, home_lon = fleet_homes(units)
    state = {"lat": home_lat.copy(), "lon": home_lon.copy(), "home_lat": home_lat,
             "home_lon": home_lon}
    rng = np.random.default_rng(5)
    day = math.floor(time.time() / 86_400) * 86_400 - 2 * 86_400  # a whole day, 2 days ago
    with tempdir("pw-bench-history-") as work:
        server = redis_server(work)
        try:
            store = Store.from_url(server.url)
            cfg = settings.model_copy(update={"archive": str(work / "archive"), "hot_hours": 24.0})
            archiver = Archiver(cfg, store)
            seed_statuses(store, ids, day)
            points = 0
            archive_s = 0.0
            redis_bytes: list[float] = []
            for h in range(hours):
                start = day + h * 3600
                before = int(store.r.info("memory")["used_memory"])
                n = write_hour(store, ids, start, every_s, state, rng)
                redis_bytes.append((int(store.r.info("memory")["used_memory"]) - before) / n)
                for minute in range(60):  # the evaluator's hotspot states, once a minute
                    t = start + minute * 60
                    store.record_hotspot_states(t, {hs.id: ("gap" if (minute + h) % 17 == 0
                                                            else "covered") for hs in hotspots})
                t0 = time.perf_counter()
                result = archiver.run_once(start + 3600 + 86_400.0)
                archive_s += time.perf_counter() - t0
                points += n
                assert result.points == n, (result.points, n)
            reader = ArchiveReader(archiver.storage)
            history = History(store, reader)
            size = reader.size_bytes()
            at = day + min(hours, 12) * 3600 - 1800
            hotspot_ids = [h.id for h in hotspots]
            frame_ms, frame_cpu_ms, found = timed_cpu(lambda: frame(
                history, at, ids, {}, hotspot_ids, settings.stale_after_s,
                settings.trail_retention_s))
            # One more hour left in Redis: a frame of the hot tier.
            write_hour(store, ids, day + hours * 3600, every_s, state, rng)
            hot_at = day + hours * 3600 + 1800
            hot_ms, hot_cpu_ms, hot = timed_cpu(lambda: frame(
                history, hot_at, ids, {}, hotspot_ids, settings.stale_after_s,
                settings.trail_retention_s))
            soho = hotspots.by_id["nte-soho-old-compton-st"]
            area = Area(soho.geometry, soho.radius_m)
            params = VisitParams(settings.visit_gap_s, settings.visit_grace_s,
                                 settings.max_presence_acc_m)
            presence_ms, presence_cpu_ms, rows = timed_cpu(lambda: presence(
                history, area, day, day + hours * 3600, params, settings.trail_retention_s),
                repeat=1)
            trail_ms, trail = timed(lambda: history.trail(ids[7], day, day + hours * 3600,
                                                          settings.trail_max_points))
            report_ms = _report_ms(cfg, store, history, hotspots, day, day + hours * 3600)
            redis_per_point = statistics.median(redis_bytes)
        finally:
            server.terminate()
    per_day = units * 86_400 / every_s
    day_factor = 24 / hours
    return {
        "units": units, "hours": hours, "report_every_s": every_s,
        "points_archived": points,
        "archive_bytes": size,
        "bytes_per_archived_point": round(size["positions"] / points, 2),
        "archive_points_per_s": round(points / archive_s),
        "archive_day_s_at_measured_rate": round(per_day / (points / archive_s)),
        "archive_week_s_at_measured_rate": round(7 * per_day / (points / archive_s)),
        "archive_week_gb": round(7 * per_day * size["positions"] / points / 2**30, 2),
        "frame_ms": frame_ms, "frame_cpu_ms": frame_cpu_ms, "frame_units": len(found.units),
        "frame_hot_ms": hot_ms, "frame_hot_cpu_ms": hot_cpu_ms, "frame_hot_units": len(hot.units),
        "presence_day_ms": presence_ms, "presence_day_cpu_ms": presence_cpu_ms,
        "presence_units": len(rows),
        "presence_week_ms_extrapolated": round(presence_ms * 7 * day_factor),
        "trail_ms": trail_ms, "trail_total": trail.total, "trail_points": len(trail.points),
        "report_day_ms": report_ms,
        "report_week_ms_extrapolated": round(report_ms * 7 * day_factor),
        "redis_bytes_per_point": round(redis_per_point, 1),
        "redis_hot_24h_gb": round(per_day * redis_per_point / 2**30, 1),
        "redis_31d_gb": round(DAYS_RETAINED * per_day * redis_per_point / 2**30, 1),
    }


def _report_ms(settings: Settings, store: Store, history: History, hotspots: Any,
               since: float, until: float) -> float:
    """Return the server time of the operation report over the period (HTML and CSV)."""
    from dashboard.deps import Deps
    from dashboard.reports import actions
    from dashboard.reports.printable import csv_text, html_text
    from patrolwatch.roster import Roster

    deps = Deps(settings=settings, store=store, roster=Roster.empty(), hotspots=hotspots)

    def both() -> int:
        report = actions.build(deps, history, since, until)
        return len(html_text(report, list(hotspots), settings.zone)) + len(
            csv_text(report, settings.zone))

    ms, _ = timed(both, repeat=1)
    return ms


def main(argv: list[str] | None = None) -> None:
    """Print the figures (and one JSON object last with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m patrolwatch.bench.history")
    parser.add_argument("--units", type=int, default=UNITS)
    parser.add_argument("--hours", type=int, default=HOURS)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args(argv)
    figures = run(Settings(), units=args.units, hours=args.hours)
    for key, value in figures.items():
        print(f"{key:>34}: {value}")
    if args.json:
        print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
