"""The live picture: the live-state version counter, the producer's lock, the built parts.

The producer (dashboard/picture/producer.py) writes one hash of pre-serialised parts per
version and one small map delta ("step") per version; every dashboard process reads them.
All picture keys share the ``{pic}`` hash tag, so a read of several is one slot on a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from patrolwatch.store.base import StoreBase
from patrolwatch.store.codec import as_text
from patrolwatch.store.keys import (
    K_LIVE_VERSION,
    K_PICTURE,
    K_PICTURE_LOCK,
    PICTURE_STEP_TTL_S,
    k_picture_step,
)

# Take the lock if free, or renew it if this owner holds it: one round trip, no race
# between the GET and the PEXPIRE.
_TAKE_OR_RENEW = """
local holder = redis.call('GET', KEYS[1])
if (not holder) or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def bump_live_version(pipe: Any) -> None:
    """Queue the increment that tells the picture producer live state changed."""
    pipe.incr(K_LIVE_VERSION)


class PictureStore(StoreBase):
    """Reads and writes of the live picture and its producer's lock."""

    def live_version(self) -> int:
        """Return the live-state version counter (0 before the first batch)."""
        raw = self.r.get(K_LIVE_VERSION)
        return int(cast(bytes, raw)) if raw else 0

    def acquire_picture_lock(self, owner: str, ttl_s: float) -> bool:
        """Take or renew the single-producer lock; tell whether this owner holds it."""
        got = self.r.eval(_TAKE_OR_RENEW, 1, K_PICTURE_LOCK, owner, int(ttl_s * 1000))
        return bool(got)

    def release_picture_lock(self, owner: str) -> None:
        """Give up the producer lock if this owner holds it."""
        self.r.eval(_RELEASE, 1, K_PICTURE_LOCK, owner)

    def picture_fields(self, names: Sequence[str]) -> list[bytes | None]:
        """Return these fields of the current picture (None for a missing one), one HMGET."""
        return cast(list[bytes | None], self.r.hmget(K_PICTURE, list(names)))

    def picture_steps(self, after: int, upto: int) -> list[bytes | None]:
        """Return the map deltas of versions ``after + 1`` to ``upto``, oldest first."""
        if upto <= after:
            return []
        keys = [k_picture_step(v) for v in range(after + 1, upto + 1)]
        return cast(list[bytes | None], self.r.mget(keys))

    def write_picture(self, fields: Mapping[str, bytes | str], version: int | None = None,
                      step: bytes | None = None) -> None:
        """Store picture fields and, with a new version, its map delta, in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        if version is not None and step is not None:
            # The step goes first: a reader that sees the new version finds its step.
            pipe.set(k_picture_step(version), step, ex=PICTURE_STEP_TTL_S)
        pipe.hset(K_PICTURE, mapping=dict(fields))  # type: ignore[arg-type]  # bytes|str values
        pipe.execute()

    def picture_holder(self) -> str | None:
        """Return who holds the producer lock now (None when nobody does)."""
        raw = self.r.get(K_PICTURE_LOCK)
        return as_text(cast(bytes, raw)) if raw else None
