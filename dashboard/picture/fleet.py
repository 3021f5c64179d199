"""The producer's fleet: every unit's state and its picture pieces, redone only where it changed.

``build.build`` walks the whole fleet; at 10,000 units with 2,000 moving a second that walk
(and rereading every unit from Redis) was the producer's whole cost. A ``Fleet`` keeps, per
unit, its raw rows, its ``UnitState`` and the bytes it contributes to each whole-fleet part
(map entry, ``/api/units`` row, search-index row, lost row), and redoes them only for the
units the ingest marked as changed, plus those whose lost-contact state turned with time (a
heap of deadlines). A whole part is then the cached pieces joined in order: the same bytes
``build.build`` gives for the same states (the unit tests hold the two together).
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson

from dashboard.control_room import view as views
from dashboard.coverage.view import GapRow, Unknown
from dashboard.palette import LOST_LABEL, LOST_ON_DARK, STATUS_LOOK
from dashboard.picture.build import (
    FLAG_ACKED,
    FLAG_LOST,
    Built,
    Entry,
    _rfc3339,
    digest,
    dumps,
    index_rows,
)
from patrolwatch.core.model import Status, UnitState, is_stale
from patrolwatch.live import LiveState, unit_state
from patrolwatch.roster import Roster

Rows = tuple[Any, Any, float | None, float | None]  # position, status, last seen, last-will
_NONE: Rows = (None, None, None, None)


class Fleet:
    """Unit states and their cached picture pieces, kept current one unit at a time."""

    def __init__(self, roster: Roster, stale_after_s: float) -> None:
        self.roster = roster
        self.stale_after_s = stale_after_s
        self.rows: dict[str, Rows] = {}
        self.states: dict[str, UnitState] = {}
        self.order: list[str] = []  # every unit id, sorted (the order build.build sees them in)
        self.entries: dict[str, Entry] = {}  # units on the map
        # Kept in id order (``_resort`` after a unit appears), so a whole part is one join.
        self._entry_bytes: dict[str, bytes] = {}
        self._api: dict[str, bytes] = {}  # reporting units' /api/units rows
        self._resort = False
        self._index: dict[str, tuple[tuple[int, str, str], bytes, list[Any]]] = {}
        self._keys: list[tuple[int, str, str]] = []  # the index's sort keys, kept sorted
        self.urgent = False  # a status changed or a unit appeared: the side panel should follow now
        self.lost: set[str] = set()
        self.emergency: set[str] = set()
        self.acked: frozenset[str] = frozenset()
        # Units whose map entry may have changed since the last take, with their entry then.
        self.touched: dict[str, Entry | None] = {}
        self._deadlines: list[tuple[float, str]] = []  # one entry per unit at most
        self._queued: set[str] = set()

    # --- updates ------------------------------------------------------------------------------
    def load(self, rows: LiveState, now: float) -> None:
        """Start from every unit's rows (a full read)."""
        ids = (set(self.roster.units) | set(rows.positions) | set(rows.statuses)
               | set(rows.seen))
        self.update({u: (rows.positions.get(u), rows.statuses.get(u), rows.seen.get(u),
                         rows.lwt.get(u)) for u in ids}, now)

    def update(self, changed: Mapping[str, Rows], now: float) -> None:
        """Take these units' current rows (a unit with no rows left keeps a roster entry)."""
        new = False
        for unit, raw in changed.items():
            if raw[0] is None and raw[1] is None and raw[2] is None and (
                    unit not in self.roster.units):
                # unit_states lists a unit only once it sent something or is on the roster.
                if unit in self.states:
                    self._drop(unit)
                    new = True
                continue
            if unit not in self.states:
                new = True
            elif self.rows.get(unit) == raw:
                continue
            self.rows[unit] = raw
            self._set(unit, unit_state(unit, self.roster, *raw, now, self.stale_after_s))
        if new:
            self.order = sorted(self.states)
        self.expire(now)

    def expire(self, now: float) -> None:
        """Turn the units whose silence passed ``stale_after_s`` by ``now`` into lost contact."""
        heap = self._deadlines
        while heap and heap[0][0] < now:
            _, unit = heapq.heappop(heap)
            self._queued.discard(unit)
            state = self.states.get(unit)
            if state is None or state.stale:
                continue
            if is_stale(state.last_seen, state.lwt_ts, now, self.stale_after_s):
                self._set(unit, replace(state, stale=True))
            else:  # seen again since it was queued: its deadline moved on
                self._queue(unit, state)

    def set_acked(self, acked: Iterable[str]) -> None:
        """Mark which EMERGENCY units a supervisor has acknowledged (drawn without the pulse)."""
        new = frozenset(acked)
        if new == self.acked:
            return
        flipped = new ^ self.acked
        self.acked = new
        for unit in flipped:
            state = self.states.get(unit)
            if state is not None:
                self._pieces(unit, state)

    def _drop(self, unit: str) -> None:
        del self.states[unit], self.rows[unit]
        self.touched.setdefault(unit, self.entries.get(unit))
        self.entries.pop(unit, None)
        self._entry_bytes.pop(unit, None)
        self._api.pop(unit, None)
        self._unindex(unit)
        self.lost.discard(unit)
        self.emergency.discard(unit)
        self.urgent = True

    def _set(self, unit: str, state: UnitState) -> None:
        old = self.states.get(unit)
        self.states[unit] = state
        if unit not in self._queued:
            self._queue(unit, state)
        if old is None or old.status is not state.status:
            self.urgent = True
        self._pieces(unit, state)

    def _queue(self, unit: str, state: UnitState) -> None:
        """Queue the moment a unit in contact turns lost if it stays silent."""
        if not state.stale and state.last_seen is not None:
            heapq.heappush(self._deadlines, (state.last_seen + self.stale_after_s, unit))
            self._queued.add(unit)

    def _unindex(self, unit: str) -> None:
        old = self._index.pop(unit, None)
        if old is not None:
            keys = self._keys
            del keys[bisect.bisect_left(keys, old[0])]

    def _pieces(self, unit: str, u: UnitState) -> None:
        """Redo one unit's map entry, /api/units row, index row and lost/emergency marks."""
        self.touched.setdefault(unit, self.entries.get(unit))
        if views.on_map(u):
            flags = FLAG_LOST if u.stale else 0
            if u.status is Status.EMERGENCY and unit in self.acked:
                flags |= FLAG_ACKED
            entry = (round(u.lon or 0.0, views.COORD_DECIMALS),
                     round(u.lat or 0.0, views.COORD_DECIMALS), STATUS_LOOK[u.status].code, flags)
            if self.entries.get(unit) != entry:
                if unit not in self._entry_bytes:
                    self._resort = True
                self.entries[unit] = entry
                self._entry_bytes[unit] = orjson.dumps([unit, *entry])
        elif unit in self.entries:
            del self.entries[unit], self._entry_bytes[unit]
        (self.emergency.add if u.status is Status.EMERGENCY else self.emergency.discard)(unit)
        lost = views.is_lost(u)
        (self.lost.add if lost else self.lost.discard)(unit)
        if u.last_seen is None:
            self._api.pop(unit, None)
            self._unindex(unit)
            return
        if unit not in self._api:
            self._resort = True
        self._api[unit] = dumps(
            {"id": u.id, "callsign": u.callsign, "team": u.team, "status": u.status.value,
             "lat": u.lat, "lon": u.lon, "acc": u.acc, "ts": _rfc3339(u.ts), "stale": u.stale,
             "source": u.source})
        # As build.search_index: the row and its sort key (urgency, callsign; ties by id).
        look = STATUS_LOOK[u.status]
        emergency = u.status is Status.EMERGENCY
        shown_lost = lost and not emergency
        hay = " ".join([u.callsign, u.id, u.team, u.status.value, look.label,
                        LOST_LABEL if lost else ""]).lower()
        row = [hay, u.id, u.callsign, u.team, LOST_LABEL if shown_lost else look.label,
               LOST_ON_DARK if shown_lost else look.colour, lost, u.last_seen]
        key = (0 if emergency else 1 if lost else 2, u.callsign, u.id)
        old = self._index.get(unit)
        if old is None or old[0] != key:
            if old is not None:
                del self._keys[bisect.bisect_left(self._keys, old[0])]
            bisect.insort(self._keys, key)
        self._index[unit] = (key, dumps(row), row)

    # --- reads --------------------------------------------------------------------------------
    def take_changes(self) -> tuple[list[list[object]], list[str]]:
        """Return (entries new or changed, ids gone from the map) since the last take."""
        touched, self.touched = self.touched, {}
        changed: list[list[object]] = []
        gone: list[str] = []
        for unit in sorted(touched):
            before, entry = touched[unit], self.entries.get(unit)
            if entry == before:
                continue
            if entry is None:
                gone.append(unit)
            else:
                changed.append([unit, *entry])
        return changed, gone

    def units(self) -> list[UnitState]:
        """Return every unit's state, sorted by id (what ``unit_states`` returns)."""
        states = self.states
        return [states[u] for u in self.order]

    def _in_order(self) -> None:
        if self._resort:
            self._entry_bytes = {u: self._entry_bytes[u] for u in sorted(self._entry_bytes)}
            self._api = {u: self._api[u] for u in sorted(self._api)}
            self._resort = False

    def full_layer(self, version: int) -> bytes:
        """Return ``delta.full_bytes(version, entries)`` from the cached pieces."""
        self._in_order()
        return (b'{"v":%d,"full":true,"u":[' % version
                + b",".join(self._entry_bytes.values()) + b"]}")

    def api_units(self) -> bytes:
        """Return ``build.api_units`` from the cached rows."""
        self._in_order()
        return b'{"units":[' + b",".join(self._api.values()) + b"]}"

    def index_order(self) -> list[str]:
        """Return the reporting units, most urgent first (``build.search_index``'s order)."""
        return [key[2] for key in self._keys]

    def side_parts(self, alarms: Sequence[views.Alarm], gaps: Sequence[GapRow],
                   tasked: Mapping[str, Sequence[str]], hideout: Mapping[str, Any],
                   problems: Sequence[str], stats: Mapping[str, Any], zone: Any,
                   unknown: Unknown | None = None) -> dict[str, bytes]:
        """Return ``build.side_parts`` of the fleet's units, from the cached pieces."""
        order = self.index_order()
        index = self._index
        limit = views.UNIT_LIST_LIMIT
        rows = index_rows([index[u][2] for u in order[:limit]])
        lost = [self.states[u] for u in self.order if u in self.lost]
        return {
            "counts": dumps([views.count_units(list(self.states.values())), len(gaps),
                             unknown.count if unknown is not None else 0]),
            "gaps": dumps({"rows": list(gaps), "tasked": dict(tasked), "unknown": unknown}),
            "alarms": dumps(list(alarms)),
            "units0": dumps({"rows": rows, "more": max(0, len(order) - limit)}),
            "index": b"[" + b",".join([index[u][1] for u in order]) + b"]",
            "lost": dumps(views.lost_rows(lost, zone)),
            "hideout": dumps(dict(hideout)),
            "degraded": dumps(list(problems)),
            "feed": dumps(dict(stats)),
        }

    def alarm_units(self, open_alarms: Iterable[Mapping[str, Any]]) -> list[UnitState]:
        """Return the units ``view.alarms`` looks at: those in EMERGENCY or with an open alarm."""
        wanted = set(self.emergency) | {str(a.get("unit", "")) for a in open_alarms}
        return [self.states[u] for u in sorted(wanted) if u in self.states]

    def build(self, alarms: Sequence[views.Alarm], gaps: Sequence[GapRow],
              tasked: Mapping[str, Sequence[str]], hideout: Mapping[str, Any],
              problems: Sequence[str], stats: Mapping[str, Any], zone: Any,
              unknown: Unknown | None = None) -> Built:
        """Return what ``build.build`` returns for the fleet's units (entries: a copy)."""
        self.set_acked(a.id for a in alarms if a.acked_by is not None)
        parts = self.side_parts(alarms, gaps, tasked, hideout, problems, stats, zone, unknown)
        return Built(entries=dict(self.entries), parts=parts,
                     digests={k: digest(v) for k, v in parts.items()},
                     api_units=self.api_units())
