"""A unit's status timeline: the one rule every reader of its status history follows.

CONTRACT.md section 3 ("Message identity", "Duty periods"). Each status sits on the timeline
at a time ``at``, entries ordered by ``(at, arrival)``:

- an ``EMERGENCY`` sits at its arrival ("takes effect on arrival, whatever its time"), and
  so does the status that ends it (the first non-``EMERGENCY`` status to arrive after it);
- any other status sits at its effective time ``min(ts, arrival)`` (core.ordering).

The unit's latest state is the last entry. Each entry holds from its ``at`` to the next
entry's: an ``OFF_DUTY`` entry's span is an off-duty period (positions in it are not kept;
a late one deletes what was stored in it), an ``EMERGENCY`` entry's span is never one.

A message seen before (same ``ts`` and ``status``) changes nothing; an ``EMERGENCY`` while the
unit is already in ``EMERGENCY`` is a repeat: it goes into no timeline (it folds into the
open alarm, store.scripts.ALARMS). A non-``EMERGENCY`` status older than retention refers to
history no longer kept and changes nothing either.

The store's Lua (``store.scripts.LIVE``) applies the same rule in Redis; this module is the
reference both are tested against (tests/integration/test_timeline_lua.py).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from enum import Enum

from patrolwatch.core.model import Status
from patrolwatch.core.ordering import effective_time


@dataclass(frozen=True, slots=True, order=True)
class Entry:
    """One status on the timeline, ordered by (at, arrival)."""

    at: float
    arrival: float
    ts: float = field(compare=False)
    status: Status = field(compare=False)


class Outcome(Enum):
    """What one status did to the timeline."""

    NEW = "new"  # placed on the timeline
    SEEN = "seen"  # the same message again (or older than retention): changed nothing
    REPEAT = "repeat"  # an EMERGENCY while in EMERGENCY: folds into the open alarm


@dataclass(frozen=True, slots=True)
class Effect:
    """What adding a status did: its outcome, whether it is the latest, where it sits."""

    outcome: Outcome
    latest: bool = False
    entry: Entry | None = None  # where it was placed (NEW)


def exempt_from_rate_limit(status: Status) -> bool:
    """Tell whether a status is never rate limited (an EMERGENCY always gets through)."""
    return status is Status.EMERGENCY


@dataclass
class Timeline:
    """One unit's statuses as the contract orders them, with the identities seen."""

    entries: list[Entry] = field(default_factory=list)
    seen: dict[tuple[float, Status], float] = field(default_factory=dict)  # -> last sighting
    # EMERGENCY entry's arrival -> [lowest ts, highest ts, last sighting] of its presses: an
    # EMERGENCY of a time inside a run is that run again, so a flood costs no memory.
    runs: dict[float, list[float]] = field(default_factory=dict)

    def latest(self) -> Entry | None:
        """Return the entry in force now (the last one), or None."""
        return self.entries[-1] if self.entries else None

    def in_emergency(self) -> bool:
        """Tell whether the unit's status is EMERGENCY."""
        last = self.latest()
        return last is not None and last.status is Status.EMERGENCY

    def entry_at(self, t: float) -> Entry | None:
        """Return the entry in force at time ``t`` (the last with ``at <= t``), or None."""
        i = bisect.bisect_right([e.at for e in self.entries], t)
        return self.entries[i - 1] if i else None

    def off_duty_at(self, ts: float, arrival: float | None = None) -> bool:
        """Tell whether a position of time ``ts`` (arrived at ``arrival``) is not kept."""
        entry = self.entry_at(effective_time(ts, arrival))
        return entry is not None and entry.status is Status.OFF_DUTY

    def place(self, ts: float, status: Status, arrival: float) -> float:
        """Return where a status arriving now would sit on the timeline."""
        if status is Status.EMERGENCY or self.in_emergency():
            return arrival
        return effective_time(ts, arrival)

    def add(self, ts: float, status: Status, arrival: float, now: float,
            retention_s: float) -> Effect:
        """Apply one status (statuses are applied in arrival order); return what it did."""
        cutoff = now - retention_s
        if status is Status.EMERGENCY:
            for run in self.runs.values():
                if run[0] <= ts <= run[1]:
                    run[2] = max(run[2], arrival)
                    return Effect(Outcome.SEEN)
            last = self.latest()
            if last is not None and last.status is Status.EMERGENCY:
                run = self.runs.setdefault(last.arrival, [ts, ts, arrival])
                run[0], run[1], run[2] = min(run[0], ts), max(run[1], ts), arrival
                return Effect(Outcome.REPEAT)
            self.runs[arrival] = [ts, ts, arrival]
        else:
            key = (ts, status)
            if key in self.seen:
                self.seen[key] = max(self.seen[key], arrival)
                return Effect(Outcome.SEEN)
            if ts < cutoff:
                return Effect(Outcome.SEEN)
            self.seen[key] = arrival
        entry = Entry(self.place(ts, status, arrival), arrival, ts, status)
        i = bisect.bisect_right(self.entries, entry)
        self.entries.insert(i, entry)
        return Effect(Outcome.NEW, latest=i == len(self.entries) - 1, entry=entry)

    def period(self, entry: Entry, now: float, retention_s: float) -> tuple[float, float | None]:
        """Return the span ``[since, until)`` an entry holds (until None: still in force).

        A new OFF_DUTY deletes the positions in its span; since is never before retention.
        """
        i = bisect.bisect_right(self.entries, entry)
        until = self.entries[i].at if i < len(self.entries) else None
        return max(entry.at, now - retention_s), until

    def trim(self, now: float, retention_s: float) -> None:
        """Forget what is older than retention, keeping the entry in force at the cutoff."""
        cutoff = now - retention_s
        older = bisect.bisect_left([e.at for e in self.entries], cutoff)
        if older > 1:
            del self.entries[:older - 1]
        self.seen = {k: v for k, v in self.seen.items() if v >= cutoff}
        self.runs = {k: v for k, v in self.runs.items() if v[2] >= cutoff}
