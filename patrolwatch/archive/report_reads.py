"""The history the operation report reads, cut to what it uses, from both tiers.

A week of a force is 10,080 hotspot-state entries of every hotspot (400 k archived rows) and
the status logs of every unit; the report uses of them only each entry's time, whether the
feed was fresh (observed) and which hotspots were in ``gap``, and the status changes of the
units that raised an EMERGENCY. So DuckDB hands over those rows alone (tens of thousands
instead of every state), and only those units' statuses are read. The answers are the ones
``History.hotspot_states`` and ``History.status_changes`` give, cut the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from patrolwatch.archive import layout
from patrolwatch.archive.reader import ArchiveReader, ts_literal
from patrolwatch.archive.tiers import History
from patrolwatch.core.alarms import EMERGENCY, kind_of
from patrolwatch.store.replay import StateEntry

GAP = "gap"


def archived_gap_entries(reader: ArchiveReader, since: float, until: float
                         ) -> list[StateEntry]:
    """Return archived hotspot-state entries in [since, until], each with its gap states only.

    One entry per time, as ``ArchiveReader.hotspot_states`` builds them (its observed flag
    that of its first row by hotspot), oldest first.
    """
    with reader.view(layout.HOTSPOT_STATES, since, until, "h") as con:
        if con is None:
            return []
        rows = con.execute(
            f"SELECT DISTINCT epoch_us(ts) / 1e6 AS t, "
            f"CASE WHEN state = '{GAP}' THEN hotspot END AS g, observed FROM h "
            f"WHERE ts >= {ts_literal(since)} AND ts <= {ts_literal(until)} "
            "ORDER BY t, g NULLS LAST").fetchall()
    out: dict[float, tuple[dict[str, str], bool]] = {}
    for t, hotspot, observed in rows:
        states, _ = out.setdefault(float(t), ({}, bool(observed)))
        if hotspot:
            states[str(hotspot)] = GAP
    return [(t, s, o) for t, (s, o) in sorted(out.items())]


def gap_entries(history: History, since: float, until: float) -> list[StateEntry]:
    """Return ``history.hotspot_states(since, until)`` with each entry cut to its gap states.

    Redis entries win over archived ones of the same microsecond, as there.
    """
    rows = {round(t * 1e6) / 1e6: ({h: s for h, s in states.items() if s == GAP}, o)
            for t, states, o in history.store.hotspot_states_between(since, until)}
    if since < history.boundary():
        for t, states, o in archived_gap_entries(history.reader, since, until):
            rows.setdefault(t, (states, o))
    return [(t, s, o) for t, (s, o) in sorted(rows.items())]


def archived_emergency_units(reader: ArchiveReader, since: float, until: float) -> set[str]:
    """Return the units with an archived EMERGENCY status in [since, until]."""
    with reader.view(layout.STATUSES, since, until, "s") as con:
        if con is None:
            return set()
        rows = con.execute(
            f"SELECT DISTINCT unit FROM s WHERE status = 'EMERGENCY' "
            f"AND ts >= {ts_literal(since)} AND ts <= {ts_literal(until)}").fetchall()
    return {str(r[0]) for r in rows}


def emergency_units(history: History, alarms: Iterable[Mapping[str, Any]], since: float,
                    until: float) -> list[str]:
    """Return the seen units that may have an EMERGENCY in [since, until], in seen order.

    Redis: the units the alarm store ever raised an emergency for or is about to
    (``store.emergency_units``, never trimmed, so an alarm forgotten after the audit
    retention still counts) and those of the emergency records in ``alarms``; the archive:
    the units with an EMERGENCY there. Every other unit's status log holds no EMERGENCY in
    the period, so the emergencies read from these units' status changes are the ones all
    units give.
    """
    found = {str(a.get("unit")) for a in alarms if kind_of(dict(a)) == EMERGENCY}
    found |= history.store.emergency_units()
    if since < history.boundary():
        found |= archived_emergency_units(history.reader, since, until)
    return [u for u in history.store.seen_units() if u in found]
