"""Replay view models (pure): the clock, frames as map layers, tracks, timelines, presence rows.

The replay clock is plain data kept in the page (``dcc.Store``): the period shown, the
moment ``at``, whether it plays and how fast. Every step is a pure function of it, so the
same clock gives the same picture in any worker.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from dashboard.control_room.view import COORD_DECIMALS
from dashboard.palette import HOTSPOT_LOOK, HOTSPOT_STATES, STATUS_LOOK
from patrolwatch.archive.frames import Frame
from patrolwatch.core.model import Status

SPEEDS = (1, 5, 10, 30, 60, 120)  # replay seconds per wall-clock second
STEPS_MIN = (1, 5, 10)
DEFAULT_PERIOD_S = 6 * 3600.0
MAX_PERIOD_S = 31 * 86_400.0
TICK_S = 1.0  # the play interval


@dataclass(frozen=True)
class Clock:
    """Where the replay stands."""

    start: float
    end: float
    at: float
    playing: bool = False
    speed: int = 10
    follow: str | None = None

    def to_store(self) -> dict[str, Any]:
        """Return the clock as the page keeps it."""
        return asdict(self)

    @classmethod
    def from_store(cls, data: Mapping[str, Any] | None, now: float) -> Clock:
        """Return the clock from the page (a fresh one over the last hours if it holds none)."""
        if not data:
            return cls(now - DEFAULT_PERIOD_S, now, now - DEFAULT_PERIOD_S)
        speed = int(data.get("speed", 10))
        return cls(float(data["start"]), float(data["end"]), float(data["at"]),
                   bool(data.get("playing")), speed if speed in SPEEDS else 10,
                   data.get("follow") or None)

    def clamp(self, at: float) -> Clock:
        """Return the clock moved to ``at``, kept inside the period (playing stops at its end)."""
        at = min(max(at, self.start), self.end)
        return replace(self, at=at, playing=self.playing and at < self.end)


MIN_DEFAULT_S = 15 * 60.0  # a fresh system still opens on a period worth playing


def default_clock(now: float, data_since: float | None) -> Clock:
    """Return the clock a page opens with: the last hours, from where the data starts.

    Opening hours before the first data would show an empty map and "no data" rings.
    """
    start = now - DEFAULT_PERIOD_S
    if data_since is not None and math.isfinite(data_since):
        start = max(start, min(data_since, now - MIN_DEFAULT_S))
    return Clock(start, now, start)


def tick(clock: Clock, elapsed_s: float = TICK_S) -> Clock:
    """Return the clock after one play tick."""
    return clock.clamp(clock.at + clock.speed * elapsed_s) if clock.playing else clock


def step(clock: Clock, minutes: float) -> Clock:
    """Return the clock stepped by whole minutes (negative: back)."""
    return clock.clamp(clock.at + minutes * 60.0)


def set_period(clock: Clock, start: float, end: float) -> Clock:
    """Return the clock over a new period, at its start and paused; raise ValueError."""
    if end <= start:
        raise ValueError("the period must end after it starts")
    if end - start > MAX_PERIOD_S:
        raise ValueError("a replay covers at most 31 days")
    return Clock(start, end, start, False, clock.speed, clock.follow)


def parse_local(text: str | None, zone: ZoneInfo) -> float | None:
    """Return a local date-time input (``2026-12-01 14:30``) as epoch seconds, or None."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def local_input(ts: float, zone: ZoneInfo) -> str:
    """Return epoch seconds as a local date-time input value."""
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M")


def clock_label(clock: Clock, zone: ZoneInfo) -> str:
    """Return what the replay clock shows: the local date and time."""
    return datetime.fromtimestamp(clock.at, zone).strftime("%a %d %b %Y %H:%M:%S %Z")


def status_code(status: str) -> str:
    """Return the one-letter code the map's units layer draws (the live map's palette)."""
    try:
        return STATUS_LOOK[Status(status)].code
    except ValueError:
        return STATUS_LOOK[Status.ON_PATROL].code


def units_layer(frame: Frame) -> dict[str, Any]:
    """Return the frame's units as the live map's units layer draws them (off duty hidden)."""
    drawn = sorted((u for u in frame.units if u.status != Status.OFF_DUTY.value),
                   key=lambda u: u.status == Status.EMERGENCY.value)
    features = []
    for u in drawn:
        props: dict[str, Any] = {"id": u.id, "s": status_code(u.status)}
        if u.stale:
            props["l"] = 1
        features.append({"type": "Feature", "properties": props, "geometry": {
            "type": "Point",
            "coordinates": [round(u.lon, COORD_DECIMALS), round(u.lat, COORD_DECIMALS)]}})
    return {"type": "FeatureCollection", "features": features}


def track_positions(points: Sequence[tuple[float, float, float, float | None]]
                    ) -> list[list[float]]:
    """Return a followed unit's track as Leaflet [lat, lon] pairs."""
    return [[round(p[1], COORD_DECIMALS), round(p[2], COORD_DECIMALS)] for p in points]


def next_event(entries: Sequence[tuple[float, dict[str, str], bool]],
               emergencies: Sequence[float], after: float, kind: str) -> float | None:
    """Return when the next gap opens (a hotspot enters ``gap``) or emergency is raised."""
    if kind == "emergency":
        return min((t for t in emergencies if t > after), default=None)
    previous: dict[str, str] = {}
    for t, states, _ in entries:
        opened = any(s == "gap" and previous.get(h) != "gap" for h, s in states.items())
        if t > after and opened and previous:
            return t
        previous = states
    return None


def timeline_figure(entries: Sequence[tuple[float, dict[str, str], bool]],
                    names: Mapping[str, str], at: float, zone: ZoneInfo) -> dict[str, Any]:
    """Return a Plotly figure: a row per hotspot coloured by state over time, a line at ``at``."""
    order = list(names)
    index = {s: i for i, s in enumerate(HOTSPOT_STATES)}
    xs = [datetime.fromtimestamp(t, zone).isoformat() for t, _, _ in entries]
    z = [[index.get(states.get(h, "no_data"), index["no_data"]) for _, states, _ in entries]
         for h in order]
    n = len(HOTSPOT_STATES)
    scale = []
    for i, state in enumerate(HOTSPOT_STATES):
        scale += [[i / n, HOTSPOT_LOOK[state].colour], [(i + 1) / n, HOTSPOT_LOOK[state].colour]]
    now_x = datetime.fromtimestamp(at, zone).isoformat()
    return {
        "data": [{"type": "heatmap", "x": xs, "y": [names[h] for h in order], "z": z,
                  "zmin": -0.5, "zmax": n - 0.5, "colorscale": scale, "showscale": False,
                  "hovertemplate": "%{y}<br>%{x}<extra></extra>"}],
        # automargin: the names set the left margin, none is clipped (a fixed one cut them)
        "layout": {"margin": {"l": 10, "r": 10, "t": 6, "b": 28}, "height": 40 + 14 * len(order),
                   "paper_bgcolor": "#0f172a", "plot_bgcolor": "#0f172a",
                   "font": {"color": "#cbd5e1", "size": 10},
                   "yaxis": {"automargin": True}, "xaxis": {"automargin": True},
                   "shapes": [{"type": "line", "x0": now_x, "x1": now_x, "yref": "paper",
                               "y0": 0, "y1": 1, "line": {"color": "#ffffff", "width": 2}}]},
    }


def presence_rows(rows: Sequence[Mapping[str, Any]], zone: ZoneInfo) -> list[dict[str, Any]]:
    """Return who-was-here rows for the table: callsign, first, last (local), minutes."""
    def when(ts: float) -> str:
        return datetime.fromtimestamp(ts, zone).strftime("%d %b %H:%M")
    return [{"unit": r["callsign"], "first": when(r["first"]), "last": when(r["last"]),
             "minutes": round(r["minutes"], 1), "visits": r["visits"]} for r in rows]


def drawn_polygon(geojson: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Return the last polygon drawn with the edit control, as a GeoJSON geometry, or None."""
    for feature in reversed((geojson or {}).get("features") or []):
        geometry = feature.get("geometry") or {}
        if geometry.get("type") == "Polygon":
            return dict(geometry)
    return None
