"""Wire the ingest process: load and check configuration, then run worker and evaluator."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
from typing import Any
from urllib.parse import urlsplit

from ingest.evaluator import CoverageEvaluator
from ingest.metrics import WorkerMetrics, bind_address
from ingest.worker import IngestWorker
from patrolwatch.archive.service import archiver_thread
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.core.messages import ParseContext
from patrolwatch.roster import load_roster, load_status_codes
from patrolwatch.settings import Settings
from patrolwatch.store import Store

log = logging.getLogger(__name__)

EVALUATOR_NICENESS = 10  # the evaluator process's nice increment over the worker's
PICTURE_NICENESS = 5  # the picture producer's
EVENTS_QUEUED_MAX = 10_000  # gap events waiting for the worker's connection


def run_ingest(settings: Settings, stop: threading.Event, *, evaluator: bool = True,
               client_id: str | None = None) -> int:
    """Run the worker (and the coverage evaluator thread) until ``stop`` is set."""
    roster = load_roster(settings.units)
    codes = load_status_codes(settings.status_codes)
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                             settings.zone)
    store = Store.from_settings(settings)
    if not store.ping():
        where = urlsplit(settings.redis_url)  # host and port only: the URL may hold a password
        log.warning("Redis at %s:%s is not answering yet; will keep retrying",
                    where.hostname, where.port or 6379)
    ctx = ParseContext.from_settings(settings, roster, codes)
    metrics = WorkerMetrics()
    if settings.metrics_port:
        host, token = bind_address(settings)
        try:
            metrics.serve(settings.metrics_port, host, token)
        except OSError as exc:  # ingest matters more than its metrics: keep going, loudly
            log.error("cannot serve /metrics on port %d (%s); set PATROL_METRICS_PORT to a "
                      "free port, or 0 to turn metrics off", settings.metrics_port, exc)
    worker = IngestWorker(settings, store, ctx, client_id=client_id, metrics=metrics)
    metrics.follow(worker.client)
    # Every ingest process offers to archive; a Redis lock lets exactly one do it.
    archiver = archiver_thread(settings, store, stop)
    log.info("roster: %d units; hotspots: %d; stale after %.0f s", len(roster.units),
             len(hotspots), settings.stale_after_s)
    # The evaluator runs in a child process: as a thread it took a third of the ingest
    # process's time, under the same GIL as the worker (issue 11, docs/benchmarks.md).
    spawn = multiprocessing.get_context("spawn")
    evaluator_stop = spawn.Event()
    # Gap events go out on the worker's own connection: a broker login holds one client id,
    # so a second connection from the child would knock the worker off its session.
    events: Any = spawn.Queue(maxsize=EVENTS_QUEUED_MAX)
    child = spawn.Process(target=run_evaluator, name="coverage", daemon=True,
                          args=(settings, evaluator_stop, os.getpid(),
                                logging.getLogger().getEffectiveLevel(), events))
    forwarder = threading.Thread(target=forward_events, args=(events, worker, stop),
                                 name="coverage-events", daemon=True)
    # The live picture every control-room screen reads (issue 11), built by one process at a
    # time under its lock: a child of its own too, since a build at 10,000 units is ~1 s of
    # CPU that would otherwise hold the worker's GIL.
    picture = (spawn.Process(target=run_picture, name="picture", daemon=True,
                             args=(settings, evaluator_stop, os.getpid(),
                                   logging.getLogger().getEffectiveLevel()))
               if settings.picture_producer else None)
    if evaluator:
        child.start()
        forwarder.start()
    archiver.start()
    if picture is not None:
        picture.start()
    try:
        worker.run(stop)
    finally:
        stop.set()
        evaluator_stop.set()
        if evaluator:
            child.join(timeout=15)
            if child.is_alive():
                child.terminate()
            forwarder.join(timeout=5)
        archiver.join(timeout=10)
        if picture is not None:
            picture.join(timeout=15)
            if picture.is_alive():
                picture.terminate()
    return 0


def forward_events(events: Any, worker: IngestWorker, stop: threading.Event) -> None:
    """Publish the evaluator's gap events on the worker's connection until ``stop``, then drain."""
    while True:
        try:
            topic, payload = events.get(timeout=0.5)
        except queue.Empty:
            if stop.is_set():
                return
            continue
        worker.client.publish(topic, payload)


def _child_setup(level: int, stop: Any, parent: int) -> threading.Event:
    """Log like the parent, leave Ctrl-C to it, and return an event set at stop or orphaning."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if stop.wait(1.0) or os.getppid() != parent:  # parent killed: do not linger
                done.set()

    threading.Thread(target=watch, name="child-watch", daemon=True).start()
    return done


def run_picture(settings: Settings, stop: Any, parent: int, level: int) -> None:
    """Run the live-picture producer until ``stop`` is set or the ingest process is gone."""
    from dashboard.picture.producer import run_producer

    done = _child_setup(level, stop, parent)
    # Behind the worker when CPU is short (its work follows the moves, issue 20), ahead of
    # the evaluator: a marker should move within a second, coverage can wait a tick.
    with contextlib.suppress(OSError):
        os.nice(PICTURE_NICENESS)
    run_producer(settings, done)


def run_evaluator(settings: Settings, stop: Any, parent: int, level: int,
                  events: Any) -> None:
    """Run the coverage evaluator until ``stop`` is set or the ingest process is gone."""
    done = _child_setup(level, stop, parent)
    # Coverage can wait a tick; positions cannot: when CPU is short, the worker goes first.
    with contextlib.suppress(OSError):
        os.nice(EVALUATOR_NICENESS)
    roster = load_roster(settings.units)
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                             settings.zone)
    store = Store.from_settings(settings)

    def publish(topic: str, payload: str) -> None:
        try:
            events.put_nowait((topic, payload))
        except queue.Full:  # the worker is not publishing; the snapshot still holds the gaps
            log.warning("coverage event queue full; dropped an event on %s", topic)

    try:
        CoverageEvaluator(settings, store, hotspots, roster, publish=publish).run(done)
    finally:
        events.close()
