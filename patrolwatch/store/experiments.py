"""Experiment allocations in Redis: each day's lists, stored once and frozen, and audited.

Keys (``store.keys``): ``k_experiment_days(id)`` HASH local date -> allocation JSON, kept for
as long as the experiment file names the experiment (a trial's design is not personal data);
``k_experiment_doses(id)`` HASH local date -> each place's measures that day (aggregates, no
unit ids: kept like the days, so a panel outlives the raw positions it was computed from);
``k_experiment_pushed(id)`` the last day and digest sent to OwnTracks phones.
A store is decided under WATCH, so two processes allocating at once store one answer, and
the decision is written to the audit log in the same transaction.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, cast

import redis

from patrolwatch.experiments.allocation import Allocation, decide
from patrolwatch.store import Store
from patrolwatch.store.keys import k_experiment_days, k_experiment_doses, k_experiment_pushed


class ExperimentStore:
    """Reads and writes of experiment days through one ``Store``'s connection."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.r = store.r

    def day(self, experiment: str, day: date) -> Allocation | None:
        """Return the stored allocation of a day, or None."""
        raw = self.r.hget(k_experiment_days(experiment), day.isoformat())
        return Allocation.from_json(json.loads(cast(bytes, raw))) if raw else None

    def days(self, experiment: str) -> dict[date, Allocation]:
        """Return every stored day of an experiment."""
        raw = cast(dict[bytes, bytes], self.r.hgetall(k_experiment_days(experiment)))
        out = {}
        for k, v in raw.items():
            a = Allocation.from_json(json.loads(v))
            out[date.fromisoformat(k.decode())] = a
        return out

    def settle(self, fresh: Allocation, now: float, freeze_at: float, actor: str
               ) -> tuple[Allocation, bool]:
        """Store ``fresh`` unless the day is settled; return (the day's allocation, stored now).

        Raises :class:`FrozenDayError` when a frozen day would change.
        """
        key = k_experiment_days(fresh.experiment)
        field = fresh.day.isoformat()
        while True:
            with self.r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw = pipe.hget(key, field)
                    stored = Allocation.from_json(json.loads(cast(bytes, raw))) if raw else None
                    chosen, write = decide(stored, fresh, now, freeze_at)
                    if not write:
                        pipe.unwatch()
                        return chosen, False
                    pipe.multi()
                    pipe.hset(key, field, json.dumps(chosen.to_json(), sort_keys=True))
                    self.store._audit(pipe, {
                        "ts": now, "kind": "experiment_allocation", "actor": actor,
                        "experiment": chosen.experiment, "date": field, "digest": chosen.digest,
                        "allocated_at": chosen.allocated_at, "freeze_at": freeze_at,
                        "treatment": list(chosen.treatment), "control": list(chosen.control),
                        "replaced": stored.digest if stored else None,
                    })
                    pipe.execute()
                    return chosen, True
                except redis.WatchError:
                    continue

    def save_doses(self, experiment: str, day: date, digest: str,
                   doses: dict[str, dict[str, Any]]) -> None:
        """Store one day's measures per place."""
        self.r.hset(k_experiment_doses(experiment), day.isoformat(),
                    json.dumps({"digest": digest, "doses": doses}, sort_keys=True))

    def has_doses(self, experiment: str, day: date) -> bool:
        """Tell whether a day's measures are stored."""
        return bool(self.r.hexists(k_experiment_doses(experiment), day.isoformat()))

    def doses(self, experiment: str) -> dict[date, dict[str, Any]]:
        """Return every stored day's measures: {date: {"digest", "doses": {place: {...}}}}."""
        raw = cast(dict[bytes, bytes], self.r.hgetall(k_experiment_doses(experiment)))
        return {date.fromisoformat(k.decode()): json.loads(v) for k, v in raw.items()}

    def pushed(self, experiment: str) -> str | None:
        """Return the "date|digest" last sent to phones, or None."""
        raw = self.r.get(k_experiment_pushed(experiment))
        return cast(bytes, raw).decode() if raw else None

    def mark_pushed(self, experiment: str, value: str) -> None:
        """Record what was sent to phones."""
        self.r.set(k_experiment_pushed(experiment), value)
