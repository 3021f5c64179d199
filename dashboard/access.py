"""Record every read of history in the access log (CONTRACT.md section 4, DOMAIN.md Privacy)."""

from __future__ import annotations

import time
from typing import Any

from patrolwatch.store import Store


def record_read(store: Store, user: str, what: str, **detail: Any) -> None:
    """Log that ``user`` read ``what`` (e.g. ``trail``, ``replay_frame``), with its scope.

    ``detail`` says whom and which period: ``unit=``, ``hotspot=``, ``since=``, ``until=``
    (epoch seconds or RFC 3339 strings), ``at=``. Called before the data is returned, so a
    read that the log cannot record is not served (the caller lets RedisError through).
    """
    store.log_access({"ts": time.time(), "user": user, "what": what, **detail})
