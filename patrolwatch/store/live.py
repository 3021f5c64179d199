"""Live state: the ingest's batch writes, and the dashboard's one-round-trip reads of it.

The dashboard's reads are answered from indexes the writer keeps (hashes, a GEO set, sorted
sets), each in one pipelined round trip: no SCAN or KEYS.
"""

from __future__ import annotations

import json
from typing import Any, cast

import orjson

from patrolwatch.store.batch import BatchStore
from patrolwatch.store.codec import as_text
from patrolwatch.store.keys import (
    K_COVERAGE,
    K_GEO,
    K_LWT,
    K_POS,
    K_REJECTIONS,
    K_SEEN,
    K_STATS,
    K_STATUS,
)
from patrolwatch.store.types import LiveRows, Stats


class LiveStore(BatchStore):
    """Writes of the ingest worker (``BatchStore``) and reads of live state."""

    # --- reads (dashboard, API) -----------------------------------------------------------
    def live_rows(self) -> LiveRows:
        """Read every unit's latest position, status, last-seen and last-will in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        self._queue_live(pipe)
        return self._live(*pipe.execute())

    def dashboard_state(self) -> tuple[LiveRows, dict[str, Any] | None, Stats]:
        """Read live rows, the coverage snapshot and the counters in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        self._queue_live(pipe)
        pipe.get(K_COVERAGE)
        pipe.hgetall(K_STATS)
        pos, status, seen, lwt, coverage, stats = pipe.execute()
        return (self._live(pos, status, seen, lwt),
                json.loads(coverage) if coverage else None, self._stats(stats))

    @staticmethod
    def _queue_live(pipe: Any) -> None:
        pipe.hgetall(K_POS)
        pipe.hgetall(K_STATUS)
        pipe.zrange(K_SEEN, 0, -1, withscores=True)
        pipe.hgetall(K_LWT)

    @staticmethod
    def _live(pos: dict[bytes, bytes], status: dict[bytes, bytes], seen: list[Any],
              lwt: dict[bytes, bytes]) -> LiveRows:
        return LiveRows(
            # orjson: parsing every unit's JSON is most of a dashboard refresh at 10,000 units
            positions={as_text(k): orjson.loads(v) for k, v in pos.items()},
            statuses={as_text(k): orjson.loads(v) for k, v in status.items()},
            seen={as_text(k): float(v) for k, v in seen},
            lwt={as_text(k): float(v) for k, v in lwt.items()},
        )

    def stats(self) -> Stats:
        """Return the ingest counters."""
        return self._stats(cast(dict[bytes, bytes], self.r.hgetall(K_STATS)))

    @staticmethod
    def _stats(rows: dict[bytes, bytes]) -> Stats:
        raw = {as_text(k): as_text(v) for k, v in rows.items()}
        by_reason = {
            k.split(":", 1)[1]: int(v) for k, v in raw.items() if k.startswith("rejected:")
        }
        last = raw.get("last_message_ts")
        return Stats(
            accepted_total=int(raw.get("accepted_total", 0)),
            rejected_total=int(raw.get("rejected_total", 0)),
            duplicates_total=int(raw.get("duplicates_total", 0)),
            rejected_by_reason=by_reason,
            last_message_ts=float(last) if last else None,
            acks_unknown_total=int(raw.get("acks_unknown_total", 0)),
            acks_repeated_total=int(raw.get("acks_repeated_total", 0)),
        )

    def count_unknown_acks(self, unknown: int, repeated: int = 0) -> None:
        """Count acks not audited: for no open tasking of their unit, or a repeated answer."""
        if unknown or repeated:
            pipe = self.r.pipeline(transaction=False)
            pipe.hincrby(K_STATS, "acks_unknown_total", unknown)
            pipe.hincrby(K_STATS, "acks_repeated_total", repeated)
            pipe.execute()

    def recent_rejections(self, limit: int = 50) -> list[dict[str, Any]]:
        """Return the most recent rejections, newest first."""
        rows = cast(list[bytes], self.r.lrange(K_REJECTIONS, 0, limit - 1))
        return [json.loads(r) for r in rows]

    def units_near(self, lat: float, lon: float, radius_m: float) -> list[tuple[str, float]]:
        """Return units within a radius of a point, nearest first, with distances in metres."""
        rows = self.r.geosearch(K_GEO, longitude=lon, latitude=lat, radius=radius_m, unit="m",
                                withdist=True, sort="ASC")
        return [(as_text(name), float(dist)) for name, dist in cast(list[Any], rows)]

    def unit_status(self, unit: str) -> dict[str, Any] | None:
        """Return a unit's latest status (``{status, ts, note}``), or None if it sent none."""
        raw = self.r.hget(K_STATUS, unit)
        return json.loads(cast(bytes, raw)) if raw else None

    def last_seen(self, unit: str) -> float | None:
        """Return the event time of a unit's newest accepted message, or None if never seen."""
        score = self.r.zscore(K_SEEN, unit)
        return None if score is None else float(score)

    def seen_units(self) -> list[str]:
        """Return every unit that has sent an accepted message."""
        return [as_text(u) for u in cast(list[bytes], self.r.zrange(K_SEEN, 0, -1))]

