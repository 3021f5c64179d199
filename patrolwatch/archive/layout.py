"""Where archived rows live: datasets, ``day=YYYY-MM-DD/`` partitions and file names (pure).

A file holds one UTC hour of one dataset from one archiver batch and is named after the hour
and a hash of its content, so re-running a batch after a crash writes the same name with
the same bytes (an idempotent overwrite), never a second copy.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

POSITIONS = "positions"
STATUSES = "statuses"
HOTSPOT_STATES = "hotspot_states"
UNIT_HOURS = "unit_hours"  # each unit's bounding box per archived hour: "who was near here"
DATASETS = (POSITIONS, STATUSES, HOTSPOT_STATES, UNIT_HOURS)
HOUR_S = 3600.0
DAY_S = 86_400.0
_FILE_RE = re.compile(r"^h(\d\d)-([0-9a-f]{16})\.parquet$")
_DAY_RE = re.compile(r"^day=(\d{4}-\d\d-\d\d)$")


def day_of(ts: float) -> date:
    """Return the UTC day of an epoch time."""
    return datetime.fromtimestamp(ts, UTC).date()


def day_dir(dataset: str, day: date) -> str:
    """Return a day partition's folder, relative to the archive root."""
    return f"{dataset}/day={day.isoformat()}"


def file_name(hour_start: float, digest: str) -> str:
    """Return the name of the file holding the hour that starts at ``hour_start``."""
    return f"h{datetime.fromtimestamp(hour_start, UTC).hour:02d}-{digest[:16]}.parquet"


def parse_day(folder: str) -> date | None:
    """Return the day of a ``day=YYYY-MM-DD`` folder name, or None for anything else."""
    m = _DAY_RE.match(folder)
    if m is None:
        return None
    try:
        return date.fromisoformat(m.group(1))
    except ValueError:
        return None


def file_hour(name: str) -> int | None:
    """Return the UTC hour a data file holds, or None if the name is not an archive file."""
    m = _FILE_RE.match(name)
    return int(m.group(1)) if m else None


def hour_floor(ts: float) -> float:
    """Return the start of the UTC hour holding ``ts``."""
    return (ts // HOUR_S) * HOUR_S


def days_between(since: float, until: float) -> list[date]:
    """Return every UTC day that [since, until] touches, oldest first."""
    first, last = day_of(since), day_of(until)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def hour_start(day: date, hour: int) -> float:
    """Return the epoch time at which ``hour`` of ``day`` (UTC) starts."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp()


def expired_days(days: list[date], now: float, retention_s: float) -> list[date]:
    """Return the days whose last moment is older than the retention period (whole days)."""
    cutoff = now - retention_s
    return [d for d in days if hour_start(d, 0) + DAY_S <= cutoff]
