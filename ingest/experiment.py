"""The ingest process's experiment loop: allocate each day before it starts, tell the phones.

When ``PATROL_EXPERIMENT`` is set, every ingest process runs this thread; allocation is
idempotent (the store keeps the first answer under WATCH), so several processes agree.
Every pass stores today's and tomorrow's lists if nobody has (``patrolwatch experiment
allocate`` does the same by hand), and when today's lists differ from what OwnTracks phones
were last sent, publishes ``setWaypoints`` to every roster phone's command topic; and it
stores the measures of the last two finished days (``finalise_days``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, timedelta

import duckdb
import redis

from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tiers import History
from patrolwatch.core.hotspots import HotspotSet
from patrolwatch.core.visits import VisitParams
from patrolwatch.experiments.allocation import FrozenDayError
from patrolwatch.experiments.design import Experiment, load_experiment
from patrolwatch.experiments.panel import panel
from patrolwatch.experiments.service import day_allocation, local_day, now_s, settle_day
from patrolwatch.experiments.waypoints import command_topic, set_waypoints
from patrolwatch.roster import Roster
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from patrolwatch.store.experiments import ExperimentStore

log = logging.getLogger(__name__)
EVERY_S = 30.0
ACTOR = "ingest (automatic allocation)"


def experiment_pass(exp: Experiment, settings: Settings, store: Store, hotspots: HotspotSet,
                    roster: Roster, publish: Callable[[str, str], object], now: float,
                    refused: set[str] | None = None) -> int:
    """Settle today's and tomorrow's lists; send today's regions if new; return messages sent."""
    today = local_day(now, settings.zone)
    current = None
    for day in (today, today + timedelta(days=1)):
        if not exp.runs_on(day):
            continue
        try:
            alloc, stored = settle_day(exp, day, store, settings.zone, now, ACTOR)
        except FrozenDayError as exc:
            if refused is None or str(exc) not in refused:  # said once, not every pass
                log.error("experiment %s: %s", exp.id, exc)
                if refused is not None:
                    refused.add(str(exc))
            alloc, stored = day_allocation(exp, day, store), False
        if stored:
            log.info("experiment %s: %s allocated (digest %s): treated %s", exp.id, day,
                     alloc.digest, ", ".join(alloc.treatment))
        if day == today:
            current = alloc
    if current is None:
        return 0
    marker = f"{current.day.isoformat()}|{current.digest}|{'|'.join(current.treatment)}"
    ex = ExperimentStore(store)
    if ex.pushed(exp.id) == marker:
        return 0
    payload = set_waypoints(current.treatment, hotspots.by_id)
    phones = sorted(roster.owntracks)
    for pair in phones:
        publish(command_topic(pair), payload)
    ex.mark_pushed(exp.id, marker)
    return len(phones)


def finalise_days(exp: Experiment, settings: Settings, store: Store, hotspots: HotspotSet,
                  now: float) -> list[date]:
    """Measure and store the last two days whose windows have ended, if nobody has yet.

    So a trial's panel outlives the raw positions it is computed from (kept
    ``PATROL_TRAIL_RETENTION_DAYS``) even if nobody asks for it in time.
    """
    today = local_day(now, settings.zone)
    ex = ExperimentStore(store)
    done = []
    for back in (2, 1):
        day = today - timedelta(days=back)
        if not exp.runs_on(day) or ex.has_doses(exp.id, day):
            continue
        history = History(store, ArchiveReader(ArchiveStorage(settings.archive)))
        panel(exp, hotspots, history, store, day, day, settings.zone,
              VisitParams(settings.visit_gap_s, settings.visit_grace_s,
                          settings.max_presence_acc_m),
              settings.trail_retention_s, settings.stale_after_s, now=now)
        done.append(day)
    return done


def run_loop(exp: Experiment, settings: Settings, store: Store, hotspots: HotspotSet,
             roster: Roster, publish: Callable[[str, str], object],
             stop: threading.Event) -> None:
    """Run ``experiment_pass`` every ``EVERY_S`` until stopped; Redis outages are waited out."""
    refused: set[str] = set()
    while not stop.is_set():
        try:
            experiment_pass(exp, settings, store, hotspots, roster, publish, now_s(), refused)
            finalise_days(exp, settings, store, hotspots, now_s())
        except redis.RedisError as exc:
            log.warning("experiment allocation paused, Redis unavailable: %s", exc)
        except (OSError, duckdb.Error) as exc:  # the archive: measured again next pass
            log.warning("experiment days not measured, archive unreadable: %s", exc)
        stop.wait(EVERY_S)


def experiment_thread(settings: Settings, store: Store, hotspots: HotspotSet, roster: Roster,
                      publish: Callable[[str, str], object], stop: threading.Event
                      ) -> threading.Thread | None:
    """Start the loop when ``PATROL_EXPERIMENT`` is set (the file is checked first); else None."""
    if settings.experiment is None:
        return None
    exp = load_experiment(settings.experiment, set(hotspots.by_id))
    thread = threading.Thread(target=run_loop, name="experiment", daemon=True,
                              args=(exp, settings, store, hotspots, roster, publish, stop))
    thread.start()
    log.info("experiment %s (%s): pool of %d, days %s to %s", exp.id, exp.name,
             len(exp.places()), exp.start, exp.end)
    return thread
