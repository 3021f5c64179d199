"""Prometheus metrics of one ingest process (served on PATROL_METRICS_PORT, see CONTRACT §2)."""

from __future__ import annotations

import hmac
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from patrolwatch.mqtt import MqttClient
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, WriteResult

log = logging.getLogger(__name__)

LOOPBACK, ANY = "127.0.0.1", "0.0.0.0"
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
        self.refused = Counter("patrolwatch_ingest_metrics_refused",
                               "Requests for /metrics without the bearer token",
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

    def serve(self, port: int, host: str = LOOPBACK, token: str | None = None
              ) -> ThreadingHTTPServer:
        """Serve /metrics on a thread; return the server (port 0 picks a free one).

        With ``token``, every request needs ``Authorization: Bearer <token>`` (401 otherwise).
        """
        expected = f"Bearer {token}".encode() if token is not None else None
        registry = self.registry

        class Handler(_MetricsHandler):
            pass

        Handler.registry, Handler.expected, Handler.refused = registry, expected, self.refused
        server_class = _Server6 if ":" in host else _Server
        server = server_class((host, port), Handler)
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        log.info("metrics on http://%s:%d/metrics (%s)", host, server.server_port,
                 "bearer token required" if expected else "no token: this machine only")
        return server


def bind_address(settings: Settings) -> tuple[str, str | None]:
    """Return where the worker's /metrics listens and the token it requires (CONTRACT §2).

    Without PATROL_METRICS_TOKEN only this machine may read it; with one, any interface
    (or PATROL_METRICS_HOST), since every request must then carry the token.
    """
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    host = settings.metrics_host or (ANY if token else LOOPBACK)
    return host, token


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _MetricsHandler(BaseHTTPRequestHandler):
    """GET /metrics in the Prometheus text format, behind an optional bearer token."""

    registry: CollectorRegistry
    refused: Counter
    expected: bytes | None = None
    server_version = "patrolwatch-ingest"
    sys_version = ""

    def do_GET(self) -> None:
        """Answer a scrape: 401 without the token, 404 off /metrics."""
        if self.expected is not None:
            # Header values arrive as latin-1 text: encoding them back is lossless.
            given = self.headers.get("Authorization", "").encode("latin-1", "replace")
            if not hmac.compare_digest(given, self.expected):  # constant time
                self.refused.inc()
                self._reply(401, b"a bearer token is required (PATROL_METRICS_TOKEN)\n",
                            "text/plain; charset=utf-8",
                            {"WWW-Authenticate": 'Bearer realm="patrolwatch-ingest"'})
                return
        if urlsplit(self.path).path not in ("/metrics", "/"):
            self._reply(404, b"not found: the metrics are at /metrics\n",
                        "text/plain; charset=utf-8")
            return
        self._reply(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)

    def _reply(self, status: int, body: bytes, content_type: str,
               headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing per request (refusals are counted instead of flooding the log)."""

