"""The store against a real Redis: retention of trails, forward-only latest state."""

from __future__ import annotations

import pytest
import redis

from patrolwatch.core.model import Position
from patrolwatch.store import (
    TRAIL_TRIM_EVERY_S,
    Batch,
    Store,
    extras_bucket,
    extras_expire_at,
    k_trail,
    k_trail_extras,
)

pytestmark = pytest.mark.integration
DAY = 86_400.0


def _batch(unit: str, *stamps: float) -> Batch:
    return Batch(positions=[Position(unit, ts, 51.5, -0.1, acc=5.0) for ts in stamps])


def test_trails_keep_only_the_retention_period_and_expire(redis_url: str) -> None:
    store = Store.from_url(redis_url, trail_retention_s=2 * DAY)
    now = 1_800_000_000.0
    store.write_batch(_batch("U1", now - 3 * DAY, now - DAY, now - 60), now=now)
    # Trimmed on the first write of this unit: the 3-day-old point is gone.
    assert [p[0] for p in store.trail("U1", 0, now)] == [now - DAY, now - 60]
    ttl = store.r.ttl(k_trail("U1"))
    assert 2 * DAY < ttl <= 2 * DAY + 2 * TRAIL_TRIM_EVERY_S
    # Within the hour no trim is spent; after it, old points go again.
    store.write_batch(_batch("U1", now - 2.5 * DAY), now=now + 60)
    assert store.trail_count("U1") == 3
    store.write_batch(_batch("U1", now), now=now + TRAIL_TRIM_EVERY_S + 1)
    assert [p[0] for p in store.trail("U1", 0, now)] == [now - DAY, now - 60, now]
    # The points' extras are in 10-minute buckets that expire once past retention.
    written = {now - DAY: now, now - 60: now, now: now + TRAIL_TRIM_EVERY_S + 1}
    for ts, at in written.items():
        key = k_trail_extras("U1", extras_bucket(ts))
        assert store.r.hget(key, repr(ts)) == b"|||n"
        ttl = extras_expire_at(extras_bucket(ts), 2 * DAY) - int(at)  # from its write's clock
        assert ttl - 5 <= store.r.ttl(key) <= ttl
        assert extras_expire_at(extras_bucket(ts), 2 * DAY) - (ts + 2 * DAY) <= 600 + 7200


def test_latest_position_only_moves_forward(redis_url: str) -> None:
    store = Store(redis.Redis.from_url(redis_url))
    now = 1_800_000_000.0
    store.write_batch(_batch("U2", now - 10), now=now)
    store.write_batch(_batch("U2", now - 20), now=now)
    assert store.live_rows().positions["U2"]["ts"] == now - 10
    assert store.trail_count("U2") == 2
