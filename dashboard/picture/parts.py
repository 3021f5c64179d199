"""Turn the stored side-panel parts (JSON view models) into what the screen shows.

Parts that look the same to everyone (counts, unit list, lost list, banners, feed) the
producer renders once and stores as Dash's component JSON (``rendered``): a screen passes
those bytes on. Gaps and alarms differ by role (supervisors get Task and Acknowledge
buttons), and a search filters the unit list, so those a screen renders itself, and only
when the part's digest differs from the one the screen holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from dashboard.control_room import components
from dashboard.control_room.view import UNIT_LIST_LIMIT, Alarm, Counts, LostRow, UnitRow
from dashboard.coverage import components as coverage_components
from dashboard.coverage.view import GapRow, Suggestion, Unknown
from dashboard.picture.build import index_rows
from dashboard.widgets import Children, ago_span
from patrolwatch.core.model import Status


def counts(data: bytes) -> Children:
    """Render the big numbers part (``[Counts, gaps, hotspots not known]``)."""
    raw, gaps, *rest = orjson.loads(data)
    by_status = {Status(k): int(v) for k, v in raw["by_status"].items()}
    return components.render_counts(Counts(total=raw["total"], by_status=by_status,
                                           lost=raw["lost"], emergencies=raw["emergencies"],
                                           not_reporting=raw["not_reporting"]), int(gaps),
                                    int(rest[0]) if rest else 0)


def gap_rows(data: bytes) -> tuple[list[GapRow], dict[str, list[str]]]:
    """Return the gap list part's rows (main's clock-free view model) and taskings."""
    raw = orjson.loads(data)
    rows = [GapRow(**{**r, "suggestions": [Suggestion(**s) for s in r["suggestions"]]})
            for r in raw["rows"]]
    return rows, raw["tasked"]


def gap_unknown(data: bytes) -> Unknown | None:
    """Return the gap list part's note on hotspots whose coverage is not known yet."""
    raw = orjson.loads(data).get("unknown")
    return Unknown(**raw) if isinstance(raw, dict) else None


def gap_badge(rows: Sequence[GapRow], data: bytes) -> tuple[str, str]:
    """Return the gap tab's badge: the count, or "?" while coverage is not known and none open."""
    if not rows and gap_unknown(data) is not None:
        return "?", "pw-badge pw-badge-unknown"
    return str(len(rows)), "pw-badge" if rows else "pw-badge pw-badge-none"


def render_gap_list(rows: Sequence[GapRow], tasked: Mapping[str, Sequence[str]],
                    data: bytes, can_act: bool) -> Children:
    """Render the gap list with its note on hotspots not known yet."""
    return coverage_components.render_gaps(rows, can_act, tasked, gap_unknown(data))


def gaps(data: bytes, can_act: bool) -> tuple[Children, str, str]:
    """Render the gap list part; return (list, badge text, badge class)."""
    rows, tasked = gap_rows(data)
    return (render_gap_list(rows, tasked, data, can_act), *gap_badge(rows, data))


def alarms(data: bytes, can_act: bool) -> tuple[Children, str]:
    """Render the emergency banner part; return (content, class)."""
    return components.render_alarms([Alarm(**a) for a in orjson.loads(data)], can_act)


def unit_list(data: bytes, query: str) -> Children:
    """Render the unit list: the stored first rows, or the search index filtered by ``query``."""
    raw = orjson.loads(data)
    if isinstance(raw, dict):
        return components.render_units([UnitRow(**r) for r in raw["rows"]], int(raw["more"]))
    return components.render_units(*search(raw, query))


def search(index: Sequence[Sequence[Any]], query: str,
           limit: int = UNIT_LIST_LIMIT) -> tuple[list[UnitRow], int]:
    """Return the index rows matching every word of ``query`` (as ``view.matches``)."""
    words = query.lower().split()
    found = [r for r in index if all(w in r[0] for w in words)]
    return index_rows(found[:limit]), max(0, len(found) - limit)


def lost(data: bytes) -> tuple[Children, str]:
    """Render the lost-contact part; return (list, tab label)."""
    rows = [LostRow(**r) for r in orjson.loads(data)]
    return components.render_lost(rows), f"Lost ({len(rows)})"


def degraded(data: bytes) -> tuple[Children, str]:
    """Render the degraded banner part; return (content, class)."""
    return components.render_degraded(orjson.loads(data))


def feed(data: bytes) -> Children:
    """Render the header's feed line; the browser writes "just now" / "2 min ago"."""
    raw: Mapping[str, Any] = orjson.loads(data)
    return ["Last message ", ago_span(raw["last"]),
            f" · accepted {raw['accepted']:,} · rejected {raw['rejected']:,}"]


def hideout(data: bytes) -> Any:
    """Return the hotspot layer's hideout part as stored."""
    return orjson.loads(data)


# Parts every role sees alike: rendered once by the producer, output name -> render.
SHARED: dict[str, Any] = {
    "counts": counts,
    "units0": lambda data: unit_list(data, ""),
    "lost": lost,
    "degraded": degraded,
    "feed": feed,
}


def rendered(stored: Mapping[str, bytes]) -> dict[str, bytes]:
    """Return the shared parts given as component JSON, as Dash would send them."""
    return {name: orjson.dumps(SHARED[name](data), default=_component)
            for name, data in stored.items() if name in SHARED}


def _component(value: Any) -> Any:
    """Return a Dash component as its JSON form (plotly's encoder is 3x slower on these)."""
    if hasattr(value, "to_plotly_json"):
        return value.to_plotly_json()
    raise TypeError(f"cannot serialise {type(value).__name__}")
