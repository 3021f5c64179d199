"""Wire the ingest process: load and check configuration, then run worker and evaluator."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any
from urllib.parse import urlsplit

from ingest import alarms
from ingest.evaluator import CoverageEvaluator
from ingest.experiment import experiment_thread
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
CHILD_STOP_S = 5.0  # a child asked to stop has this long to finish before it is terminated
CHILD_TERM_S = 2.0  # then this long after SIGTERM before SIGKILL (docs/reliability.md)


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
    # The children's stop is a pipe whose only write end this process holds: closed at stop,
    # or by the kernel when this process dies, it reads as EOF in every child. (It was a
    # multiprocessing Event, whose set() waits for every waiter to wake: a child killed or
    # stopped while waiting on it never does, and the stop hung for good - issue 15.)
    evaluator_stop, stop_children_writer = spawn.Pipe(duplex=False)
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
    experiment_thread(settings, store, hotspots, roster, worker.client.publish, stop)  # checks it
    children: list[BaseProcess] = []
    if evaluator:
        start_child(child, stop, children)
        forwarder.start()
    archiver.start()
    if picture is not None:
        start_child(picture, stop, children)
    join_alarms = (alarms.start(settings, worker, stop, evaluator_stop, children) if evaluator
                   else alarms.nothing)  # issue 18
    try:
        worker.run(stop)
    finally:
        stop.set()
        stop_children_writer.close()  # every child reads EOF: stop
        stop_children(children)
        if evaluator:
            forwarder.join(timeout=5)
        archiver.join(timeout=10)
        join_alarms()
    return 0


def start_child(process: BaseProcess, stop: threading.Event, started: list[BaseProcess]) -> None:
    """Start ``process`` unless the stop came first (then it would only be waited for)."""
    if stop.is_set():
        log.info("stopping: not starting the %s process", process.name)
        return
    process.start()
    started.append(process)


def stop_children(children: list[BaseProcess], grace_s: float = CHILD_STOP_S,
                  term_s: float = CHILD_TERM_S) -> None:
    """Wait for children told to stop, then terminate, then kill; reap every one (bounded).

    A child may still be importing (seconds on a loaded machine), stopped, or blocked in
    Redis: none of that may hold the ingest process's own exit for more than a few seconds.
    """
    deadline = time.monotonic() + grace_s
    for process in children:
        process.join(max(0.0, deadline - time.monotonic()))
    late = [p for p in children if p.is_alive()]
    for process in late:
        log.warning("the %s process (pid %s) did not stop in %.0f s: terminating it",
                    process.name, process.pid, grace_s)
        process.terminate()
    deadline = time.monotonic() + term_s
    for process in late:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in late:
        if process.is_alive():
            log.warning("the %s process (pid %s) ignored SIGTERM: killing it",
                        process.name, process.pid)
            process.kill()
            process.join(term_s)  # SIGKILL ends even a stopped process; this reaps it
    for process in children:
        if process.exitcode not in (0, None, -signal.SIGTERM, -signal.SIGKILL):
            log.warning("the %s process ended with exit code %s", process.name, process.exitcode)


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


def _child_setup(level: int, stop: Connection, parent: int) -> threading.Event:
    """Log like the parent, leave Ctrl-C to it, and return an event set at stop or orphaning.

    ``stop`` is the read end of the parent's stop pipe: EOF (the parent closed it, or died)
    means stop. SIGTERM (the parent's second word) sets the event from a thread of its own:
    a handler runs on the main thread, which may hold the event's lock inside ``wait()``.
    """
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    done = threading.Event()
    signal.signal(signal.SIGTERM,
                  lambda *_: threading.Thread(target=done.set, daemon=True).start())

    def watch() -> None:
        while not done.is_set():
            if stop.poll(1.0) or os.getppid() != parent:  # parent killed: do not linger
                done.set()

    threading.Thread(target=watch, name="child-watch", daemon=True).start()
    return done


def run_picture(settings: Settings, stop: Connection, parent: int, level: int) -> None:
    """Run the live-picture producer until ``stop`` is set or the ingest process is gone."""
    from dashboard.picture.producer import run_producer

    done = _child_setup(level, stop, parent)
    # Behind the worker when CPU is short (its work follows the moves, issue 20), ahead of
    # the evaluator: a marker should move within a second, coverage can wait a tick.
    with contextlib.suppress(OSError):
        os.nice(PICTURE_NICENESS)
    run_producer(settings, done)


def run_evaluator(settings: Settings, stop: Connection, parent: int, level: int,
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
        events.cancel_join_thread()  # exit even if the parent stopped reading: events are
        events.close()  # best effort (the snapshot holds the gaps)
