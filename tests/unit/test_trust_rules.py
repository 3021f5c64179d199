"""Pure trust rules of the ingest: ordering by effective time, EMERGENCY, rate limit, OwnTracks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.worker import build_batch
from patrolwatch.core.messages import ParseContext, parse_message
from patrolwatch.core.model import LostContact, Position, Reason, Rejection, Status
from patrolwatch.core.ordering import Stamp, effective_time, latest, takes_effect
from patrolwatch.core.ratelimit import RateLimiter
from patrolwatch.core.timeline import Outcome, Timeline, exempt_from_rate_limit
from patrolwatch.mqtt import Inbound
from patrolwatch.roster import Roster

NOW = 1_780_000_000.0
CTX = ParseContext(roster=Roster.empty(), status_codes={})
SKEW_S = 300.0  # the allowance: messages further ahead are rejected before ordering

# --- ordering --------------------------------------------------------------------------------


def test_effective_time_is_never_after_arrival() -> None:
    assert effective_time(NOW + 240, NOW) == NOW
    assert effective_time(NOW - 5, NOW) == NOW - 5
    assert effective_time(NOW, None) == NOW


@pytest.mark.parametrize(("current", "new", "expected"), [
    (None, Stamp(NOW, NOW), True),
    # a clock 4 minutes fast cannot freeze the state: it orders at its arrival
    (Stamp.of(NOW + 240, NOW), Stamp.of(NOW + 10, NOW + 10), True),
    # equal effective times (same whole second): the later arrival wins
    (Stamp.of(NOW, NOW + 0.2), Stamp.of(NOW, NOW + 0.4), True),
    (Stamp.of(NOW, NOW + 0.4), Stamp.of(NOW, NOW + 0.2), False),
    # the same message again changes nothing
    (Stamp.of(NOW, NOW + 0.2), Stamp.of(NOW, NOW + 0.2), False),
    # an older event arriving late does not move the state back
    (Stamp.of(NOW, NOW + 1), Stamp.of(NOW - 60, NOW + 2), False),
    # EMERGENCY on arrival whatever its time
    (Stamp.of(NOW, NOW + 1), Stamp.of(NOW - 3600, NOW + 2, emergency=True), True),
    # ... and only a status arriving after it clears it, whatever that one's time
    (Stamp.of(NOW, NOW + 1, emergency=True), Stamp.of(NOW - 60, NOW + 2), True),
    (Stamp.of(NOW, NOW + 2, emergency=True), Stamp.of(NOW + 60, NOW + 1), False),
])
def test_takes_effect(current: Stamp | None, new: Stamp, expected: bool) -> None:
    assert takes_effect(current, new) is expected


STATUSES = list(Status)


@st.composite
def arrivals(draw: st.DrawFn) -> list[tuple[float, float, Status]]:
    """A unit's statuses as (ts, arrival, status) in arrival order: skewed clocks, repeats."""
    out: list[tuple[float, float, Status]] = []
    arrival = NOW
    for _ in range(draw(st.integers(1, 12))):
        arrival += draw(st.sampled_from([0.0, 1e-6, 0.001, 0.5, 1.0, 30.0]))
        if out and draw(st.booleans()) and draw(st.booleans()):
            ts, _, status = draw(st.sampled_from(out))  # the same message delivered again
        else:
            # whole seconds, as devices send them: ties are common
            ts = float(round(arrival) + draw(st.integers(-900, int(SKEW_S))))
            status = draw(st.sampled_from(STATUSES))
        out.append((ts, arrival + len(out) * 1e-6, status))
    return out


def stamps(seq: list[tuple[float, float, Status]]) -> list[Stamp]:
    return [Stamp.of(ts, arr, s is Status.EMERGENCY) for ts, arr, s in seq]


@given(arrivals())
def test_an_emergency_not_followed_by_another_status_is_the_units_status(
        seq: list[tuple[float, float, Status]]) -> None:
    chosen = latest(stamps(seq))
    assert chosen is not None
    last_emergency = max((i for i, (_, _, s) in enumerate(seq) if s is Status.EMERGENCY),
                         default=None)
    if last_emergency == len(seq) - 1:
        assert seq[chosen][2] is Status.EMERGENCY


@given(arrivals())
def test_without_emergency_the_latest_effective_time_wins(
        seq: list[tuple[float, float, Status]]) -> None:
    plain = [m for m in seq if m[2] is not Status.EMERGENCY]
    if not plain:
        return
    chosen = latest(stamps(plain))
    assert chosen is not None
    best = max((effective_time(ts, arr), arr) for ts, arr, _ in plain)
    assert (effective_time(plain[chosen][0], plain[chosen][1]), plain[chosen][1]) == best


# --- rate limit ------------------------------------------------------------------------------


@pytest.mark.parametrize(("times", "allowed"), [
    # a burst of one window's worth (5/s x 10 s) passes, the 51st does not
    ([NOW] * 51, [True] * 50 + [False]),
    # a steady 5/s passes for ever
    ([NOW + i * 0.2 for i in range(200)], [True] * 200),
    # after the burst, one token comes back every 0.2 s
    ([NOW] * 50 + [NOW + 0.1, NOW + 0.2, NOW + 0.2], [True] * 50 + [False, True, False]),
    # re-used old times refill nothing
    ([NOW] * 50 + [NOW - 100.0], [True] * 50 + [False]),
])
def test_rate_limiter(times: list[float], allowed: list[bool]) -> None:
    limiter = RateLimiter(5.0, 10.0)
    assert [limiter.allow("U1", t) for t in times] == allowed


def test_rate_limiter_is_per_unit_and_bounded() -> None:
    limiter = RateLimiter(5.0, 10.0, max_units=10)
    assert all(limiter.allow("A", NOW) for _ in range(50))
    assert not limiter.allow("A", NOW)
    assert limiter.allow("B", NOW)
    for i in range(30):
        limiter.allow(f"X{i}", NOW + 100 + i)
    assert len(limiter) <= 10


def inbound(topic: str, payload: dict[str, Any], received: float,
            retain: bool = False) -> Inbound:
    return Inbound(topic, json.dumps(payload).encode(), 1, retain, 1, 1, received)


def test_build_batch_limits_a_flooding_unit_but_never_an_emergency() -> None:
    limiter = RateLimiter(5.0, 10.0)
    flood = [inbound("patrol/F1/position", {"ts": NOW, "lat": 51.5, "lon": -0.1}, NOW)
             for _ in range(100)]
    sos = [inbound("patrol/F1/status", {"ts": NOW, "status": "EMERGENCY"}, NOW)
           for _ in range(3)]
    other = [inbound("patrol/OK/position", {"ts": NOW, "lat": 51.5, "lon": -0.1}, NOW)]
    batch = build_batch(flood + sos + other, CTX, NOW + 1, limiter)
    assert len(batch.positions) == 51  # F1's burst of 50, and OK's one
    assert [s.status for s in batch.statuses] == [Status.EMERGENCY] * 3
    assert {r.reason for r in batch.rejections} == {Reason.RATE_LIMITED}
    assert len(batch.rejections) == 50


def test_build_batch_stamps_strictly_increasing_arrivals() -> None:
    same = [inbound("patrol/U1/status", {"ts": NOW, "status": s}, NOW)
            for s in ("AT_SCENE", "EMERGENCY")]
    batch = build_batch(same, CTX, NOW + 1)
    first, second = (s.arrival for s in batch.statuses)
    assert first is not None and second is not None and second > first


# --- OwnTracks -------------------------------------------------------------------------------


def owntracks(**fields: Any) -> bytes:
    return json.dumps({"_type": "location", "tst": int(NOW) - 5, "lat": 51.5, "lon": -0.1,
                       **fields}).encode()


@pytest.mark.parametrize(("fields", "dropped"), [
    ({"vel": -1, "cog": -1}, ("speed", "heading")),  # what iOS sends when it does not know
    ({"cog": 361}, ("heading",)),
    ({"batt": 101, "acc": 12}, ("battery",)),
    ({"acc": -5, "vel": 36}, ("acc",)),
])
def test_owntracks_out_of_range_optional_fields_are_dropped(
        fields: dict[str, Any], dropped: tuple[str, ...]) -> None:
    got = parse_message("owntracks/alice/phone", owntracks(**fields), NOW, CTX)
    assert isinstance(got, Position), got
    assert (got.lat, got.lon, got.ts) == (51.5, -0.1, NOW - 5)
    for name in dropped:
        assert getattr(got, name) is None
    kept = {"acc": 12.0, "speed": 10.0}
    for name, value in kept.items():
        if name not in dropped and getattr(got, name) is not None:
            assert getattr(got, name) == pytest.approx(value)


def test_owntracks_required_fields_and_wrong_types_still_reject() -> None:
    got = parse_message("owntracks/alice/phone", owntracks(lat=91), NOW, CTX)
    assert isinstance(got, Rejection) and got.reason is Reason.OUT_OF_RANGE
    got = parse_message("owntracks/alice/phone", owntracks(vel="-1"), NOW, CTX)
    assert isinstance(got, Rejection) and got.reason is Reason.INVALID_FIELD


def test_owntracks_lwt_is_placed_at_tst_and_a_retained_one_without_tst_at_the_epoch() -> None:
    lwt = json.dumps({"_type": "lwt", "tst": int(NOW) - 7200}).encode()
    assert parse_message("owntracks/a/p", lwt, NOW, CTX, retained=True) == LostContact(
        "a-p", NOW - 7200, True)
    bare = json.dumps({"_type": "lwt"}).encode()
    assert parse_message("owntracks/a/p", bare, NOW, CTX) == LostContact("a-p", NOW)
    assert parse_message("owntracks/a/p", bare, NOW, CTX, retained=True) == LostContact(
        "a-p", 0.0, True)


def test_old_timestamps_walked_forward_get_one_backlog_then_the_rate() -> None:
    """A flood with ever-increasing timestamps from long ago is not a licence to flood."""
    limiter = RateLimiter(5.0, 10.0, backlog_s=3600.0)
    arrival = NOW
    taken = 0
    for i in range(200_000):  # ts from a year ago, 0.2 s apart: one token refilled each
        arrival += 0.0001  # all of it within 20 s of real time
        taken += limiter.allow("F", NOW - 365 * 86400 + i * 0.2, arrival)
    # One window (50) plus a backlog of an hour at 5/s, plus 5/s of the 20 s that passed.
    assert taken <= 50 + 3600 * 5 + 20 * 5 + 1, taken
    # A real backlog inside the horizon is kept whole: an hour at one message a second.
    fresh = RateLimiter(5.0, 10.0, backlog_s=3600.0)
    assert all(fresh.allow("B", NOW - 3599 + i, NOW + i * 0.001) for i in range(3599))


def test_build_batch_hands_the_retained_flag_to_the_parser() -> None:
    """A retained last-will without tst is placed at the epoch, a live one now: the worker's
    batch builder must pass the broker's retain flag on (issue 15 item 10)."""
    bare = {"_type": "lwt"}
    batch = build_batch([inbound("owntracks/a/p", bare, NOW, retain=True),
                         inbound("owntracks/b/p", bare, NOW, retain=False)], CTX, NOW + 1)
    assert batch.lost[0] == LostContact("a-p", 0.0, True)
    assert (batch.lost[1].ts, batch.lost[1].retained) == (pytest.approx(NOW), False)


# --- the status timeline (core.timeline) ------------------------------------------------------

DAY = 86_400.0


def test_an_emergency_ends_a_fast_off_duty_on_arrival() -> None:
    """Issue 15 item 1: a handheld 60 s fast books OFF_DUTY; EMERGENCY 10 s later."""
    tl = Timeline()
    assert tl.add(NOW + 60, Status.OFF_DUTY, NOW, NOW, DAY).outcome is Outcome.NEW
    assert tl.off_duty_at(NOW + 5, NOW + 5)
    assert tl.add(NOW + 10, Status.EMERGENCY, NOW + 10, NOW + 10, DAY).latest
    assert tl.in_emergency()
    assert not tl.off_duty_at(NOW + 80, NOW + 20)  # still 60 s fast: kept
    assert not tl.off_duty_at(NOW + 3600, NOW + 3600)


def test_the_status_ending_an_emergency_sits_at_its_arrival() -> None:
    tl = Timeline()
    tl.add(NOW, Status.EMERGENCY, NOW, NOW, DAY)
    effect = tl.add(NOW - 120, Status.OFF_DUTY, NOW + 30, NOW + 30, DAY)  # a slow clock
    assert effect.latest and effect.entry is not None and effect.entry.at == NOW + 30
    assert not tl.off_duty_at(NOW + 10, NOW + 10)  # inside the EMERGENCY: never dropped
    assert tl.off_duty_at(NOW + 40, NOW + 40)
    assert tl.period(effect.entry, NOW + 30, DAY) == (NOW + 30, None)


def test_a_message_seen_before_changes_nothing() -> None:
    tl = Timeline()
    tl.add(NOW, Status.OFF_DUTY, NOW, NOW, DAY)
    tl.add(NOW + 60, Status.ON_PATROL, NOW + 60, NOW + 60, DAY)
    assert tl.add(NOW, Status.OFF_DUTY, NOW + 500, NOW + 500, DAY).outcome is Outcome.SEEN
    assert tl.add(NOW - 2 * DAY, Status.OFF_DUTY, NOW + 500, NOW + 500, DAY
                  ).outcome is Outcome.SEEN  # older than retention: history not kept
    assert [e.status for e in tl.entries] == [Status.OFF_DUTY, Status.ON_PATROL]


def test_emergency_repeats_fold_and_a_replayed_press_is_seen() -> None:
    tl = Timeline()
    assert tl.add(NOW, Status.EMERGENCY, NOW, NOW, DAY).outcome is Outcome.NEW
    assert tl.add(NOW + 1, Status.EMERGENCY, NOW + 1, NOW + 1, DAY).outcome is Outcome.REPEAT
    assert tl.add(NOW + 2, Status.ON_PATROL, NOW + 2, NOW + 2, DAY).latest
    for ts in (NOW, NOW + 0.5, NOW + 1):  # the run again, after it ended: nothing
        assert tl.add(ts, Status.EMERGENCY, NOW + 9, NOW + 9, DAY).outcome is Outcome.SEEN
    assert tl.add(NOW + 10, Status.EMERGENCY, NOW + 10, NOW + 10, DAY).outcome is Outcome.NEW
    assert len(tl.entries) == 3


def test_trim_keeps_the_entry_in_force_at_the_cutoff() -> None:
    tl = Timeline()
    for i, status in enumerate([Status.ON_PATROL, Status.OFF_DUTY, Status.AVAILABLE]):
        tl.add(NOW + i * 100, status, NOW + i * 100, NOW + i * 100, DAY)
    tl.trim(NOW + 150 + DAY, DAY)
    assert [e.status for e in tl.entries] == [Status.OFF_DUTY, Status.AVAILABLE]


def test_the_rate_limit_exemption_is_the_timelines() -> None:
    assert exempt_from_rate_limit(Status.EMERGENCY)
    assert not any(exempt_from_rate_limit(s) for s in Status if s is not Status.EMERGENCY)


@st.composite
def status_histories(draw: st.DrawFn) -> list[tuple[float, float, Status]]:
    """A unit's statuses in arrival order: skew within the allowance, repeats, replays."""
    out: list[tuple[float, float, Status]] = []
    arrival = NOW
    for _ in range(draw(st.integers(1, 20))):
        arrival += draw(st.sampled_from([1e-6, 0.5, 1.0, 30.0, 400.0]))
        if out and draw(st.integers(0, 3)) == 0:  # re-delivered, retained or replayed
            ts, _, status = draw(st.sampled_from(out))
        else:
            ts = float(round(arrival) + draw(st.integers(-900, int(SKEW_S))))
            status = draw(st.sampled_from([Status.OFF_DUTY, Status.EMERGENCY,
                                           Status.ON_PATROL, Status.AVAILABLE]))
        out.append((ts, arrival + len(out) * 1e-6, status))
    return out


@given(status_histories())
def test_the_timeline_keeps_its_promises(seq: list[tuple[float, float, Status]]) -> None:
    tl = Timeline()
    raised = 0
    for ts, arrival, status in seq:
        was_in_emergency = tl.in_emergency()
        effect = tl.add(ts, status, arrival, arrival, DAY)
        if status is Status.EMERGENCY and effect.outcome is Outcome.NEW:
            raised += 1
            assert not was_in_emergency and tl.in_emergency()  # on arrival, whatever its ts
        if effect.outcome is not Outcome.NEW:
            continue
        assert effect.latest == (tl.latest() == effect.entry)
        if status is not Status.EMERGENCY and was_in_emergency:
            assert effect.latest  # the first status to arrive after it ends it
        # positions arriving now, at any time in the EMERGENCY spans, are never dropped
        for i, entry in enumerate(tl.entries):
            if entry.status is Status.EMERGENCY:
                end = tl.entries[i + 1].at if i + 1 < len(tl.entries) else entry.at + 3600
                for t in (entry.at, (entry.at + end) / 2):
                    assert not tl.off_duty_at(t, arrival)
    # each press raised at most once: a replayed one is never NEW again
    presses = {ts for ts, _, s in seq if s is Status.EMERGENCY}
    assert raised <= len(presses)
    # the same history delivered again (a restart replaying all of it) changes nothing
    before = list(tl.entries)
    for ts, arrival, status in seq:
        assert tl.add(ts, status, arrival + 10_000, arrival + 10_000, DAY
                      ).outcome is Outcome.SEEN
    assert tl.entries == before
