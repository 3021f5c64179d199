"""The MQTT -> Redis ingest worker.

paho's network thread hands every message to a queue; this worker's loop takes them in
batches, parses each once, stores the batch in pipelined round trips and only then
acknowledges the messages to the broker (manual acks, persistent session). A crash between
receive and store therefore loses nothing: the broker re-sends what was not acknowledged,
and the store keeps a re-delivered message once.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from ingest.alarms import answer_checkins
from ingest.metrics import WorkerMetrics
from patrolwatch.core.messages import ParseContext, parse_message
from patrolwatch.core.model import (
    Ack,
    LostContact,
    Message,
    Position,
    RadioReport,
    Reason,
    Rejection,
    StatusChange,
    UnitEvent,
)
from patrolwatch.core.ratelimit import RateLimiter
from patrolwatch.core.timeline import exempt_from_rate_limit
from patrolwatch.core.topics import subscriptions
from patrolwatch.mqtt import Inbound, MqttClient
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store, WriteResult

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 10.0


def build_batch(messages: list[Inbound], ctx: ParseContext, now: float,
                limiter: RateLimiter | None = None) -> Batch:
    """Parse every message once and sort the results into a batch to store.

    Each message is parsed as of its own arrival, kept strictly increasing within the batch
    so that arrival order settles ties (core.ordering). A unit over its rate has the excess
    rejected as ``rate_limited``; an EMERGENCY is never limited.
    """
    batch = Batch()
    last = -math.inf
    for msg in messages:
        arrival = msg.received if msg.received > last else last + 1e-6
        last = arrival
        result = parse_message(msg.topic, msg.payload, min(arrival, now), ctx, msg.retain)
        if isinstance(result, RadioReport):  # a radio's emergency is never rate limited
            if result.emergency is not None:
                batch.statuses.append(result.emergency)
            result = result.position
        if limiter is not None and not isinstance(result, Rejection):
            result = _limited(result, msg, arrival, limiter)
        if isinstance(result, Position):
            batch.positions.append(result)
        elif isinstance(result, StatusChange):
            batch.statuses.append(result)
        elif isinstance(result, Ack):
            batch.acks.append(result)
        elif isinstance(result, LostContact):
            batch.lost.append(result)
        elif isinstance(result, UnitEvent):
            batch.events.append(result)
        elif isinstance(result, Rejection):
            log.debug("rejected %s: %s", result.topic, result.detail)
            batch.rejections.append(result)
    return batch


def _limited(result: Message, msg: Inbound, arrival: float,
             limiter: RateLimiter) -> Message | Rejection:
    """Return the message, or a rate_limited rejection if its unit is over its rate."""
    if isinstance(result, StatusChange) and exempt_from_rate_limit(result.status):
        return result  # never dropped, never counted against the unit
    if limiter.allow(result.unit, min(result.ts, arrival), arrival):
        return result
    return Rejection(Reason.RATE_LIMITED, f"unit {result.unit} sent more than "
                     f"{limiter.rate:g} messages/s averaged over {limiter.window_s:g} s",
                     msg.topic[:256], bytes(msg.payload[:200]))


@dataclass
class WorkerStats:
    """In-process counters for logs and /metrics."""

    batches: int = 0
    messages: int = 0
    store_failures: int = 0
    last_batch_ms: float = 0.0
    last_lag_s: float = 0.0


class IngestWorker:
    """Receive, parse, store, then acknowledge; reconnect to the broker and Redis by itself."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        ctx: ParseContext,
        *,
        client_id: str | None = None,
        on_stored: Callable[[Batch], None] | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.ctx = ctx
        self.on_stored = on_stored
        self.inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        self.stats = WorkerStats()
        self.metrics = metrics or WorkerMetrics()
        # Per process: workers sharing a subscription each limit the share they receive.
        self.limiter = RateLimiter(settings.unit_max_rate, settings.unit_rate_window_s)
        self.client = MqttClient(
            settings.mqtt_url,
            client_id or settings.ingest_client_id,
            clean_session=False,
            manual_ack=True,
            subscriptions=subscriptions(settings.ingest_share_group),
            on_message=self.inbox.put,
        )

    def take_batch(self, first_wait_s: float = 0.5) -> list[Inbound]:
        """Take up to batch_max messages: wait for the first, then briefly gather more."""
        try:
            first = self.inbox.get(timeout=first_wait_s)
        except queue.Empty:
            return []
        messages = [first]
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000.0
        while len(messages) < self.settings.batch_max:
            try:
                messages.append(self.inbox.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                messages.append(self.inbox.get(timeout=remaining))
            except queue.Empty:
                break
        return messages

    def store_until_done(self, batch: Batch, stop: threading.Event) -> WriteResult | None:
        """Store a batch, retrying with backoff while Redis is away; None if stopped first."""
        delay = BACKOFF_MIN_S
        while True:
            try:
                result = self.store.write_batch(batch)
                if delay > BACKOFF_MIN_S:
                    log.info("Redis is back; stored the held batch of %d messages", len(batch))
                return result
            except redis.RedisError as exc:
                self.stats.store_failures += 1
                self.metrics.store_failures.inc()
                log.warning("cannot store a batch of %d messages in Redis (%s); holding it "
                            "unacknowledged and retrying in %.1f s", len(batch), exc, delay)
            if stop.wait(delay):
                return None
            delay = min(delay * 2, BACKOFF_MAX_S)

    def process(self, messages: list[Inbound], stop: threading.Event) -> bool:
        """Parse, store and acknowledge one batch; False if stopped before it was stored."""
        started = time.perf_counter()
        batch = build_batch(messages, self.ctx, time.time(), self.limiter)
        result = self.store_until_done(batch, stop)
        if result is None:
            return False
        answer_checkins(self.store, batch.acks, time.time())  # welfare check-ins (issue 18)
        for msg in messages:
            self.client.ack(msg)
        elapsed = time.perf_counter() - started
        self.stats.batches += 1
        self.stats.messages += len(messages)
        self.stats.last_batch_ms = elapsed * 1000.0
        self.stats.last_lag_s = max(0.0, time.time() - messages[0].received)
        self.metrics.observe_batch(batch, result, elapsed, self.stats.last_lag_s)
        self.metrics.inbox.set(self.inbox.qsize())
        self.metrics.reconnects.set(self.client.reconnects)
        self.metrics.connected.set(1 if self.client.connected else 0)
        if self.on_stored is not None:
            self.on_stored(batch)
        return True

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; unacknowledged messages are re-sent by the broker later."""
        log.info("ingest worker connecting to %s (client id %s, subscriptions %s)",
                 self.client.address, self.client.client_id,
                 ", ".join(t for t, _ in subscriptions(self.settings.ingest_share_group)))
        self.client.start()
        try:
            while not stop.is_set():
                messages = self.take_batch()
                if messages and not self.process(messages, stop):
                    break
        finally:
            self.client.stop()
            log.info("ingest worker stopped after %d messages in %d batches",
                     self.stats.messages, self.stats.batches)
