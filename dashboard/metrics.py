"""The dashboard's /metrics in Prometheus format: counts read from Redis, no personal data.

Every figure comes from the store, so every gunicorn worker answers the same; the worker's
own per-process metrics are on its PATROL_METRICS_PORT. The counts still tell an outsider
how many units are in EMERGENCY or lost, so the route is not public: with
PATROL_METRICS_TOKEN set it needs ``Authorization: Bearer <token>`` (for Prometheus);
unset, it needs a signed-in admin (session or HTTP Basic).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import redis
from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dashboard.auth import allowed, auth_enabled, current_user
from dashboard.deps import Deps
from patrolwatch.bearer import BEARER_CHALLENGE, bearer_token_ok
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


def refusal(token: str | None) -> Response | None:
    """Return the 401/403 for a scrape that may not read /metrics, or None if it may."""
    if token:
        if bearer_token_ok(request.headers.get("Authorization"), token):
            return None
        response = jsonify({"error": "send Authorization: Bearer <PATROL_METRICS_TOKEN>"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = BEARER_CHALLENGE
        return response
    if allowed("admin"):
        return None
    signed_in = auth_enabled() and current_user() is not None
    response = jsonify({"error": "only an admin may read /metrics (or set PATROL_METRICS_TOKEN "
                                 "and send it as a bearer token)"})
    response.status_code = 403 if signed_in else 401
    if not signed_in:
        response.headers["WWW-Authenticate"] = 'Basic realm="PatrolWatch", charset="UTF-8"'
    return response


def register(server: Flask, deps: Deps) -> None:
    """Serve /metrics to the bearer token, or to admins while no token is set."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(deps))
    secret = deps.settings.metrics_token
    token = secret.get_secret_value() if secret else None

    @server.route("/metrics")
    def metrics() -> Response:
        refused = refusal(token)
        if refused is not None:
            return refused
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
