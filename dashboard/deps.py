"""What every feature's actions and callbacks read: the app's ``Deps`` (settings, store, roster)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from dashboard.publisher import Publisher
from patrolwatch.core.hotspots import HotspotSet
from patrolwatch.roster import Roster
from patrolwatch.settings import Settings
from patrolwatch.store import Store


@dataclass(frozen=True)
class Deps:
    """Everything callbacks read: fixed at start-up, no mutable data (Redis is the state).

    ``publisher`` is this app's MQTT connection (made on first use), not shared data.
    """

    settings: Settings
    store: Store
    roster: Roster
    hotspots: HotspotSet
    publisher: Publisher = field(default=None, compare=False)  # type: ignore[assignment]
    callsigns: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "callsigns",
                           {uid: u.callsign for uid, u in self.roster.units.items()})
        if self.publisher is None:
            object.__setattr__(self, "publisher", Publisher(self.settings.mqtt_url))

    @property
    def speeds(self) -> dict[str, float]:
        """Return the speed (m/s) of each unit kind, for ETAs."""
        s = self.settings
        return {"foot": s.speed_foot_mps, "cycle": s.speed_cycle_mps,
                "vehicle": s.speed_vehicle_mps}

    @property
    def coverage_max_age_s(self) -> float:
        """Return how old a coverage snapshot may be before hotspots show ``no_data``."""
        return coverage_max_age_s(self.settings)

    def redis_where(self) -> str:
        """Return the Redis host:port without credentials, for messages people read."""
        parts = urlsplit(self.settings.redis_url)
        return f"{parts.hostname or '?'}:{parts.port or 6379}"


def coverage_max_age_s(settings: Settings) -> float:
    """Return how old the evaluator's snapshot may be and still direct patrols."""
    return max(60.0, 15 * settings.evaluate_every_s)
