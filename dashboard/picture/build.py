"""Build the live picture (pure): what every control-room screen shows, as bytes.

One build turns what a refresh reads (``control_room.actions.Live``) into: the map's
units as compact entries, the side panel's view models as JSON parts with a digest each,
and the ``/api/units`` body.
Nothing here depends on who looks: role-specific controls (Task, Acknowledge) are added
when a screen renders a part, so the same bytes serve viewers and supervisors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from dashboard.control_room import view as views
from dashboard.coverage.view import GapRow, Unknown
from dashboard.palette import LOST_LABEL, LOST_ON_DARK, STATUS_LOOK
from dashboard.times import rfc3339
from patrolwatch.core.model import Status, UnitState

FLAG_LOST = 1  # drawn hollow and dashed: the last known place
FLAG_ACKED = 2  # an EMERGENCY a supervisor has acknowledged: no pulse
Entry = tuple[float, float, str, int]  # lon, lat, status code, flags
JSON_OPTS = orjson.OPT_NON_STR_KEYS  # Counts.by_status is keyed by Status

# Every side-panel part a build produces; a screen asks only for those whose digest changed.
PARTS = ("counts", "gaps", "alarms", "units0", "index", "lost", "hideout", "degraded", "feed")


@dataclass(frozen=True)
class Built:
    """One build: map entries, side-panel parts with digests, and the /api/units body."""

    entries: dict[str, Entry]
    parts: dict[str, bytes]
    digests: dict[str, str]
    api_units: bytes


def digest(data: bytes) -> str:
    """Return a short fingerprint of a part's bytes."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def dumps(value: Any) -> bytes:
    """Return compact JSON bytes (dataclasses and Status values included)."""
    return orjson.dumps(value, option=JSON_OPTS)


def map_entries(units: Iterable[UnitState], acked: Iterable[str] = ()) -> dict[str, Entry]:
    """Return every drawn unit's map entry: rounded position, status code, lost/acked flags."""
    acked_set = set(acked)
    out: dict[str, Entry] = {}
    for u in units:
        if not views.on_map(u):
            continue
        flags = FLAG_LOST if u.stale else 0
        if u.status is Status.EMERGENCY and u.id in acked_set:
            flags |= FLAG_ACKED
        out[u.id] = (round(u.lon or 0.0, views.COORD_DECIMALS),
                     round(u.lat or 0.0, views.COORD_DECIMALS),
                     STATUS_LOOK[u.status].code, flags)
    return out


def search_index(units: Iterable[UnitState]) -> list[list[Any]]:
    """Return every unit-list row with its search text, most urgent first (``view.unit_rows``).

    Row: ``[hay, id, callsign, team, status label, colour, lost, last_seen]``; ``hay`` is
    what ``view.matches`` searches, lower-cased. Built here in one pass rather than through
    ``view.unit_rows`` over the whole fleet (a third of a build at 10,000 units); the unit
    tests hold the two to the same answer.
    """
    keyed: list[tuple[tuple[int, str], list[Any]]] = []
    for u in views.reporting(units):
        look = STATUS_LOOK[u.status]
        lost = views.is_lost(u)
        emergency = u.status is Status.EMERGENCY
        shown_lost = lost and not emergency
        hay = " ".join([u.callsign, u.id, u.team, u.status.value, look.label,
                        LOST_LABEL if lost else ""]).lower()
        keyed.append(((0 if emergency else 1 if lost else 2, u.callsign),
                      [hay, u.id, u.callsign, u.team,
                       LOST_LABEL if shown_lost else look.label,
                       LOST_ON_DARK if shown_lost else look.colour, lost, u.last_seen]))
    keyed.sort(key=lambda pair: pair[0])
    return [row for _, row in keyed]


def index_rows(index: Sequence[Sequence[Any]]) -> list[views.UnitRow]:
    """Return search-index rows as the unit list's rows."""
    return [views.UnitRow(id=r[1], callsign=r[2], team=r[3], status=r[4], colour=r[5],
                          lost=r[6], last_seen=r[7]) for r in index]


# Formatting a time is most of /api/units at 10,000 units, and most units' times are the same
# from one build to the next: remember the last 64k (a memo of a pure function, not state).
_rfc3339 = lru_cache(maxsize=1 << 16)(rfc3339)


def api_units(units: Iterable[UnitState]) -> bytes:
    """Return the ``/api/units`` body (CONTRACT.md): ``api.units_json``, with times memoised."""
    return dumps({"units": [
        {"id": u.id, "callsign": u.callsign, "team": u.team, "status": u.status.value,
         "lat": u.lat, "lon": u.lon, "acc": u.acc, "ts": _rfc3339(u.ts), "stale": u.stale,
         "source": u.source}
        for u in views.reporting(units)]})


def side_parts(units: Sequence[UnitState], alarms: Sequence[views.Alarm],
               gaps: Sequence[GapRow], tasked: Mapping[str, Sequence[str]],
               hideout: Mapping[str, Any], problems: Sequence[str],
               stats: Mapping[str, Any], zone: Any,
               unknown: Unknown | None = None) -> dict[str, bytes]:
    """Return every side-panel part as JSON bytes (view models, not Dash components).

    ``unknown`` (active hotspots whose coverage is not known yet) goes with the gap list and
    the counts, so neither can read as an all-clear while the feed is young or stale.
    """
    index = search_index(units)
    rows = index_rows(index[:views.UNIT_LIST_LIMIT])
    more = max(0, len(index) - views.UNIT_LIST_LIMIT)
    return {
        "counts": dumps([views.count_units(units), len(gaps),
                         unknown.count if unknown is not None else 0]),
        "gaps": dumps({"rows": list(gaps), "tasked": dict(tasked), "unknown": unknown}),
        "alarms": dumps(list(alarms)),
        "units0": dumps({"rows": rows, "more": more}),
        "index": dumps(index),
        "lost": dumps(views.lost_rows(units, zone)),
        "hideout": dumps(dict(hideout)),
        "degraded": dumps(list(problems)),
        "feed": dumps(dict(stats)),
    }


def build(units: Sequence[UnitState], alarms: Sequence[views.Alarm],
          gaps: Sequence[GapRow], tasked: Mapping[str, Sequence[str]],
          hideout: Mapping[str, Any], problems: Sequence[str], stats: Mapping[str, Any],
          zone: Any, unknown: Unknown | None = None) -> Built:
    """Return the whole picture for one moment of live state."""
    parts = side_parts(units, alarms, gaps, tasked, hideout, problems, stats, zone, unknown)
    acked = [a.id for a in alarms if a.acked_by is not None]
    return Built(entries=map_entries(units, acked), parts=parts,
                 digests={k: digest(v) for k, v in parts.items()}, api_units=api_units(units))
