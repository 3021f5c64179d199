"""The history pool: history queries run in a few low-priority processes, never in the web
worker that serves the live screens.

Each dashboard process owns one pool (``PATROL_HISTORY_WORKERS`` processes, started on the
first history request). A pool process runs at nice 10, its DuckDB with ``threads = 1`` and
``memory_limit = PATROL_HISTORY_MEMORY_MB``; it is replaced after ``TASKS_PER_CHILD`` jobs so
memory a query fragmented goes back to the system. At most ``PATROL_HISTORY_QUEUE`` requests
wait beyond the running ones: one more is refused at once (503, "busy"), never queued into
a timeout. A query whose plan reads more than ``PATROL_HISTORY_MAX_POINTS`` is refused before
it is submitted (``patrolwatch.archive.presence.plan``, 413). The web worker only waits on
the answer: its thread is free of the query's CPU and memory.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ClassVar, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
TASKS_PER_CHILD = 50
NICE = 10


class BusyError(RuntimeError):
    """Every pool slot and queue place is taken: the caller answers 503 at once."""


def _init(memory_mb: int, initializer: Callable[..., None] | None, args: tuple[Any, ...]) -> None:
    """Start a pool process: low priority, a small DuckDB, then the caller's own setup."""
    os.nice(NICE)
    from patrolwatch.archive.reader import configure_engine

    configure_engine(threads=1, memory_limit_mb=memory_mb)
    if initializer is not None:
        initializer(*args)


class HistoryPool:
    """A bounded pool of history processes with a bounded queue in front of it."""

    _made: ClassVar[weakref.WeakSet[HistoryPool]] = weakref.WeakSet()  # for close_all

    def __init__(self, workers: int, queue: int, memory_mb: int,
                 initializer: Callable[..., None] | None = None,
                 initargs: tuple[Any, ...] = ()) -> None:
        self.workers = workers
        self.places = threading.BoundedSemaphore(workers + queue)
        self.memory_mb = memory_mb
        self.initializer, self.initargs = initializer, initargs
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        HistoryPool._made.add(self)

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init,
                    initargs=(self.memory_mb, self.initializer, self.initargs),
                    max_tasks_per_child=TASKS_PER_CHILD)
            return self._executor

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in a pool process and return its answer; BusyError when full."""
        if not self.places.acquire(blocking=False):
            raise BusyError("history queries are busy (every history worker and queue place "
                            "is taken): try again in a minute, or ask for a shorter period")
        try:
            return self._pool().submit(fn, *args).result()
        except BrokenProcessPool:
            # A pool process died (killed, out of memory): start a fresh pool next time.
            with self._lock:
                self._executor = None
            raise BusyError("a history worker stopped while answering: try again, or "
                            "narrow the request (shorter period, smaller area)") from None
        finally:
            self.places.release()

    def close(self, wait: bool = False) -> None:
        """Stop the pool processes (the next request starts new ones)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)

    @classmethod
    def close_all(cls, wait: bool = True) -> None:
        """Stop every pool this process made, and (``wait``) their manager threads."""
        for pool in list(cls._made):
            pool.close(wait)
