"""Turn the store's raw live rows and the roster into UnitState values (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from patrolwatch.core.model import DEFAULT_STATUS, Status, UnitState, is_stale
from patrolwatch.roster import Roster


class LiveState(Protocol):
    """The raw live rows (``store.LiveRows``): latest position, status, last seen, last-will."""

    @property
    def positions(self) -> Mapping[str, Mapping[str, Any]]: ...
    @property
    def statuses(self) -> Mapping[str, Mapping[str, Any]]: ...
    @property
    def seen(self) -> Mapping[str, float]: ...
    @property
    def lwt(self) -> Mapping[str, float]: ...


# A dict lookup, not Status(value): the enum call was a fifth of a 10,000-unit dashboard read.
_STATUSES: dict[object, Status] = {s.value: s for s in Status}


def unit_states(rows: LiveState, roster: Roster, now: float, stale_after_s: float
                ) -> list[UnitState]:
    """Return every roster unit and every unit that has reported, sorted by id."""
    positions, statuses, seen, lwt = rows.positions, rows.statuses, rows.seen, rows.lwt
    ids = set(roster.units) | set(positions) | set(statuses) | set(seen)
    out: list[UnitState] = []
    for unit in sorted(ids):
        entry = roster.get(unit)
        pos = positions.get(unit)
        st = statuses.get(unit)
        status = _STATUSES.get(st.get("status"), DEFAULT_STATUS) if st else DEFAULT_STATUS
        state = UnitState(
            id=unit,
            callsign=entry.callsign if entry else unit,
            team=entry.team if entry else "unregistered",
            kind=entry.kind if entry else "foot",
            registered=entry is not None,
            status=status,
            status_ts=st.get("ts") if st else None,
            note=st.get("note") if st else None,
            last_seen=seen.get(unit),
            lwt_ts=lwt.get(unit),
        )
        if pos:
            state.lat, state.lon = pos["lat"], pos["lon"]
            state.acc, state.speed = pos.get("acc"), pos.get("speed")
            state.heading, state.battery = pos.get("heading"), pos.get("battery")
            state.ts = pos["ts"]
            state.source = "owntracks" if pos.get("source") == "owntracks" else "native"
        state.stale = is_stale(state.last_seen, state.lwt_ts, now, stale_after_s)
        out.append(state)
    return out
