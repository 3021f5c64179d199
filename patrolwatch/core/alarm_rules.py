"""The alarm rules file (``PATROL_ALERTS``, CONTRACT.md section 7) as a validated model.

Every key is optional and defaults to the contract's value. Minutes may be decimals (tests
and the demo use seconds-long thresholds). Pure: reading the file is ``patrolwatch.alerts``.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from patrolwatch.core.model import Status

Kind = Literal["foot", "cycle", "vehicle"]
Category = Literal["night_time_economy", "school", "university", "transport", "other"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# A status the "too long" rule may time: OFF_DUTY raises nothing, EMERGENCY has its own alarm.
TIMED_STATUSES = frozenset(s for s in Status if s not in (Status.OFF_DUTY, Status.EMERGENCY))

Minutes = float


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Hours(_Strict):
    """Local hours ``start`` to ``end`` (``HH:MM``); ``end`` before ``start`` crosses midnight."""

    start: str = "22:00"
    end: str = "04:00"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"{value!r} is not a time of day HH:MM (00:00 to 23:59)")
        return value

    def bounds(self) -> tuple[time, time]:
        """Return (start, end) as times of day."""
        return time.fromisoformat(self.start), time.fromisoformat(self.end)


class Welfare(_Strict):
    """Who gets a welfare check-in, where, when, after how long, and how long to answer."""

    kinds: tuple[Kind, ...] = ("foot",)
    categories: tuple[Category, ...] = ("night_time_economy",)
    hours: Hours = Hours()
    quiet_minutes: Minutes = Field(20.0, gt=0, le=24 * 60)
    answer_minutes: Minutes = Field(3.0, gt=0, le=24 * 60)


class Webhook(_Strict):
    """One receiver of alarm events, and the secret their signature is made with."""

    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2000)
    secret: str = Field(min_length=16, max_length=512)


DEFAULT_STATUS_MAX = {"AT_SCENE": 45.0, "REFRESHMENT": 45.0, "EN_ROUTE": 20.0,
                      "COMMITTED": 60.0}


class AlertRules(_Strict):
    """The whole file."""

    status_max_minutes: dict[str, Minutes] = Field(default_factory=lambda: dict(DEFAULT_STATUS_MAX))
    welfare: Welfare = Welfare()
    lost_contact_minutes: Minutes = Field(5.0, ge=0, le=24 * 60)
    battery_low_percent: float = Field(15.0, ge=0, le=100)
    escalate_after_minutes: Minutes = Field(3.0, gt=0, le=24 * 60)
    webhooks: tuple[Webhook, ...] = ()

    @field_validator("status_max_minutes")
    @classmethod
    def _statuses(cls, value: dict[str, Minutes]) -> dict[str, Minutes]:
        for name, minutes in value.items():
            if name not in {s.value for s in TIMED_STATUSES}:
                raise ValueError(f"{name!r} cannot be timed: use one of "
                                 f"{', '.join(sorted(s.value for s in TIMED_STATUSES))}")
            if not isinstance(minutes, int | float) or not 0 < minutes <= 24 * 60:
                raise ValueError(f"{name}: {minutes!r} is not a number of minutes in (0, 1440]")
        return {k: float(v) for k, v in value.items()}

    def secret_for(self, url: str) -> str | None:
        """Return the secret of a configured webhook URL (None if it is no longer configured)."""
        return next((w.secret for w in self.webhooks if w.url == url), None)
