"""Run the archiver: ``patrolwatch archive`` on its own, or as a thread of the ingest process."""

from __future__ import annotations

import logging
import threading

from patrolwatch.archive.archiver import Archiver
from patrolwatch.settings import Settings
from patrolwatch.store import Store

log = logging.getLogger(__name__)


def run_archiver(settings: Settings, stop: threading.Event, *, once: bool = False) -> int:
    """Archive until ``stop`` is set (or one pass with ``once``); exactly one runs at a time."""
    store = Store.from_settings(settings)
    archiver = Archiver(settings, store)
    log.info("archiver: Redis keeps %.4g h; older history goes to %s", settings.hot_hours,
             settings.archive)
    if not once:
        archiver.run(stop)
        return 0
    if not store.acquire_archive_lock(archiver.owner, archiver.lock_ttl_s):
        log.info("another archiver holds the lock; nothing to do")
        return 0
    try:
        result = archiver.run_once()
    finally:
        store.release_archive_lock(archiver.owner)
    log.info("archived %d points, %d statuses, %d hotspot states in %d files (%d bytes); "
             "deleted days: %s", result.points, result.statuses, result.states,
             len(result.files), result.bytes_written, ", ".join(result.days_deleted) or "none")
    return 0


def archiver_thread(settings: Settings, store: Store, stop: threading.Event) -> threading.Thread:
    """Return (not started) the ingest process's archiver thread."""
    return threading.Thread(target=Archiver(settings, store).run, args=(stop,), name="archiver",
                            daemon=True)
