"""The dashboard's /metrics in Prometheus format: counts read from Redis, no personal data.

Every figure comes from the store, so every gunicorn worker answers the same; the worker's
own per-process metrics are on its PATROL_METRICS_PORT.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import redis
from flask import Flask, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dashboard.deps import Deps
from patrolwatch.live import unit_states


def _gauge(name: str, doc: str, value: float | None, labels: dict[str, str] | None = None
           ) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    if value is not None:
        family.add_metric(list((labels or {}).values()), value)
    return family


class StoreCollector(Collector):
    """Read the live figures from Redis at scrape time."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def collect(self) -> Iterator[Metric]:
        """Yield the metrics; only ``patrolwatch_redis_up`` when Redis is away."""
        now = time.time()
        try:
            rows, snapshot, stats = self.deps.store.dashboard_state()
        except redis.RedisError:
            yield _gauge("patrolwatch_redis_up", "1 when Redis answers", 0)
            return
        yield _gauge("patrolwatch_redis_up", "1 when Redis answers", 1)
        messages = GaugeMetricFamily("patrolwatch_messages", "Messages stored or refused, "
                                     "all workers, by result and reason",
                                     labels=["result", "reason"])
        messages.add_metric(["accepted", ""], stats.accepted_total)
        messages.add_metric(["duplicate", ""], stats.duplicates_total)
        for reason, count in sorted(stats.rejected_by_reason.items()):
            messages.add_metric(["rejected", reason], count)
        yield messages
        age = None if stats.last_message_ts is None else max(0.0, now - stats.last_message_ts)
        yield _gauge("patrolwatch_last_message_age_seconds",
                     "Time since the last accepted message", age)
        yield from self._units(rows, now)
        yield from self._coverage(snapshot, now)

    def _units(self, rows: Any, now: float) -> Iterator[Metric]:
        units = unit_states(rows, self.deps.roster, now, self.deps.settings.stale_after_s)
        by_status = GaugeMetricFamily("patrolwatch_units", "Units by status and contact",
                                      labels=["status", "lost_contact"])
        counts = Counter((u.status.value, str(u.stale).lower()) for u in units
                         if u.last_seen is not None)
        for (status, stale), n in sorted(counts.items()):
            by_status.add_metric([status, stale], n)
        yield by_status

    def _coverage(self, snapshot: dict[str, Any] | None, now: float) -> Iterator[Metric]:
        if snapshot is None:
            return
        yield _gauge("patrolwatch_coverage_age_seconds", "Time since the last evaluation",
                     max(0.0, now - float(snapshot.get("evaluated_at", now))))
        states = GaugeMetricFamily("patrolwatch_hotspots", "Hotspots by coverage state",
                                   labels=["state"])
        for state, n in sorted(Counter(h["state"] for h in
                                       snapshot.get("hotspots", {}).values()).items()):
            states.add_metric([state], n)
        yield states
        gaps = GaugeMetricFamily("patrolwatch_gaps", "Open gaps by kind", labels=["kind"])
        for kind, n in sorted(Counter(g["kind"] for g in snapshot.get("gaps", [])).items()):
            gaps.add_metric([kind], n)
        yield gaps


def register(server: Flask, deps: Deps) -> None:
    """Serve /metrics (public, like /healthz: counts only)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(deps))

    @server.route("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
