"""Per-unit message rate limit: a token bucket on each unit's own message clock.

A unit may send ``rate`` messages per second averaged over ``window_s`` (CONTRACT.md
section 2, ``PATROL_UNIT_MAX_RATE``): its bucket holds ``rate * window_s`` tokens, refilled
at ``rate`` per second, and each message takes one.

The clock is each message's effective time ``min(ts, arrival)``, not the moment the worker
reads it: a handheld that was out of coverage for ten minutes and then flushes its queue, or
a backlog the broker held while the worker was down, arrives in one burst but was *sent* at
the device's usual pace, and is kept. A flooding device cannot run its clock ahead of the
arrival time, and re-using old timestamps refills nothing (the clock only moves forward).
Nor can it walk an old clock forward: a bucket's clock never lags the arrival time by more
than ``backlog_s`` (the longest backlog honoured, default a day), so a device sending
ever-increasing timestamps from long ago gets at most one backlog's worth of messages once,
and then ``rate`` per second of real time.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_TRACKED_UNITS = 200_000  # beyond this, units idle for a full window are forgotten
BACKLOG_S = 86_400.0  # the longest store-and-forward or broker backlog kept at full rate


@dataclass(slots=True)
class _Bucket:
    tokens: float
    clock: float  # the latest message time this bucket has refilled up to


class RateLimiter:
    """Token buckets per unit; memory bounded by forgetting full (idle) buckets."""

    def __init__(self, rate: float, window_s: float = 10.0,
                 max_units: int = MAX_TRACKED_UNITS, backlog_s: float = BACKLOG_S) -> None:
        if rate <= 0 or window_s <= 0:
            raise ValueError("rate and window_s must be positive")
        self.rate = rate
        self.capacity = rate * window_s
        self.window_s = window_s
        self.max_units = max_units
        self.backlog_s = backlog_s
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, unit: str, at: float, arrival: float | None = None) -> bool:
        """Take one token from ``unit``'s bucket at message time ``at``; False if empty.

        With ``arrival``, a message time older than ``arrival - backlog_s`` counts as that.
        """
        if arrival is not None:
            at = max(at, arrival - self.backlog_s)
        bucket = self._buckets.get(unit)
        if bucket is None:
            if len(self._buckets) >= self.max_units:
                self._forget_idle(at)
            bucket = self._buckets[unit] = _Bucket(self.capacity, at)
        elif at > bucket.clock:
            bucket.tokens = min(self.capacity, bucket.tokens + (at - bucket.clock) * self.rate)
            bucket.clock = at
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that would be full again by ``now``: forgetting them changes nothing."""
        idle = [u for u, b in self._buckets.items()
                if b.tokens + (now - b.clock) * self.rate >= self.capacity]
        for unit in idle:
            del self._buckets[unit]
        if len(self._buckets) >= self.max_units:  # a flood of fresh ids: start over
            self._buckets.clear()

    def __len__(self) -> int:
        return len(self._buckets)
