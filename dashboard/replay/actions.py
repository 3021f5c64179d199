"""Replay actions: move the clock, read frames, tracks and presence through the two-tier history.

Every read of history here is written to the access log first (``record_read``), as the
API's are: the page is another way to look at the same history.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from dash import no_update

from dashboard import ids
from dashboard.access import REPLAY_SCOPE_S, area_summary, record_read, record_read_once
from dashboard.control_room.view import hotspots_hideout
from dashboard.deps import Deps
from dashboard.history_api import history_for, hotspot_presence, pooled_frame, pooled_presence
from dashboard.replay import view
from dashboard.replay.view import Clock
from dashboard.times import rfc3339
from patrolwatch.archive.pool import BusyError
from patrolwatch.archive.presence import BadAreaError, OverBudgetError, polygon_area
from patrolwatch.archive.report_reads import emergency_units
from patrolwatch.core.model import UNIT_ID_RE
from patrolwatch.core.periods import Bounds, PeriodError, check_period

TRACK_MAX_POINTS = 2000
# Every output of the control callback (callbacks.CONTROL_TARGETS): what ``on_control`` returns.
CONTROL_KEYS = ("clock", "period", "units", "hideout", "track", "viewport", "label", "follow",
                "scrub_min", "scrub_max", "scrub", "play", "tick_off", "message")


def control(deps: Deps, user: str, trigger: Any, clock_data: Mapping[str, Any] | None,
            scrub: float | None, speed: int | None, click: Mapping[str, Any] | None,
            since_text: str | None, until_text: str | None, now: float) -> Clock | str:
    """Return the clock after what the user did (or a message saying what was wrong)."""
    clock = checked_clock(deps, clock_data, now)
    kind = trigger.get("type") if isinstance(trigger, dict) else trigger
    if kind == ids.REPLAY_TICK:
        return view.tick(clock)
    if kind == ids.REPLAY_PLAY:
        at = clock.start if clock.at >= clock.end else clock.at
        return Clock(clock.start, clock.end, at, not clock.playing, clock.speed, clock.follow)
    if kind == ids.REPLAY_STEP:
        return view.step(clock, float(trigger.get("minutes", 0)))
    if kind == ids.REPLAY_SCRUBBER and scrub is not None:
        return clock.clamp(float(scrub))
    if kind == ids.REPLAY_SPEED and speed in view.SPEEDS:
        return Clock(clock.start, clock.end, clock.at, clock.playing, int(speed), clock.follow)
    if kind == ids.REPLAY_UNITS and click:
        unit = (click.get("properties") or {}).get("id")
        return Clock(clock.start, clock.end, clock.at, clock.playing, clock.speed,
                     unit if known_unit(deps, unit) else None)
    if kind == ids.REPLAY_UNFOLLOW:
        return Clock(clock.start, clock.end, clock.at, clock.playing, clock.speed, None)
    if kind == ids.REPLAY_LOAD:
        zone = deps.settings.zone
        start, end = view.parse_local(since_text, zone), view.parse_local(until_text, zone)
        if start is None or end is None:
            return "Give the period as a date and time in both fields."
        end = min(end, now)
        try:
            check_period(start, end, Bounds(now, deps.settings.trail_retention_s),
                         view.MAX_PERIOD_S)
            return view.set_period(clock, start, end)
        except ValueError as exc:  # PeriodError included
            return f"Period not changed: {exc}."
    if kind in (ids.REPLAY_NEXT_GAP, ids.REPLAY_NEXT_EMERGENCY):
        return jump(deps, user, clock, "gap" if kind == ids.REPLAY_NEXT_GAP else "emergency")
    return clock


def checked_clock(deps: Deps, data: Mapping[str, Any] | None, now: float) -> Clock:
    """Return the page's clock if its period, ``at`` and ``follow`` hold; raise PeriodError.

    The browser keeps the clock, so anything in it may be forged: the period must lie in
    retention and span at most 31 days, ``at`` inside it, ``follow`` a unit that exists.
    """
    try:
        clock = Clock.from_store(data, now)
    except (KeyError, TypeError, ValueError):
        raise PeriodError("the replay clock is not readable") from None
    check_period(clock.start, clock.end, Bounds(now, deps.settings.trail_retention_s),
                 view.MAX_PERIOD_S)
    if not clock.start <= clock.at <= clock.end:
        raise PeriodError("the replay time lies outside its period")
    if clock.follow is not None and not known_unit(deps, clock.follow):
        raise PeriodError("the followed unit is not a known unit")
    return clock


def known_unit(deps: Deps, unit: Any) -> bool:
    """Tell whether ``unit`` is a valid id of a unit on the roster or ever heard from."""
    return isinstance(unit, str) and bool(UNIT_ID_RE.match(unit)) and (
        unit in deps.callsigns or deps.store.last_seen(unit) is not None)


def period_scope(clock: Clock) -> str:
    """Return what makes one replay period one access-log entry (its start and end)."""
    return f"{clock.start!r}|{clock.end!r}"


def jump(deps: Deps, user: str, clock: Clock, kind: str) -> Clock | str:
    """Return the clock at the next gap opened or emergency raised in the period."""
    history = history_for(deps)
    record_read_once(deps.store, user, "replay", period_scope(clock), REPLAY_SCOPE_S,
                     since=rfc3339(clock.start), until=rfc3339(clock.end))
    entries = history.hotspot_states(clock.at, clock.end) if kind == "gap" else []
    emergencies: list[float] = []
    if kind == "emergency":
        # Only the units that raised an EMERGENCY (report_reads): not every unit's status log.
        units = emergency_units(history, deps.store.all_alarms(), clock.at, clock.end)
        changes = history.status_changes(units, clock.at, clock.end,
                                         deps.settings.trail_retention_s)
        emergencies = [c.ts for c in changes if c.status.value == "EMERGENCY"]
    found = view.next_event(entries, emergencies, clock.at, kind)
    if found is None:
        return f"No {'gap opens' if kind == 'gap' else 'emergency'} after this in the period."
    return Clock(clock.start, clock.end, found, False, clock.speed, clock.follow)


def render(deps: Deps, user: str, clock: Clock) -> dict[str, Any]:
    """Return what the page shows for the clock: map layers, track, labels, controls."""
    history = history_for(deps)
    record_read_once(deps.store, user, "replay", period_scope(clock), REPLAY_SCOPE_S,
                     since=rfc3339(clock.start), until=rfc3339(clock.end))
    found = pooled_frame(deps, clock.at)  # in the history pool, not this web worker
    track: list[list[float]] = []
    viewport: Any = no_update
    follow_label = ""
    if clock.follow:
        record_read_once(deps.store, user, "replay_follow",
                         f"{period_scope(clock)}|{clock.follow}", REPLAY_SCOPE_S,
                         unit=clock.follow, since=rfc3339(clock.start), until=rfc3339(clock.end))
        trail = history.trail(clock.follow, clock.start, clock.at, TRACK_MAX_POINTS)
        track = view.track_positions(trail.points)
        callsign = deps.callsigns.get(clock.follow, clock.follow)
        follow_label = f"Following {callsign}"
        if track:
            viewport = {"center": track[-1], "transition": "panTo"}
    zone = deps.settings.zone
    return {
        "units": view.units_layer(found),
        "hideout": hotspots_hideout(found.hotspots),
        "track": track,
        "viewport": viewport,
        "label": view.clock_label(clock, zone),
        "follow": follow_label,
        "scrub_min": clock.start, "scrub_max": clock.end, "scrub": clock.at,
        "play": "Pause" if clock.playing else "Play",
        "tick_off": not clock.playing,
    }


def busy(deps: Deps, clock: Clock) -> dict[str, Any]:
    """Return the control callback's outputs when the history pool is full: nothing moves.

    The page keeps its clock, map and controls as they were and says why the frame did not
    come; the next step, tick or click asks again.
    """
    when = view.clock_label(clock, deps.settings.zone)
    return {**{key: no_update for key in CONTROL_KEYS},
            "message": f"History is busy (every history worker is answering other requests): "
                       f"the frame at {when} was not loaded. Try again in a moment; the rest "
                       "of the page keeps working."}


def timeline(deps: Deps, user: str, period: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the hotspot-state timeline over the replay period."""
    if not period:
        return {"data": [], "layout": {"height": 40}}
    try:
        start, end = check_period(float(period["start"]), float(period["end"]),
                                  Bounds(time.time(), deps.settings.trail_retention_s),
                                  view.MAX_PERIOD_S)
    except (KeyError, TypeError, ValueError):
        return {"data": [], "layout": {"height": 40}}
    record_read_once(deps.store, user, "replay", period_scope(Clock(start, end, start)),
                     REPLAY_SCOPE_S, since=rfc3339(start), until=rfc3339(end))
    entries = history_for(deps).hotspot_states(start, end)
    names = {h.id: h.name for h in deps.hotspots}
    return view.timeline_figure(entries, names, start, deps.settings.zone)


def who_was_here(deps: Deps, user: str, hotspot: str | None, drawn: Mapping[str, Any] | None,
                 since_text: str | None, until_text: str | None, now: float
                 ) -> tuple[list[dict[str, Any]], str]:
    """Return the who-was-here table rows and a line saying what was asked."""
    zone = deps.settings.zone
    since, until = view.parse_local(since_text, zone), view.parse_local(until_text, zone)
    if since is None or until is None or until <= since:
        return [], "Pick a period: a start and an end after it."
    try:
        check_period(since, until, Bounds(now, deps.settings.trail_retention_s),
                     view.MAX_PERIOD_S)
    except PeriodError as exc:
        return [], f"Period not asked: {exc}."
    polygon = view.drawn_polygon(drawn)
    if polygon is None and not hotspot:
        return [], "Pick a hotspot, or draw a polygon on the map."
    if polygon is not None:
        try:
            area = polygon_area(json.dumps(polygon))
        except BadAreaError as exc:
            return [], str(exc)
        record_read(deps.store, user, "presence", area=area_summary(polygon),
                    since=rfc3339(since), until=rfc3339(until))
        try:  # planned here, run in the history pool
            rows = pooled_presence(deps, area, since, until)
        except (OverBudgetError, BusyError) as exc:
            return [], str(exc)
        what = "the drawn area"
    else:
        assert hotspot is not None
        if hotspot not in deps.hotspots.by_id:
            return [], f"Unknown hotspot {hotspot!r}."
        record_read(deps.store, user, "presence", hotspot=hotspot, since=rfc3339(since),
                    until=rfc3339(until))
        rows = hotspot_presence(deps, hotspot, since, until)
        what = deps.hotspots.by_id[hotspot].name
    for r in rows:
        r["callsign"] = deps.callsigns.get(r["unit"], r["unit"])
    return view.presence_rows(rows, zone), f"{len(rows)} unit(s) in {what}."


def on_control(deps: Deps, user: str, trigger: Any, clock_data: Mapping[str, Any] | None,
               scrub: float | None, speed: int | None, click: Mapping[str, Any] | None,
               since_text: str | None, until_text: str | None, now: float) -> dict[str, Any]:
    """Return every output of the replay's one control callback for what the user did."""
    try:
        before = checked_clock(deps, clock_data, now)
    except PeriodError as exc:  # a forged or outdated clock: start afresh, say why
        clock_data, trigger = None, None
        before = Clock.from_store(None, now)
        forged = f"Replay restarted: {exc}."
    else:
        forged = ""
    moved = control(deps, user, trigger, clock_data, scrub, speed, click, since_text,
                    until_text, now)
    message = forged
    if isinstance(moved, str):
        message, moved = moved, before
    try:
        checked_clock(deps, moved.to_store(), now)
    except PeriodError as exc:
        message, moved = f"Not moved: {exc}.", before
    try:
        out = render(deps, user, moved)
    except BusyError:
        return busy(deps, moved)
    period_changed = (moved.start, moved.end) != (before.start, before.end) or trigger is None
    return {**out, "clock": moved.to_store(), "message": message,
            "period": ({"start": moved.start, "end": moved.end} if period_changed
                       else no_update)}
