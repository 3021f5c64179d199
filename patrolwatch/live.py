"""Turn the store's raw live rows and the roster into UnitState values (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from patrolwatch.core.model import DEFAULT_STATUS, Source, Status, UnitState, is_stale
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
_SOURCES: dict[object, Source] = {"native": "native", "owntracks": "owntracks", "tetra": "tetra"}


def unit_states(rows: LiveState, roster: Roster, now: float, stale_after_s: float
                ) -> list[UnitState]:
    """Return every roster unit and every unit that has reported, sorted by id."""
    positions, statuses, seen, lwt = rows.positions, rows.statuses, rows.seen, rows.lwt
    ids = set(roster.units) | set(positions) | set(statuses) | set(seen)
    return [unit_state(unit, roster, positions.get(unit), statuses.get(unit), seen.get(unit),
                       lwt.get(unit), now, stale_after_s) for unit in sorted(ids)]


def unit_state(unit: str, roster: Roster, pos: Mapping[str, Any] | None,
               st: Mapping[str, Any] | None, last_seen: float | None, lwt_ts: float | None,
               now: float, stale_after_s: float) -> UnitState:
    """Return one unit's state from its raw rows."""
    entry = roster.get(unit)
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
        last_seen=last_seen,
        lwt_ts=lwt_ts,
    )
    if pos:
        state.lat, state.lon = pos["lat"], pos["lon"]
        state.acc, state.speed = pos.get("acc"), pos.get("speed")
        state.heading, state.battery = pos.get("heading"), pos.get("battery")
        state.ts = pos["ts"]
        state.source = _SOURCES.get(pos.get("source"), "native")
    state.stale = is_stale(state.last_seen, state.lwt_ts, now, stale_after_s)
    return state


Rows = tuple[Any, Any, float | None, float | None]


class StateCache:
    """``unit_states`` for a caller that reads every unit again and again (the picture producer).

    A unit whose rows equal the last call's keeps its ``UnitState`` (only its time-dependent
    ``stale`` flag is recomputed): at 10,000 units a fifth move per second, and building the
    other four fifths again was most of the work. Callers must not mutate what they get.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[Rows, UnitState]] = {}

    def __call__(self, rows: LiveState, roster: Roster, now: float, stale_after_s: float
                 ) -> list[UnitState]:
        """Return what ``unit_states`` returns for these rows."""
        positions, statuses, seen, lwt = rows.positions, rows.statuses, rows.seen, rows.lwt
        ids = set(roster.units) | set(positions) | set(statuses) | set(seen)
        last, kept = self._last, {}
        out: list[UnitState] = []
        for unit in sorted(ids):
            raw: Rows = (positions.get(unit), statuses.get(unit), seen.get(unit), lwt.get(unit))
            hit = last.get(unit)
            if hit is not None and hit[0] == raw:
                state = hit[1]
                stale = is_stale(raw[2], raw[3], now, stale_after_s)
                if stale is not state.stale:
                    state = replace(state, stale=stale)
            else:
                state = unit_state(unit, roster, *raw, now, stale_after_s)
            kept[unit] = (raw, state)
            out.append(state)
        self._last = kept
        return out
