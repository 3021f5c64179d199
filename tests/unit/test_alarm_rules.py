"""Timing of every alarm rule (core/alarms.py) and the rules file (PATROL_ALERTS), as tables."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from patrolwatch.alerts import alert_problems, load_alerts
from patrolwatch.core import alarms as rules
from patrolwatch.core.alarm_records import alarm_row, listed, report_rows
from patrolwatch.core.alarm_rules import AlertRules
from patrolwatch.core.model import Status

LONDON = ZoneInfo("Europe/London")
RULES = AlertRules()
T0 = 1_700_000_000.0


def unit(status: Status = Status.AT_SCENE, since: float | None = T0, seen: float | None = T0,
         kind: str = "foot", cats: frozenset[str] = frozenset(), battery: float | None = None,
         stale: bool = False) -> rules.UnitNow:
    return rules.UnitNow("U1", kind, status, since, seen, battery, cats, stale)


def local(text: str) -> float:
    """Return epoch seconds of a London wall time ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON).timestamp()


# --- the shipped file and its check -------------------------------------------------------
def test_the_shipped_file_is_the_contracts_defaults() -> None:
    shipped = load_alerts(Path("config/alerts.yaml"))
    assert shipped == AlertRules()
    assert shipped.status_max_minutes == {"AT_SCENE": 45, "REFRESHMENT": 45, "EN_ROUTE": 20,
                                          "COMMITTED": 60}
    assert shipped.welfare.hours.bounds()[0].hour == 22 and shipped.welfare.quiet_minutes == 20
    assert (shipped.lost_contact_minutes, shipped.battery_low_percent,
            shipped.escalate_after_minutes) == (5, 15, 3)


@pytest.mark.parametrize(("text", "expected"), [
    ("status_max_minutes: {AT_SEEN: 5}", "status_max_minutes: 'AT_SEEN' cannot be timed"),
    ("status_max_minutes: {OFF_DUTY: 5}", "status_max_minutes: 'OFF_DUTY' cannot be timed"),
    ("status_max_minutes: {AT_SCENE: -1}", "status_max_minutes: AT_SCENE: -1"),
    ("welfare: {hours: {start: '25:00'}}", "welfare.hours.start: '25:00' is not a time"),
    ("welfare: {kinds: [horse]}", "welfare.kinds.0:"),
    ("welfare: {quiet_minutes: 0}", "welfare.quiet_minutes:"),
    ("lost_contact_minuts: 5", "lost_contact_minuts: unknown key"),
    ("webhooks: [{url: 'ftp://x', secret: 'abcdefghijklmnopq'}]", "webhooks.0.url:"),
    ("webhooks: [{url: 'https://x.example'}]", "webhooks.0.secret:"),
    ("- a list", "alerts: expected a mapping"),
])
def test_check_config_names_file_rule_and_reason(tmp_path: Path, text: str,
                                                 expected: str) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    problems = alert_problems(path)
    assert problems and problems[0].startswith(f"{path}:{expected}"), problems


# --- status too long ------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "minutes_held", "raises"), [
    (Status.AT_SCENE, 44.9, False), (Status.AT_SCENE, 45, True),
    (Status.REFRESHMENT, 46, True), (Status.EN_ROUTE, 19, False), (Status.EN_ROUTE, 20, True),
    (Status.COMMITTED, 59, False), (Status.COMMITTED, 61, True),
    (Status.ON_PATROL, 600, False),  # not a timed status
    (Status.OFF_DUTY, 600, False), (Status.EMERGENCY, 600, False),
])
def test_status_too_long_by_status(status: Status, minutes_held: float, raises: bool) -> None:
    found = rules.status_too_long(unit(status), RULES, T0 + minutes_held * 60)
    assert (found is not None) is raises
    if found:
        assert found.cause == T0 and found.id == f"U1.status_too_long.{round(T0 * 1000)}"


def test_status_sequences_raise_once_per_status_and_rearm_on_any_new_status() -> None:
    """A table of status sequences replayed minute by minute: the ids raised are the causes."""
    sequence = [(0, Status.AT_SCENE), (30, Status.AT_SCENE),  # re-sent: re-armed at 30
                (80, Status.ON_PATROL), (90, Status.EN_ROUTE), (100, Status.AT_SCENE)]
    raised: list[str] = []
    for minute in range(0, 200):
        now = T0 + minute * 60
        current = [(m, s) for m, s in sequence if m <= minute][-1]
        found = rules.status_too_long(unit(current[1], T0 + current[0] * 60), RULES, now)
        if found and found.id not in raised:
            raised.append(found.id)
    assert raised == [rules.alarm_id("U1", "status_too_long", T0 + m * 60)
                      for m in (30, 100)]  # AT_SCENE 30-80; EN_ROUTE 90-100 is only 10 min


def test_late_flush_of_a_period_already_over_raises_nothing() -> None:
    # AT_SCENE 01:00 and ON_PATROL 02:00 both arrive at 03:00: the present is ON_PATROL.
    now = T0 + 3 * 3600
    assert rules.status_too_long(unit(Status.ON_PATROL, T0 + 3600), RULES, now) is None
    # A late AT_SCENE that *is* still current counts from its own start.
    found = rules.status_too_long(unit(Status.AT_SCENE, T0), RULES, now)
    assert found is not None and found.cause == T0


def test_a_duplicate_status_names_the_same_alarm_and_a_fast_clock_cannot_defer_it() -> None:
    a = rules.status_too_long(unit(Status.AT_SCENE, T0), RULES, T0 + 3600)
    b = rules.status_too_long(unit(Status.AT_SCENE, T0), RULES, T0 + 3700)
    assert a is not None and b is not None and a.id == b.id
    assert rules.status_too_long(unit(Status.AT_SCENE, T0 + 600), RULES, T0) is None


# --- lost contact ---------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "silent_s", "raises"), [
    (Status.ON_PATROL, 180 + 299, False), (Status.ON_PATROL, 180 + 300, True),
    (Status.AT_SCENE, 3600, True), (Status.OFF_DUTY, 3600, False),
    (Status.EMERGENCY, 3600, False), (Status.ON_PATROL, 13 * 3600, False),
])
def test_lost_contact(status: Status, silent_s: float, raises: bool) -> None:
    found = rules.lost_contact(unit(status, T0, T0), RULES, 180.0, T0 + silent_s)
    assert (found is not None) is raises
    if found:
        assert found.cause == T0
        assert rules.contact_resumed(found.cause, T0 + silent_s)
        assert not rules.contact_resumed(found.cause, T0)  # a late older message does not


# --- battery --------------------------------------------------------------------------------
def test_battery_hovering_at_the_line_is_one_spell() -> None:
    spell = None
    starts = []
    for i, level in enumerate([50, 14, 16, 14, 19, 13, 30, 12]):
        spell = rules.battery_spell(spell, level, T0 + i, RULES)
        starts.append(spell)
    assert starts == [None, T0 + 1, T0 + 1, T0 + 1, T0 + 1, T0 + 1, None, T0 + 7]
    low = rules.battery_low(unit(battery=12), T0 + 7)
    assert low is not None and low.kind == "battery_low" and "12 %" in low.detail
    assert rules.battery_low(unit(Status.OFF_DUTY, battery=12), T0 + 7) is None


# --- welfare --------------------------------------------------------------------------------
NTE = frozenset({"night_time_economy"})


@pytest.mark.parametrize(("wall", "inside"), [
    ("2026-06-01 21:59", False), ("2026-06-01 22:00", True), ("2026-06-01 23:59", True),
    ("2026-06-02 00:00", True), ("2026-06-02 03:59", True), ("2026-06-02 04:00", False),
    ("2026-03-29 00:30", True), ("2026-03-29 03:30", True),  # spring forward, 01:00 -> 02:00
    ("2026-10-25 01:30", True), ("2026-10-25 04:30", False),  # fall back
    ("2026-12-31 23:30", True), ("2027-01-01 12:00", False),
])
def test_welfare_hours_across_midnight_and_dst(wall: str, inside: bool) -> None:
    assert rules.in_hours(local(wall), LONDON, RULES) is inside


def test_fall_back_night_hours_count_both_0130s_by_the_wall_clock() -> None:
    first = local("2026-10-25 00:59") + 31 * 60  # 01:30 BST
    second = first + 3600  # 01:30 GMT
    assert rules.in_hours(first, LONDON, RULES) and rules.in_hours(second, LONDON, RULES)


@pytest.mark.parametrize(("kind", "cats", "status", "quiet_min", "at", "due"), [
    ("foot", NTE, Status.ON_PATROL, 20, "2026-06-02 02:00", True),
    ("foot", NTE, Status.ON_PATROL, 19, "2026-06-02 02:00", False),
    ("vehicle", NTE, Status.ON_PATROL, 60, "2026-06-02 02:00", False),
    ("foot", frozenset({"school"}), Status.ON_PATROL, 60, "2026-06-02 02:00", False),
    ("foot", NTE, Status.ON_PATROL, 60, "2026-06-02 12:00", False),
    ("foot", NTE, Status.OFF_DUTY, 60, "2026-06-02 02:00", False),
])
def test_welfare_check_in_due(kind: str, cats: frozenset[str], status: Status,
                              quiet_min: float, at: str, due: bool) -> None:
    now = local(at)
    u = unit(status, now - quiet_min * 60, now, kind, cats)
    assert (rules.welfare_due(u, RULES, LONDON, now, None) is not None) is due


def test_an_answer_restarts_the_quiet_spell() -> None:
    now = local("2026-06-02 02:00")
    u = unit(Status.ON_PATROL, now - 3600, now, "foot", NTE)
    assert rules.welfare_due(u, RULES, LONDON, now, now - 600) is None  # answered 10 min ago
    assert rules.welfare_due(u, RULES, LONDON, now, now - 1200) == now - 1200
    assert rules.checkin_id("U1", now).startswith("ci-U1-")
    assert rules.checkin_answer_by(now, RULES) == now + 180


# --- escalation and records -----------------------------------------------------------------
@pytest.mark.parametrize(("kind", "age_min", "acked", "escalated", "due"), [
    ("welfare", 2.9, False, False, False), ("welfare", 3, False, False, True),
    ("emergency", 3, False, False, True), ("welfare", 30, True, False, False),
    ("welfare", 30, False, True, False), ("battery_low", 30, False, False, False),
])
def test_escalation(kind: str, age_min: float, acked: bool, escalated: bool,
                    due: bool) -> None:
    assert rules.escalation_due(kind, T0, acked, escalated, RULES, T0 + age_min * 60) is due


def test_every_kind_is_one_record_shape_emergency_first() -> None:
    records = [
        {"id": "U2.status_too_long.1", "unit": "U2", "kind": "status_too_long", "ts": T0,
         "arrival": T0, "repeats": 0, "detail": "AT_SCENE for more than 45 min"},
        {"id": "U3.1", "unit": "U3", "ts": T0 + 9, "arrival": T0 + 9, "repeats": 2},
        {"id": "U4.welfare.1", "unit": "U4", "kind": "welfare", "ts": T0, "arrival": T0 + 5,
         "acked_by": "sup", "acked_at": T0 + 65},
        {"id": "U5.lost_contact.1", "unit": "U5", "kind": "lost_contact", "ts": T0,
         "arrival": T0, "acked_by": "sup", "acked_at": T0 - 7200},
    ]
    shown = listed(records, T0 + 100)
    assert [r["id"] for r in shown] == ["U3.1", "U2.status_too_long.1", "U4.welfare.1"]
    rows = [alarm_row(r, "C" + str(r["unit"])) for r in shown]
    assert rows[0]["kind"] == "emergency" and rows[0]["count"] == 3
    assert rows[2]["state"] == "ACKNOWLEDGED" and rows[2]["acknowledged_by"] == "sup"
    report = report_rows(records, T0 - 1, T0 + 10, {})
    assert [(r["kind"], r["minutes_to_ack"]) for r in report] == [
        ("status_too_long", None), ("lost_contact", -120.0), ("welfare", 1.0),
        ("emergency", None)]


@pytest.mark.parametrize(("seen_ago", "moved_ago", "flushing"), [
    (3600, 1, True),  # an hour-old message arrived a second ago: a buffer is being flushed
    (3600, 60, False),  # nothing has moved for a minute: that is silence, not a flush
    (5, 1, False),  # fresh data: the unit is live
    (3600, None, True),  # first sight by this evaluator: wait one tick
])
def test_a_unit_flushing_its_buffer_waits_until_it_has_caught_up(
        seen_ago: float, moved_ago: float | None, flushing: bool) -> None:
    now = T0 + 7200
    moved = None if moved_ago is None else now - moved_ago
    assert rules.catching_up(now - seen_ago, moved, now, 180.0) is flushing
