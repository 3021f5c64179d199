"""The access log: every read of history (trails, visits, replay, presence, reports), for admins.

Entries are JSON members of one sorted set scored by time, kept ``ACCESS_RETENTION_S``. A
read that repeats while someone keeps looking (a replay playing through a period, a panel
refreshing) is written once: ``log_access_once`` keeps a marker per user and scope for a
while and writes the entry only when the marker is new, in one atomic script.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

from patrolwatch.store.base import StoreBase
from patrolwatch.store.keys import ACCESS_RETENTION_S, K_ACCESS, k_access_seen

PAGE_MAX = 1000


class AccessStore(StoreBase):
    """Writes and reads of the history access log."""

    def log_access(self, entry: dict[str, Any]) -> None:
        """Record one read of history: ``ts``, ``user``, ``what`` and what it covered."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zadd(K_ACCESS, {json.dumps(entry, sort_keys=True): entry["ts"]})
        pipe.zremrangebyscore(K_ACCESS, "-inf", entry["ts"] - ACCESS_RETENTION_S)
        pipe.execute()

    def log_access_once(self, entry: dict[str, Any], scope: str, ttl_s: float) -> bool:
        """Record the read unless the same user read the same ``scope`` in the last ``ttl_s``.

        Returns whether an entry was written. The marker and the entry are written together
        (one script), so a read is never marked as logged without its entry.
        """
        marker = k_access_seen(hashlib.sha256(
            f"{entry['user']}\x00{scope}".encode("utf-8", "replace")).hexdigest())
        script = getattr(self, "_once_script", None)
        if script is None:
            script = self.r.register_script(LOG_ONCE)
            self._once_script = script
        written = script(keys=[marker, K_ACCESS], args=[
            max(1, int(ttl_s)), json.dumps(entry, sort_keys=True), repr(entry["ts"]),
            repr(entry["ts"] - ACCESS_RETENTION_S)])
        return bool(written)

    def access_log(self, limit: int = 200) -> list[dict[str, Any]]:
        """Return the newest history reads first."""
        return [entry for _, entry in self.access_page(limit)]

    def access_page(self, limit: int = 200, before: float | None = None,
                    since: float | None = None) -> list[tuple[float, dict[str, Any]]]:
        """Return up to ``limit`` reads older than ``before`` (and not before ``since``),
        newest first, each with its exact score (the next page's ``before``)."""
        top = "+inf" if before is None else f"({before!r}"
        bottom = "-inf" if since is None else repr(since)
        rows = cast(list[tuple[bytes, float]], self.r.zrevrangebyscore(
            K_ACCESS, top, bottom, start=0, num=max(1, min(limit, PAGE_MAX)), withscores=True))
        return [(score, json.loads(member)) for member, score in rows]


# KEYS: marker, log. ARGV: ttl s, entry JSON, its time, the oldest time kept. 1 if written.
LOG_ONCE = r"""
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
return 1
"""
