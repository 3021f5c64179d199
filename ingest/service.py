"""Wire the ingest process: load and check configuration, then run worker and evaluator."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ingest.evaluator import CoverageEvaluator
from ingest.metrics import WorkerMetrics
from ingest.worker import IngestWorker
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet, load_hotspots
from patrolwatch.core.messages import ParseContext
from patrolwatch.mqtt import MqttClient
from patrolwatch.roster import Roster, load_roster, load_status_codes
from patrolwatch.settings import Settings
from patrolwatch.store import Store

if TYPE_CHECKING:
    from dashboard.picture.producer import PictureProducer

log = logging.getLogger(__name__)


def picture_producer(settings: Settings, store: Store, roster: Roster,
                     hotspots: HotspotSet) -> PictureProducer:
    """Return the live picture's producer for this process (it publishes nothing over MQTT)."""
    from dashboard.deps import Deps
    from dashboard.picture.producer import PictureProducer

    return PictureProducer(Deps(settings=settings, store=store, roster=roster,
                                hotspots=hotspots))


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
        try:
            metrics.serve(settings.metrics_port)
        except OSError as exc:  # ingest matters more than its metrics: keep going, loudly
            log.error("cannot serve /metrics on port %d (%s); set PATROL_METRICS_PORT to a "
                      "free port, or 0 to turn metrics off", settings.metrics_port, exc)
    worker = IngestWorker(settings, store, ctx, client_id=client_id, metrics=metrics)
    threads: list[threading.Thread] = []
    events_client: MqttClient | None = None
    if evaluator:
        events_client = MqttClient(settings.mqtt_url, "")
        events_client.start()
        cov = CoverageEvaluator(settings, store, hotspots, roster,
                                publish=events_client.publish)
        threads.append(threading.Thread(target=cov.run, args=(stop,), name="coverage",
                                        daemon=True))
    if settings.picture_producer:
        # The live picture every control-room screen reads (issue 11); one process at a
        # time builds it, under its lock, whichever ingest processes run.
        producer = picture_producer(settings, store, roster, hotspots)
        threads.append(threading.Thread(target=producer.run, args=(stop,), name="picture",
                                        daemon=True))
    log.info("roster: %d units; hotspots: %d; stale after %.0f s", len(roster.units),
             len(hotspots), settings.stale_after_s)
    for t in threads:
        t.start()
    try:
        worker.run(stop)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
        if events_client is not None:
            events_client.stop()
    return 0
