"""The one package that touches Redis: key names and TTLs in ``keys``, one part per concern.

``Store`` is every part together; code outside takes a ``Store`` and never a Redis client.
"""

from __future__ import annotations

from patrolwatch.store.access import AccessStore
from patrolwatch.store.alarms import AlarmStore
from patrolwatch.store.archive import ArchiveStore
from patrolwatch.store.codec import pack_point, unpack_point, visit_member
from patrolwatch.store.coverage import CoverageStore
from patrolwatch.store.history import HistoryStore, TierReads, points_for
from patrolwatch.store.keys import *  # noqa: F403  (every key name, for tests and benches)
from patrolwatch.store.keys import (
    k_status_log,
    k_status_notes,
    k_trail,
    k_trail_extras,
    k_unit_events,
    k_visits,
)
from patrolwatch.store.live import LiveStore
from patrolwatch.store.picture import PictureStore
from patrolwatch.store.replay import ReplayStore, ReportReads
from patrolwatch.store.sessions import Session, SessionStore
from patrolwatch.store.taskings import TaskingStore
from patrolwatch.store.types import Batch, LiveRows, Stats, WriteResult


class Store(LiveStore, HistoryStore, CoverageStore, TaskingStore, AccessStore, SessionStore,
            ArchiveStore, ReplayStore, TierReads, ReportReads, PictureStore, AlarmStore):
    """Live state in Redis: writes for the ingest worker, reads for the dashboard and API."""


__all__ = [
    "Batch",
    "LiveRows",
    "Session",
    "Stats",
    "Store",
    "WriteResult",
    "k_status_log",
    "k_status_notes",
    "k_trail",
    "k_trail_extras",
    "k_unit_events",
    "k_visits",
    "pack_point",
    "points_for",
    "unpack_point",
    "visit_member",
]
