"""``patrolwatch bench history``: a week of 10,000 units, one fix each 30 s, from the archive.

The week is written straight to Parquet in the archiver's layout (``history_data``: every
contract column filled, the unit-hour index beside each hour), Redis made what it is after
the archiver ran. Then each history request is measured as the history pool runs it: in a
fresh low-priority process with the pool's DuckDB settings (one thread, memory limit), its
wall and CPU time (median of 3) and the process's peak RSS. Last, the live screens under
load: the real dashboard under gunicorn (2 workers), four history requests at once, and
``/api/units`` and ``/healthz`` asked every 50 ms meanwhile (p50, p99, max).
``python -m patrolwatch.bench.history --units N --days D [--json]`` runs a smaller one.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from patrolwatch.archive.presence import Area, OverBudgetError, plan
from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tiers import History
from patrolwatch.bench import history_data as data
from patrolwatch.bench.history_live import live_screens_under_load
from patrolwatch.core.geo import parse_geometry
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.roster import Roster
from patrolwatch.servers import redis_server, tempdir
from patrolwatch.settings import Settings
from patrolwatch.store import Store

UNITS, DAYS, EVERY_S = 10_000, 7, 30.0
REQUESTS = ("frame", "hotspot", "polygon", "report", "plan")  # what ``--only`` may name
ROOT = Path(__file__).resolve().parents[2]
SOHO = "nte-soho-old-compton-st"
KM2 = {"type": "Polygon", "coordinates": [[  # 1 km x 1 km around Soho
    [-0.14122, 51.50911], [-0.12678, 51.50911], [-0.12678, 51.51809], [-0.14122, 51.51809],
    [-0.14122, 51.50911]]]}
BOROUGH = {"type": "Polygon", "coordinates": [[  # about Westminster: 7 km x 4.5 km
    [-0.2150, 51.4850], [-0.1150, 51.4850], [-0.1150, 51.5250], [-0.2150, 51.5250],
    [-0.2150, 51.4850]]]}


def _rss_mb() -> float:
    """Return this process's peak RSS (VmHWM: unlike ru_maxrss, not inherited at spawn)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _measure(kind: str, args: tuple[Any, ...], repeat: int) -> dict[str, Any]:
    """Run one history job ``repeat`` times in this (fresh pool) process; return figures."""
    from dashboard import history_jobs
    from dashboard.history_api import hotspot_presence

    ctx = history_jobs._CONTEXT
    base = _rss_mb()
    wall, cpu = [], []
    size: Any = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        if kind == "frame":
            size = len(history_jobs.frame_job(*args).units)
        elif kind == "hotspot":
            size = len(hotspot_presence(SimpleNamespace(store=ctx["store"]),  # type: ignore[arg-type]
                                        *args))
        elif kind == "polygon":
            size = len(history_jobs.presence_job(*args))
        elif kind == "report":
            since, until = args
            size = len(history_jobs.report_job(since, until, "html", "shifts")) + len(
                history_jobs.report_job(since, until, "csv", "shifts"))
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return {"wall_ms": round(statistics.median(wall)), "cpu_ms": round(statistics.median(cpu)),
            "peak_rss_mb": round(_rss_mb()), "start_rss_mb": round(base), "answer": size}


def in_pool_process(settings: Settings, hotspots: Any, kind: str, args: tuple[Any, ...],
                    repeat: int = 3) -> dict[str, Any]:
    """Return ``_measure`` run in a fresh process set up as a history pool process."""
    from dashboard import history_jobs
    from patrolwatch.archive.pool import _init

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init, max_tasks_per_child=1,
                             initargs=(settings.history_memory_mb, history_jobs.start,
                                       (settings, hotspots, Roster.empty()))) as pool:
        return pool.submit(_measure, kind, args, repeat).result()


def _generate(storage: ArchiveStorage, fleet: data.Fleet, hotspots: Any, since: float,
              days: int) -> dict[str, Any]:
    """Write the week's archive; return its size figures."""
    t0 = time.perf_counter()
    points = size = 0
    for hour in range(days * 24):
        start = since + hour * 3600.0
        if hour % 24 == 0:
            data.write_day_statuses(storage, fleet.ids, start)
        n, b = data.write_hour(storage, fleet, start)
        data.write_hour_states(storage, hotspots, start)
        points, size = points + n, size + b
    return {"points": points, "positions_bytes": size,
            "bytes_per_point": round(size / points, 2),
            "generate_s": round(time.perf_counter() - t0)}


def _archive(root: Path, fleet: data.Fleet, hotspots: Any, days: int, every_s: float
             ) -> tuple[ArchiveStorage, float, float, dict[str, Any]]:
    """Return the archive under ``root``: the one kept there by an earlier run with the same
    fleet (``manifest.json``), or a new one written now. Yesterday's midnight ends a new week."""
    manifest = root / "manifest.json"
    key = {"units": len(fleet.ids), "days": days, "every_s": every_s}
    storage = ArchiveStorage(str(root / "archive"))
    if manifest.exists():
        kept = json.loads(manifest.read_text())
        if {k: kept.get(k) for k in key} == key:
            return storage, kept["since"], kept["until"], {**kept["figures"], "reused": True}
        raise SystemExit(f"{root} holds another bench archive ({kept}); use another --data")
    until = math.floor(time.time() / 86_400) * 86_400.0 - 86_400.0  # yesterday's midnight
    since = until - days * 86_400.0
    storage.ensure_root()
    figures = _generate(storage, fleet, hotspots, since, days)
    manifest.write_text(json.dumps({**key, "since": since, "until": until,
                                    "figures": figures}))
    return storage, since, until, figures


def run(settings: Settings, units: int = UNITS, days: int = DAYS, every_s: float = EVERY_S,
        live: bool = True, keep: Path | None = None,
        only: frozenset[str] = frozenset(REQUESTS)) -> dict[str, Any]:
    """Write the week (or reuse the one kept in ``keep``), measure the history requests
    (those in ``only``) and the live screens; return figures."""
    hotspots = load_hotspots(ROOT / "config/hotspots.geojson", CoverageDefaults(), settings.zone)
    out: dict[str, Any] = {"units": units, "days": days, "every_s": every_s}
    with tempdir("pw-bench-history-") as work:
        server = redis_server(work)
        try:
            root = keep if keep is not None else work
            root.mkdir(parents=True, exist_ok=True)
            fleet = data.Fleet(units, every_s)
            storage, since, until, figures = _archive(root, fleet, hotspots, days, every_s)
            out.update(figures)
            cfg = settings.model_copy(update={"archive": storage.root,
                                              "redis_url": server.url})
            store = Store.from_url(server.url)
            out["visits_in_redis"] = data.seed_redis(store, fleet, hotspots, since, until)
            out.update(_requests(cfg, store, hotspots, since, until, only))
            if live:
                out["live"] = live_screens_under_load(cfg, work, since, until, KM2)
        finally:
            server.terminate()
    return out


def _requests(cfg: Settings, store: Store, hotspots: Any, since: float, until: float,
              only: frozenset[str] = frozenset(REQUESTS)) -> dict[str, Any]:
    """Measure each history request (of the kinds in ``only``) as the pool runs it."""
    wide = cfg.model_copy(update={"history_max_points": 10**12})  # to see what a miss costs
    km2, borough = Area(parse_geometry(KM2)), Area(parse_geometry(BOROUGH))
    soho = hotspots.by_id[SOHO]
    at = since + (until - since) / 2 + 1234.5
    out: dict[str, Any] = {}
    if "frame" in only:
        out["frame"] = in_pool_process(cfg, hotspots, "frame", (at,))
    if "hotspot" in only:
        out["presence_hotspot_week"] = in_pool_process(cfg, hotspots, "hotspot",
                                                       (SOHO, since, until))
    if "polygon" in only:
        out["presence_hotspot_polygon_week"] = in_pool_process(
            wide, hotspots, "polygon", (Area(soho.geometry, soho.radius_m), since, until), 1)
    if "report" in only:
        out["report_week"] = in_pool_process(cfg, hotspots, "report", (since, until), 1)
    history = History(store, ArchiveReader(ArchiveStorage(cfg.archive)))
    for name, area in (("km2", km2), ("borough", borough)):
        if "plan" not in only:
            break
        t0 = time.perf_counter()
        try:
            p = plan(history, area, since, until, cfg.history_max_points)
            verdict = f"answered: {p.points:,} points"
        except OverBudgetError as exc:
            verdict = f"refused: {exc}"
        out[f"polygon_{name}_plan"] = {"ms": round((time.perf_counter() - t0) * 1000),
                                       "verdict": verdict[:160]}
    if "polygon" in only:
        out["polygon_km2_week_unbudgeted"] = in_pool_process(wide, hotspots, "polygon",
                                                             (km2, since, until), 1)
    return out


def main(argv: list[str] | None = None) -> None:
    """Print the figures (and one JSON object last with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m patrolwatch.bench.history")
    parser.add_argument("--units", type=int, default=UNITS)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--every", type=float, default=EVERY_S)
    parser.add_argument("--no-live", action="store_true", help="skip the gunicorn part")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="keep the generated archive in DIR and reuse it on later runs")
    parser.add_argument("--only", default=",".join(REQUESTS), metavar="KINDS",
                        help="measure only these requests, comma-separated: "
                             f"{', '.join(REQUESTS)} (report and hotspot read no positions)")
    args = parser.parse_args(argv)
    only = frozenset(k.strip() for k in args.only.split(",") if k.strip())
    if not only or only - set(REQUESTS):
        parser.error(f"--only takes some of {', '.join(REQUESTS)}")
    figures = run(Settings(), units=args.units, days=args.days, every_s=args.every,
                  live=not args.no_live, keep=args.data, only=only)
    for key, value in figures.items():
        print(f"{key:>32}: {value}")
    if args.json:
        print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
