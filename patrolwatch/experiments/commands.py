"""`patrolwatch experiment allocate [--date D]` and `patrolwatch experiment report`."""

from __future__ import annotations

import argparse
import getpass
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tiers import History
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet, load_hotspots
from patrolwatch.core.visits import VisitParams
from patrolwatch.errors import CommandError
from patrolwatch.experiments.allocation import FrozenDayError
from patrolwatch.experiments.design import Experiment, load_experiment
from patrolwatch.experiments.outcomes import read_crimes
from patrolwatch.experiments.panel import MAX_DAYS, panel, panel_csv
from patrolwatch.experiments.report import summary_html
from patrolwatch.experiments.service import local_day, settle_day
from patrolwatch.settings import Settings
from patrolwatch.store import Store


def add_options(p: argparse.ArgumentParser) -> None:
    """Add the `experiment` subcommands."""
    actions = p.add_subparsers(dest="experiment_action", required=True)
    a = actions.add_parser("allocate", help="store and freeze a day's treatment and control "
                                            "lists (default: today)")
    a.add_argument("--date", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD")
    r = actions.add_parser("report", help="write the panel CSV and the HTML summary")
    r.add_argument("--since", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD")
    r.add_argument("--until", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                   help="last day (default: today or the experiment's end)")
    r.add_argument("--out", type=Path, default=Path("."), help="folder for the two files")


def _experiment(settings: Settings) -> tuple[Experiment, HotspotSet]:
    if settings.experiment is None:
        raise CommandError("no experiment: set PATROL_EXPERIMENT to an experiment file "
                           "(docs/experiments.md)")
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                             settings.zone)
    return load_experiment(settings.experiment, set(hotspots.by_id)), hotspots


def cmd_experiment(settings: Settings, args: argparse.Namespace) -> int:
    """Run one `experiment` subcommand."""
    exp, hotspots = _experiment(settings)
    store = Store.from_settings(settings)
    if not store.ping():
        raise CommandError(f"Redis at {settings.redis_url.split('@')[-1]} is not answering")
    now = time.time()
    if args.experiment_action == "allocate":
        day = args.date or local_day(now, settings.zone)
        if not exp.runs_on(day):
            raise CommandError(f"{day} is not a day of experiment {exp.id} "
                               f"({exp.start} to {exp.end})")
        try:
            alloc, stored = settle_day(exp, day, store, settings.zone, now,
                                       f"cli:{getpass.getuser()}")
        except FrozenDayError as exc:
            raise CommandError(f"refused: {exc}") from None
        state = "frozen" if alloc.frozen(now) else "stored, freezes at " + datetime.fromtimestamp(
            alloc.freeze_at or 0, settings.zone).strftime("%Y-%m-%d %H:%M")
        print(f"experiment {exp.id} {day}: {'allocated now' if stored else 'already allocated'}"
              f" ({state}); digest {alloc.digest}")
        print("treatment: " + ", ".join(alloc.treatment))
        print("control:   " + ", ".join(alloc.control))
        return 0
    today = local_day(now, settings.zone)
    until = args.until or min(today, exp.end)
    since = args.since or max(exp.start, until - timedelta(days=MAX_DAYS - 1))
    history = History(store, ArchiveReader(ArchiveStorage(settings.archive)))
    params = VisitParams(settings.visit_gap_s, settings.visit_grace_s,
                         settings.max_presence_acc_m)
    crimes = read_crimes(exp.crimes, settings.zone) if exp.crimes else None
    rows = panel(exp, hotspots, history, store, since, until, settings.zone,
                 params, settings.trail_retention_s, settings.stale_after_s, crimes)
    store.log_access({"ts": now, "user": f"cli:{getpass.getuser()}",
                      "what": "experiment_panel", "experiment": exp.id,
                      "since": since.isoformat(), "until": until.isoformat()})
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / f"{exp.id}-panel.csv"
    html_path = args.out / f"{exp.id}-summary.html"
    csv_path.write_text(panel_csv(rows), encoding="utf-8")
    html_path.write_text(summary_html(exp, rows, hotspots=hotspots.by_id), encoding="utf-8")
    print(f"{len(rows)} place-days, {since} to {until}")
    print(f"panel:   {csv_path}")
    print(f"summary: {html_path}")
    return 0
