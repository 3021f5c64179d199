"""No false all-clear: while coverage is not known, the gap list and the counts say so, and why."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import orjson

from dashboard.control_room.components import render_counts
from dashboard.control_room.view import Counts
from dashboard.coverage.components import render_gaps
from dashboard.coverage.view import Unknown, unknown_coverage
from dashboard.picture import parts
from dashboard.picture.build import dumps
from patrolwatch.core.model import Status

ZONE = ZoneInfo("Europe/London")
NOW = 1_796_644_800.0  # 2026-12-08 12:00 UTC


def entry(state: str, active: bool = True, max_gap: float = 60.0) -> dict[str, object]:
    return {"state": state, "active": active, "max_gap_minutes": max_gap}


def snapshot(states: dict[str, dict[str, object]], since: float | None = NOW - 20,
             fresh: bool = True) -> dict[str, object]:
    return {"evaluated_at": NOW - 1, "feed_fresh": fresh, "observed_since": since,
            "hotspots": states, "gaps": []}


def text(children: object) -> str:
    """Return the words a person reads in rendered components (ago spans left blank)."""
    if isinstance(children, str | int | float):
        return str(children)
    if isinstance(children, list | tuple):
        return "".join(text(c) for c in children)
    inner = getattr(children, "children", None)
    return text(inner) if inner is not None else ""


def test_a_young_feed_leaves_active_hotspots_unknown_and_says_when_they_are_judged() -> None:
    snap = snapshot({f"h{i}": entry("no_data", max_gap=60.0 if i else 120.0) for i in range(18)}
                    | {"off": entry("inactive", active=False)})
    unknown = unknown_coverage(snap, NOW, 90, ["h0"], ZONE)
    assert unknown == Unknown(18, 18, "young", NOW - 20, 60.0, "12:59")
    words = text(render_gaps([], False, {}, unknown))
    assert "No gaps" not in words
    assert "Coverage not known yet: 18 active hotspots have no data" in words
    assert "the feed started" in words and "judged after 60 min of data (from 12:59)" in words


def test_known_coverage_is_an_all_clear_and_partial_knowledge_is_counted() -> None:
    known = snapshot({"a": entry("covered"), "b": entry("present"), "c": entry("inactive", False)})
    assert unknown_coverage(known, NOW, 90, ["a", "b"], ZONE) is None
    assert "No gaps" in text(render_gaps([], False, {}, None))
    partial = snapshot({"a": entry("covered"), "b": entry("no_data")})
    assert unknown_coverage(partial, NOW, 90, ["a", "b"], ZONE).count == 1  # type: ignore[union-attr]
    assert "1 of 2 active hotspots has no data" in text(
        render_gaps([], False, {}, unknown_coverage(partial, NOW, 90, ["a", "b"], ZONE)))


def test_a_stale_feed_or_a_silent_evaluator_is_not_an_all_clear() -> None:
    stale = snapshot({"a": entry("no_data")}, since=None, fresh=False)
    assert unknown_coverage(stale, NOW, 90, ["a"], ZONE) == Unknown(1, 1, "feed")
    assert unknown_coverage(None, NOW, 90, ["a", "b"], ZONE) == Unknown(2, 2, "evaluator")
    old = {**snapshot({"a": entry("covered")}), "evaluated_at": NOW - 600}
    assert unknown_coverage(old, NOW, 90, ["a"], ZONE) == Unknown(1, 1, "evaluator")
    assert unknown_coverage(None, NOW, 90, [], ZONE) is None  # nothing active: nothing to know


def test_the_picture_parts_carry_the_unknown_to_the_list_the_badge_and_the_big_number() -> None:
    unknown = Unknown(18, 18, "young", NOW - 20, 60.0, "12:59")
    data = dumps({"rows": [], "tasked": {}, "unknown": unknown})
    listed, badge, badge_class = parts.gaps(data, can_act=False)
    assert "Coverage not known yet" in text(listed) and badge == "?"
    assert "unknown" in badge_class
    counts = Counts(total=200, by_status=dict.fromkeys(Status, 0), lost=0, emergencies=0,
                    not_reporting=0)
    tiles = parts.counts(orjson.dumps([{"total": 200, "by_status": {s.value: 0 for s in Status},
                                        "lost": 0,
                                        "emergencies": 0, "not_reporting": 0}, 0, 18]))
    assert "?" in text(tiles) and "Gaps not known" in text(tiles)
    plain = render_counts(counts, 0, 0)
    assert "?" not in text(plain)


def test_zero_counts_are_neutral_not_red() -> None:
    counts = Counts(total=5, by_status=dict.fromkeys(Status, 0), lost=0, emergencies=0,
                    not_reporting=0)
    tiles = render_counts(counts, 0)[0].children  # type: ignore[index,union-attr]
    colours = {t.id: t.children[0].style["color"] for t in tiles}
    assert colours["pw-count-emergency"] == colours["pw-count-gaps"] == "#94a3b8"
    busy = Counts(total=5, by_status=dict.fromkeys(Status, 0), lost=1, emergencies=1,
                  not_reporting=0)
    tiles = render_counts(busy, 2)[0].children  # type: ignore[index,union-attr]
    assert all(t.children[0].style["color"] != "#94a3b8" for t in tiles)
