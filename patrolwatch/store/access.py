"""The access log: every read of history (trails, replay, presence, reports), for admins."""

from __future__ import annotations

import json
from typing import Any, cast

from patrolwatch.store.base import StoreBase
from patrolwatch.store.keys import ACCESS_RETENTION_S, K_ACCESS


class AccessStore(StoreBase):
    """Writes and reads of the history access log."""

    def log_access(self, entry: dict[str, Any]) -> None:
        """Record one read of history: ``ts``, ``user``, ``what`` and what it covered."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zadd(K_ACCESS, {json.dumps(entry, sort_keys=True): entry["ts"]})
        pipe.zremrangebyscore(K_ACCESS, "-inf", entry["ts"] - ACCESS_RETENTION_S)
        pipe.execute()

    def access_log(self, limit: int = 200) -> list[dict[str, Any]]:
        """Return the newest history reads first."""
        rows = cast(list[bytes], self.r.zrevrange(K_ACCESS, 0, limit - 1))
        return [json.loads(r) for r in rows]
