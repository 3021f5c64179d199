"""Replay actions: move the clock, read frames, tracks and presence through the two-tier history.

Every read of history here is written to the access log first (``record_read``), as the
API's are: the page is another way to look at the same history.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dash import no_update

from dashboard import ids
from dashboard.access import record_read
from dashboard.control_room.view import hotspots_hideout
from dashboard.deps import Deps
from dashboard.history_api import history_for, hotspot_presence, pooled_frame, pooled_presence
from dashboard.replay import view
from dashboard.replay.view import Clock
from dashboard.times import rfc3339
from patrolwatch.archive.pool import BusyError
from patrolwatch.archive.presence import BadAreaError, OverBudgetError, polygon_area

TRACK_MAX_POINTS = 2000


def control(deps: Deps, user: str, trigger: Any, clock_data: Mapping[str, Any] | None,
            scrub: float | None, speed: int | None, click: Mapping[str, Any] | None,
            since_text: str | None, until_text: str | None, now: float) -> Clock | str:
    """Return the clock after what the user did (or a message saying what was wrong)."""
    clock = Clock.from_store(clock_data, now)
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
                     unit if isinstance(unit, str) else None)
    if kind == ids.REPLAY_UNFOLLOW:
        return Clock(clock.start, clock.end, clock.at, clock.playing, clock.speed, None)
    if kind == ids.REPLAY_LOAD:
        zone = deps.settings.zone
        start, end = view.parse_local(since_text, zone), view.parse_local(until_text, zone)
        if start is None or end is None:
            return "Give the period as a date and time in both fields."
        end = min(end, now)
        if start < now - deps.settings.trail_retention_s:
            return "That is older than the retention period: positions are gone."
        try:
            return view.set_period(clock, start, end)
        except ValueError as exc:
            return f"Period not changed: {exc}."
    if kind in (ids.REPLAY_NEXT_GAP, ids.REPLAY_NEXT_EMERGENCY):
        return jump(deps, user, clock, "gap" if kind == ids.REPLAY_NEXT_GAP else "emergency")
    return clock


def jump(deps: Deps, user: str, clock: Clock, kind: str) -> Clock | str:
    """Return the clock at the next gap opened or emergency raised in the period."""
    history = history_for(deps)
    record_read(deps.store, user, f"replay_next_{kind}", since=rfc3339(clock.at),
                until=rfc3339(clock.end))
    entries = history.hotspot_states(clock.at, clock.end) if kind == "gap" else []
    emergencies: list[float] = []
    if kind == "emergency":
        changes = history.status_changes(deps.store.seen_units(), clock.at, clock.end,
                                         deps.settings.trail_retention_s)
        emergencies = [c.ts for c in changes if c.status.value == "EMERGENCY"]
    found = view.next_event(entries, emergencies, clock.at, kind)
    if found is None:
        return f"No {'gap opens' if kind == 'gap' else 'emergency'} after this in the period."
    return Clock(clock.start, clock.end, found, False, clock.speed, clock.follow)


def render(deps: Deps, user: str, clock: Clock) -> dict[str, Any]:
    """Return what the page shows for the clock: map layers, track, labels, controls."""
    history = history_for(deps)
    record_read(deps.store, user, "replay_frame", at=rfc3339(clock.at), follow=clock.follow)
    found = pooled_frame(deps, clock.at)  # in the history pool, not this web worker
    track: list[list[float]] = []
    viewport: Any = no_update
    follow_label = ""
    if clock.follow:
        record_read(deps.store, user, "trail", unit=clock.follow,
                    since=rfc3339(clock.start), until=rfc3339(clock.at))
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


def timeline(deps: Deps, user: str, period: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the hotspot-state timeline over the replay period."""
    if not period:
        return {"data": [], "layout": {"height": 40}}
    start, end = float(period["start"]), float(period["end"])
    record_read(deps.store, user, "replay_timeline", since=rfc3339(start), until=rfc3339(end))
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
    if until - since > view.MAX_PERIOD_S:
        return [], "Ask about at most 31 days at a time."
    polygon = view.drawn_polygon(drawn)
    if polygon is None and not hotspot:
        return [], "Pick a hotspot, or draw a polygon on the map."
    if polygon is not None:
        try:
            area = polygon_area(json.dumps(polygon))
        except BadAreaError as exc:
            return [], str(exc)
        record_read(deps.store, user, "presence", polygon=json.dumps(polygon)[:500],
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
    before = Clock.from_store(clock_data, now)
    moved = control(deps, user, trigger, clock_data, scrub, speed, click, since_text,
                    until_text, now)
    message = ""
    if isinstance(moved, str):
        message, moved = moved, before
    out = render(deps, user, moved)
    period_changed = (moved.start, moved.end) != (before.start, before.end) or trigger is None
    return {**out, "clock": moved.to_store(), "message": message,
            "period": ({"start": moved.start, "end": moved.end} if period_changed
                       else no_update)}
