"""Alarm rules beyond the emergency button, as pure functions of one unit's present state.

Every rule looks at a unit's *present* (its latest status and its start, its latest position,
its newest message, all by event time) at the evaluation instant ``now``, and names the
*cause* of what it finds by the event time the cause began: the status's start, the start of
the silence, the start of the low-battery spell, the start of the quiet spell. The alarm id
is ``{unit}.{kind}.{cause in ms}``, so the same cause always names the same alarm: raised
once, whichever worker or restart finds it (store/alarms.py raises with "if absent").

Late data: a period that is already over by the time its messages arrive (AT_SCENE at 01:00
and ON_PATROL at 02:00, both flushed at 03:00) is not the present when the rule sees it, so it
raises nothing; the durations themselves are measured by event time, so a status flushed
late that *is* still current counts from its own start. Duplicates change nothing (the same
message gives the same status start, hence the same id). No rule fires for a unit whose
status is OFF_DUTY, and EMERGENCY has its own alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from patrolwatch.core.alarm_rules import AlertRules
from patrolwatch.core.model import Status

EMERGENCY = "emergency"
STATUS_TOO_LONG = "status_too_long"
WELFARE = "welfare"
LOST_CONTACT = "lost_contact"
BATTERY_LOW = "battery_low"
KINDS = (EMERGENCY, WELFARE, LOST_CONTACT, STATUS_TOO_LONG, BATTERY_LOW)
# Lower is more urgent; the screen and the API order by it. battery_low is a warning.
SEVERITY = {EMERGENCY: 0, WELFARE: 1, LOST_CONTACT: 1, STATUS_TOO_LONG: 2, BATTERY_LOW: 3}
WARNING_KINDS = frozenset({BATTERY_LOW})  # shown quietly, never escalated
BATTERY_REARM_POINTS = 5.0  # a low spell ends only at threshold + 5 %, so 14-16-14 is one spell
LOST_CONTACT_LOOKBACK_S = 12 * 3600.0  # a silence older than this is not a unit on duty now
CHECKIN_PREFIX = "ci"
CATCH_UP_S = 15.0  # a unit whose newest event time moved this recently is sending now


@dataclass(frozen=True, slots=True)
class UnitNow:
    """What the rules read of one unit (event times, epoch seconds)."""

    unit: str
    kind: str  # roster kind: foot / cycle / vehicle
    status: Status
    status_since: float | None  # event time the latest status began (None: never sent one)
    last_seen: float | None  # event time of its newest accepted message
    battery: float | None = None  # of its latest position
    categories: frozenset[str] = frozenset()  # categories of the hotspots it is inside now
    stale: bool = False


@dataclass(frozen=True, slots=True)
class Raise:
    """An alarm a rule found: its kind, the event time its cause began, and what to show."""

    unit: str
    kind: str
    cause: float
    detail: str

    @property
    def id(self) -> str:
        """Return the alarm's deterministic id."""
        return alarm_id(self.unit, self.kind, self.cause)


def alarm_id(unit: str, kind: str, cause: float) -> str:
    """Return ``{unit}.{kind}.{cause in ms}``: one cause, one id, on every worker."""
    return f"{unit}.{kind}.{round(cause * 1000)}"


def checkin_id(unit: str, since: float) -> str:
    """Return a check-in's id (an ack id: 1-64 of A-Z a-z 0-9 _ -) for a quiet spell's start."""
    return f"{CHECKIN_PREFIX}-{unit}-{round(since * 1000)}"


def kind_of(record: dict[str, object]) -> str:
    """Return a stored alarm's kind (absent: an emergency, as trust-ingest writes them)."""
    kind = record.get("kind")
    return kind if isinstance(kind, str) and kind in SEVERITY else EMERGENCY


def on_duty(u: UnitNow) -> bool:
    """Tell whether any rule applies: not off duty, not in EMERGENCY (it has its own alarm)."""
    return u.status not in (Status.OFF_DUTY, Status.EMERGENCY)


def _since(u: UnitNow, now: float) -> float | None:
    # A fast handheld clock cannot push its status's start into the future.
    return None if u.status_since is None else min(u.status_since, now)


def catching_up(last_seen: float | None, moved_at: float | None, now: float,
                stale_after_s: float) -> bool:
    """Tell whether a unit is flushing a buffer: sending now, its newest data still old.

    ``moved_at`` is when (wall clock) the evaluator last saw the unit's newest event time
    advance. Such a unit's present is not known until it has caught up, so the rules wait:
    a flushed AT_SCENE that ended an hour ago, or the silence the buffer covers, raises
    nothing. ``moved_at`` None (a unit not seen before by this evaluator) waits one tick.
    """
    if last_seen is None:
        return False
    if moved_at is None:
        return True
    return now - moved_at < CATCH_UP_S and now - last_seen > stale_after_s


# --- status too long ----------------------------------------------------------------------
def status_too_long(u: UnitNow, rules: AlertRules, now: float) -> Raise | None:
    """Raise when a unit has held a timed status past its limit (a new status re-arms)."""
    limit = rules.status_max_minutes.get(u.status.value)
    since = _since(u, now)
    if limit is None or since is None or not on_duty(u):
        return None
    if now - since < limit * 60.0:
        return None
    return Raise(u.unit, STATUS_TOO_LONG, since,
                 f"{u.status.value} for more than {limit:g} min")


# --- lost contact on duty -----------------------------------------------------------------
def lost_contact(u: UnitNow, rules: AlertRules, stale_after_s: float,
                 now: float) -> Raise | None:
    """Raise when a unit on duty has been silent past stale_after_s plus the rule's minutes."""
    if u.last_seen is None or not on_duty(u):
        return None
    silent = now - u.last_seen
    if silent < stale_after_s + rules.lost_contact_minutes * 60.0:
        return None
    if silent > LOST_CONTACT_LOOKBACK_S:
        return None  # weeks-old units on the roster are not a present loss of contact
    return Raise(u.unit, LOST_CONTACT, u.last_seen,
                 f"no message for {silent / 60:.0f} min while {u.status.value}")


def contact_resumed(alarm_cause: float, last_seen: float | None) -> bool:
    """Tell whether a lost_contact alarm is cleared: a message newer than its silence's start."""
    return last_seen is not None and last_seen > alarm_cause


# --- battery ------------------------------------------------------------------------------
def battery_spell(low_since: float | None, battery: float | None, ts: float | None,
                  rules: AlertRules) -> float | None:
    """Return the start of the current low-battery spell (None: not low).

    A spell starts at the first reading below the threshold and ends only at a reading of
    threshold + BATTERY_REARM_POINTS or more, so a battery hovering at the line is one spell.
    """
    if battery is None or ts is None:
        return low_since
    if battery < rules.battery_low_percent:
        return low_since if low_since is not None else ts
    if battery >= rules.battery_low_percent + BATTERY_REARM_POINTS:
        return None
    return low_since


def battery_low(u: UnitNow, low_since: float | None) -> Raise | None:
    """Raise a battery_low warning for a unit on duty in a low spell."""
    if low_since is None or not on_duty(u):
        return None
    level = "" if u.battery is None else f" ({u.battery:.0f} %)"
    return Raise(u.unit, BATTERY_LOW, low_since, f"battery low{level}")


# --- welfare check-in ---------------------------------------------------------------------
def in_hours(now: float, zone: tzinfo, rules: AlertRules) -> bool:
    """Tell whether ``now`` falls in the welfare hours (local wall clock, across midnight)."""
    start, end = rules.welfare.hours.bounds()
    local = datetime.fromtimestamp(now, UTC).astimezone(zone).time().replace(tzinfo=None)
    if start == end:
        return True  # a whole day
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_since(u: UnitNow, last_answer: float | None, now: float) -> float | None:
    """Return when the unit's quiet spell began: its status's start or its last answer."""
    since = _since(u, now)
    if since is None:
        return None
    return since if last_answer is None else max(since, last_answer)


def welfare_due(u: UnitNow, rules: AlertRules, zone: tzinfo, now: float,
                last_answer: float | None) -> float | None:
    """Return the quiet spell's start if the unit is to be asked "Are you OK?" now, else None."""
    w = rules.welfare
    if not on_duty(u) or u.stale or u.kind not in w.kinds:
        return None
    if not u.categories & set(w.categories) or not in_hours(now, zone, rules):
        return None
    since = quiet_since(u, last_answer, now)
    if since is None or now - since < w.quiet_minutes * 60.0:
        return None
    return since


def checkin_answer_by(prompted: float, rules: AlertRules) -> float:
    """Return the time by which a check-in asked at ``prompted`` must be answered."""
    return prompted + rules.welfare.answer_minutes * 60.0


# --- escalation ---------------------------------------------------------------------------
def escalation_due(kind: str, raised: float, acknowledged: bool, escalated: bool,
                   rules: AlertRules, now: float) -> bool:
    """Tell whether an alarm escalates now: unacknowledged K minutes after it was raised."""
    if acknowledged or escalated or kind in WARNING_KINDS:
        return False
    return now - raised >= rules.escalate_after_minutes * 60.0


# --- one unit -----------------------------------------------------------------------------
def unit_raises(u: UnitNow, rules: AlertRules, stale_after_s: float, now: float,
                battery_since: float | None) -> list[Raise]:
    """Return every alarm the rules find for one unit now (no welfare: it asks first)."""
    found = [status_too_long(u, rules, now), lost_contact(u, rules, stale_after_s, now),
             battery_low(u, battery_since)]
    return [r for r in found if r is not None]
