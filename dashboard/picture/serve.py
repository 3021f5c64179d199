"""Serve the stored picture to this process's screens and to ``/api/units``.

A refresh where the picture has not moved past the version the screen holds costs one
HMGET and answers ``no_update`` (the clock aside). Otherwise it reads the parts whose
digests differ from the screen's, plus the map steps since the screen's version (or the
whole layer), as bytes: no rebuild. When no producer has confirmed the picture for
``STALE_S``, this process stands in under the same lock; while another holder is busy it
serves the stored picture, and once that holder has been silent for ``ABANDONED_S`` it
builds for the request alone, so a screen never shows a long-gone picture as current.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis
from dash import no_update
from flask import Response

from dashboard.control_room.actions import REFRESH_OUTPUTS, read_live, redis_down
from dashboard.deps import Deps
from dashboard.picture import delta, parts
from dashboard.picture.build import Built
from dashboard.picture.producer import PictureProducer, build_live
from dashboard.times import local_clock, zone_abbreviation

STALE_S = 2.0  # producers confirm the picture at least every second
# A picture older than STALE_S while another producer holds the lock is still served (that
# producer is busy building); only past this age does a request build for itself.
ABANDONED_S = 15.0
HEAD = ("version", "checked_at", "digests", "units_len")
ROLE_PARTS = frozenset({"gaps", "alarms"})  # rendered with or without supervisors' buttons
# The map goes to the picture store (drawn by assets/live.js), not to a GeoJSON layer's data.
OUTPUTS = (*(k for k in REFRESH_OUTPUTS if k != "units"), "picture")
EXTENSION = "patrolwatch_screens"


@dataclass(frozen=True)
class Picture:
    """One read of the picture: its version, part digests, and how to read its bytes."""

    version: int | None  # None: built for this request alone (no steps, no version)
    digests: dict[str, str]
    units_len: int
    fields: Callable[[Sequence[str]], list[bytes | None]]
    steps: Callable[[int, int], list[bytes | None]]


def local_fields(built: Built) -> dict[str, bytes]:
    """Return the fields a stored picture would hold, for a build not stored."""
    # Version -1: the browser holds no stored version after it, so it is sent whole again.
    return {"units": delta.full_bytes(-1, built.entries), "api_units": built.api_units,
            **{f"part:{k}": v for k, v in built.parts.items()},
            **{f"html:{k}": v for k, v in parts.rendered(built.parts).items()}}


class Screens:
    """This process's reader of the picture, with a standby producer for when none runs."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.standby = PictureProducer(deps, min_interval_s=0.0)
        self._standby_lock = threading.Lock()  # one request thread builds; others wait

    def picture(self, now: float) -> Picture:
        """Return the current picture (RedisError when Redis is unreachable)."""
        head = self.deps.store.picture_fields(HEAD)
        if not _fresh(head, now):
            with self._standby_lock:
                head = self.deps.store.picture_fields(HEAD)
                if not _fresh(head, now):
                    self.stand_in(now)
                    head = self.deps.store.picture_fields(HEAD)
            if not _fresh(head, now, ABANDONED_S):
                return self.local(now)
        version, _, digests, units_len = head
        store = self.deps.store
        return Picture(int(version or 0), orjson.loads(digests or b"{}"), int(units_len or 0),
                       store.picture_fields, store.picture_steps)

    def stand_in(self, now: float) -> None:
        """Build once as the producer, then give the lock back at once.

        Holding on would shut out a producer process that starts later, while this one only
        builds when a screen finds the picture stale.
        """
        try:
            self.standby.step(now)
        finally:
            if self.standby.holding:
                self.standby.store.release_picture_lock(self.standby.owner)
                self.standby.holding = False

    def local(self, now: float) -> Picture:
        """Build for this request alone: another producer holds the lock but is not producing."""
        built = build_live(self.deps, read_live(self.deps, now), now)
        fields = local_fields(built)
        return Picture(None, built.digests, len(fields["units"]),
                       lambda names: [fields.get(n) for n in names], lambda a, b: [])

    def api_units(self, now: float, accepts_gzip: bool) -> tuple[bytes, bool]:
        """Return the ``/api/units`` body as stored, and whether it is gzip-encoded."""
        pic = self.picture(now)
        gzipped = accepts_gzip and pic.version is not None
        body = pic.fields(["api_units_gz" if gzipped else "api_units"])[0]
        if body is None:  # a picture stored before this field existed: build it here
            return self.local(now).fields(["api_units"])[0] or b'{"units":[]}', False
        return body, gzipped


def api_units_response(screens: Screens, headers: Any) -> Response:
    """Return ``/api/units`` from the stored bytes, gzip-encoded when the client accepts it."""
    accepts = "gzip" in headers.get("Accept-Encoding", "").lower()
    body, gzipped = screens.api_units(time.time(), accepts)
    response = Response(body, mimetype="application/json")
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
    return response


def screens_for(server: Any, deps: Deps) -> Screens:
    """Return the app's ``Screens`` (one per app, kept in the Flask app's extensions)."""
    found = server.extensions.get(EXTENSION)
    if not isinstance(found, Screens):
        found = server.extensions[EXTENSION] = Screens(deps)
    return found


def _fresh(head: Sequence[bytes | None], now: float, max_age_s: float = STALE_S) -> bool:
    checked = head[1]
    return head[0] is not None and checked is not None and now - float(checked) <= max_age_s


def refresh(screens: Screens, search: str | None, have: int | None,
            digests: dict[str, Any] | None, now: float, can_act: bool = False,
            hold: bool = False) -> dict[str, Any]:
    """Return the live outputs for one tick; what the screen already shows is ``no_update``.

    ``have`` is the picture version the screen's map holds (set in the browser);
    ``digests`` what its side panel holds. ``can_act`` adds the supervisors' buttons.
    ``hold`` (the pointer is on the gap list) leaves the gap list as it is until it leaves.
    """
    deps = screens.deps
    digests = digests or {}
    zone = deps.settings.zone
    out: dict[str, Any] = {k: no_update for k in OUTPUTS}
    out["clock"] = f"{local_clock(now, zone, seconds=True)} {zone_abbreviation(now, zone)}"
    new: dict[str, Any] = {k: v for k, v in digests.items() if k != "ok_at"}
    query = (search or "").strip()
    try:
        pic = screens.picture(now)
        if (pic.version is not None and have == pic.version and digests.get("v") == pic.version
                and digests.get("q") == query and digests.get("degraded") != "redis-down"
                and not digests.get("held")):
            return out
        _fill(pic, out, new, have, query, can_act, digests, hold)
    except redis.RedisError as exc:
        new.pop("feed", None)  # the feed line now says the store is unreachable: re-send it
        return redis_down(deps, exc, digests, out, new)
    new |= {"ok_at": now, "v": pic.version, "q": query}
    out["digests"] = new
    return out


def _keys(pic: Picture, query: str, can_act: bool) -> dict[str, tuple[str, str]]:
    """Return output part -> (stored part, the digest key a screen holding it has)."""
    role = "|act" if can_act else ""
    out: dict[str, tuple[str, str]] = {}
    for name in ("counts", "gaps", "alarms", "lost", "hideout", "degraded", "feed"):
        out[name] = (name, pic.digests.get(name, "") + (role if name in ROLE_PARTS else ""))
    source = "index" if query else "units0"
    out["unit_list"] = (source, f"{pic.digests.get(source, '')}|{query}")
    return out


def _fill(pic: Picture, out: dict[str, Any], new: dict[str, Any], have: int | None,
          query: str, can_act: bool, digests: dict[str, Any], hold: bool = False) -> None:
    """Put every part the screen lacks, and its map update, into ``out``."""
    wanted = {name: sp for name, sp in _keys(pic, query, can_act).items()
              if digests.get(name) != sp[1]}
    map_needed = pic.version is None or have != pic.version
    map_payload: bytes | None = None
    if map_needed and pic.version is not None:
        missed = delta.steps_wanted(have, pic.version)
        if missed is not None:
            map_payload = delta.payload(pic.version, pic.steps(missed.start - 1, pic.version),
                                        pic.units_len)
    need_full = map_needed and map_payload is None
    names = [_field(name, source) for name, (source, _) in wanted.items()]
    names += ["units"] if need_full else []
    got = dict(zip(names, pic.fields(names), strict=True)) if names else {}
    if need_full:
        map_payload = got.get("units")
    if map_payload is not None:
        out["picture"] = map_payload.decode()
    if "gaps" not in wanted and digests.get("held"):
        new.pop("held", None)  # the list did not change while held: just lift the note
        out["gap_held"] = HELD_HIDDEN
    for name, (source, key) in wanted.items():
        data = got.get(_field(name, source))
        if data is None:
            continue
        if name == "gaps":
            _gap_list(data, key, can_act, hold, digests, out, new)
            continue
        if source in parts.SHARED:
            _shared(name, orjson.loads(data), out)
        else:
            _render(name, data, out, query, can_act)
        new[name] = key


HELD_SHOWN = "pw-gap-held"
HELD_HIDDEN = "pw-gap-held pw-invisible"  # keeps its room: the list must not move


def _gap_list(data: bytes, key: str, can_act: bool, hold: bool, digests: dict[str, Any],
              out: dict[str, Any], new: dict[str, Any]) -> None:
    """Send a changed gap list, but not while the pointer is on it.

    Held, the old digest is kept, so the list is sent as soon as the pointer leaves; the
    count beside the heading keeps up meanwhile, and a note says the list is paused.
    """
    rows, tasked = parts.gap_rows(data)
    count, badge_class = parts.gap_badge(rows, data)
    if digests.get("gap_count") != count:
        new["gap_count"] = count
        out["gap_badge"] = count
        out["gap_badge_class"] = badge_class
    if hold:
        new["gaps"] = digests.get("gaps")
        new["held"] = True
        if not digests.get("held"):
            out["gap_held"] = HELD_SHOWN
        return
    new.pop("held", None)
    if digests.get("held"):
        out["gap_held"] = HELD_HIDDEN
    out["gaps"] = parts.render_gap_list(rows, tasked, data, can_act)
    new["gaps"] = key


def _field(name: str, source: str) -> str:
    """Return the stored field a part comes from: rendered once, or a view model to render."""
    return f"html:{source}" if source in parts.SHARED else f"part:{source}"


def _shared(name: str, value: Any, out: dict[str, Any]) -> None:
    """Put a part the producer rendered (Dash component JSON) into its outputs."""
    if name == "lost":
        out["lost"], out["lost_tab"] = value
    elif name == "degraded":
        out["degraded"], out["degraded_class"] = value
    else:
        out[name] = value


def _render(name: str, data: bytes, out: dict[str, Any], query: str, can_act: bool) -> None:
    if name == "counts":
        out["counts"] = parts.counts(data)
    elif name == "alarms":
        out["alarms"], out["alarms_class"] = parts.alarms(data, can_act)
    elif name == "unit_list":
        out["unit_list"] = parts.unit_list(data, query)
    elif name == "lost":
        out["lost"], out["lost_tab"] = parts.lost(data)
    elif name == "hideout":
        out["hideout"] = parts.hideout(data)
    elif name == "degraded":
        out["degraded"], out["degraded_class"] = parts.degraded(data)
    elif name == "feed":
        out["feed"] = parts.feed(data)
