"""Prometheus metrics of one ingest process (served on PATROL_METRICS_PORT)."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from patrolwatch.mqtt import MqttClient
from patrolwatch.store import Batch, WriteResult

log = logging.getLogger(__name__)

BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class WorkerMetrics:
    """Counters and histograms in a registry of their own (one per worker, tests make many)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "patrolwatch_ingest_messages", "Messages by result (accepted, duplicate, rejected)"
            " and rejection reason", ["result", "reason"], registry=self.registry)
        self.batch_seconds = Histogram(
            "patrolwatch_ingest_batch_seconds", "Parse + store + ack time of one batch",
            buckets=BATCH_BUCKETS, registry=self.registry)
        self.batch_size = Histogram(
            "patrolwatch_ingest_batch_messages", "Messages per stored batch",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000), registry=self.registry)
        self.lag_seconds = Gauge(
            "patrolwatch_ingest_lag_seconds",
            "Receive-to-stored time of the oldest message of the last batch",
            registry=self.registry)
        self.inbox = Gauge("patrolwatch_ingest_inbox_messages",
                           "Messages received but not yet stored", registry=self.registry)
        self.reconnects = Gauge("patrolwatch_ingest_broker_reconnects",
                                "Broker reconnections since start", registry=self.registry)
        self.store_failures = Counter("patrolwatch_ingest_store_failures",
                                      "Batches that Redis refused (retried with backoff)",
                                      registry=self.registry)
        self.connected = Gauge("patrolwatch_ingest_broker_connected",
                               "1 while connected to the broker", registry=self.registry)

    def observe_batch(self, batch: Batch, result: WriteResult, seconds: float,
                      lag_s: float) -> None:
        """Record one stored batch."""
        self.batch_seconds.observe(seconds)
        self.batch_size.observe(len(batch))
        self.lag_seconds.set(lag_s)
        accepted = batch.accepted - result.duplicate_points
        if accepted:
            self.messages.labels("accepted", "").inc(accepted)
        if result.duplicate_points:
            self.messages.labels("duplicate", "").inc(result.duplicate_points)
        for rej in batch.rejections:
            self.messages.labels("rejected", rej.reason.value).inc()

    def follow(self, client: MqttClient) -> None:
        """Read the broker gauges from the client at each scrape, not only after a batch.

        Set after a stored batch alone, they said "connected" all through a broker outage,
        when no batch comes.
        """
        self.connected.set_function(lambda: 1.0 if client.connected else 0.0)
        self.reconnects.set_function(lambda: float(client.reconnects))

    def serve(self, port: int, host: str = "0.0.0.0") -> Any:
        """Serve /metrics on a thread; return the server (port 0 picks a free one)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        log.info("metrics on http://%s:%d/metrics", host, server.server_port)
        return server

