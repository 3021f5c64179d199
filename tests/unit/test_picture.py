"""The live picture's pure parts: builder (live state -> bytes), map deltas, version logic.

``apply`` below does what assets/live.js does with a message, so the delta rules are
checked the way the browser uses them: whatever version a screen holds, the answer it
gets leaves it with the producer's map.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from dash import no_update
from hypothesis import given, settings
from hypothesis import strategies as st
from plotly.io.json import to_json_plotly

from dashboard import ids
from dashboard.api import units_json
from dashboard.control_room import view
from dashboard.control_room.actions import REFRESH_OUTPUTS
from dashboard.control_room.callbacks import REFRESH_TARGETS
from dashboard.coverage.view import GapRow, Suggestion
from dashboard.deps import Deps
from dashboard.picture import delta, parts, serve
from dashboard.picture.build import FLAG_ACKED, FLAG_LOST, Entry, build, digest, map_entries
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet
from patrolwatch.core.model import Status, UnitState
from patrolwatch.roster import Roster
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from patrolwatch.store.keys import PICTURE_STEPS_KEPT

NOW = 1_795_000_000.0
ZONE = Settings().zone


def unit(uid: str, status: Status = Status.ON_PATROL, *, lat: float | None = 51.5,
         lon: float | None = -0.12, stale: bool = False, last_seen: float = NOW - 5,
         team: str = "Team A") -> UnitState:
    return UnitState(id=uid, callsign=f"cs-{uid}", team=team, kind="foot", registered=True,
                     lat=lat, lon=lon, ts=last_seen, status=status, status_ts=NOW - 60,
                     last_seen=last_seen, stale=stale)


def gap_row(hotspot: str = "soho") -> GapRow:
    return GapRow(hotspot=hotspot, name="Soho", kind="presence_gap", priority=1,
                  headline="no presence for 2 h", detail="1 h overdue", lat=51.5, lon=-0.1,
                  suggestions=[Suggestion(id="A", callsign="cs-A", eta="4 min", distance="300 m")])


def built_for(units: list[UnitState], gaps: list[GapRow] | None = None,
              acks: dict[str, Any] | None = None) -> Any:
    alarms = view.alarms(units, ZONE, acks or {})
    return build(units, alarms, gaps or [], {}, {"s": {"soho": "gap"}}, ["evaluator silent"],
                 {"last": NOW - 1, "accepted": 1234, "rejected": 5}, ZONE)


def dumps(component: Any) -> str:
    return str(to_json_plotly(component))


# --- the builder ---------------------------------------------------------------------------
def test_map_entries_skip_off_duty_and_unplaced_and_carry_lost_and_acked_flags() -> None:
    units = [unit("A", lat=51.500004, lon=-0.123456), unit("B", Status.OFF_DUTY),
             unit("C", lat=None, lon=None), unit("D", stale=True),
             unit("E", Status.EMERGENCY), unit("F", Status.EMERGENCY)]
    entries = map_entries(units, acked=["E", "A"])
    assert entries == {"A": (-0.12346, 51.5, "P", 0), "D": (-0.12, 51.5, "P", FLAG_LOST),
                       "E": (-0.12, 51.5, "E", FLAG_ACKED), "F": (-0.12, 51.5, "E", 0)}


def test_build_parts_render_what_the_old_refresh_rendered() -> None:
    units = [unit("A"), unit("B", stale=True, last_seen=NOW - 999), unit("C", Status.EMERGENCY)]
    built = built_for(units, gaps=[gap_row()])
    assert built.digests == {k: digest(v) for k, v in built.parts.items()}
    counts = dumps(parts.counts(built.parts["counts"]))
    assert counts == dumps(__import__("dashboard.control_room.components", fromlist=["x"])
                           .render_counts(view.count_units(units), 1))
    rows, more = view.unit_rows(units, "")
    assert dumps(parts.unit_list(built.parts["units0"], "")) == dumps(
        __import__("dashboard.control_room.components", fromlist=["x"]).render_units(rows, more))
    lost, label = parts.lost(built.parts["lost"])
    assert label == "Lost (1)" and "cs-B" in dumps(lost)
    assert "EMERGENCY" in dumps(parts.alarms(built.parts["alarms"], False)[0])
    assert parts.hideout(built.parts["hideout"]) == {"s": {"soho": "gap"}}
    assert "evaluator silent" in dumps(parts.degraded(built.parts["degraded"])[0])
    assert "accepted 1,234 · rejected 5" in dumps(parts.feed(built.parts["feed"]))
    assert orjson.loads(built.api_units) == json.loads(json.dumps(units_json(units)))


def test_shared_parts_are_rendered_once_as_the_component_json_dash_sends() -> None:
    built = built_for([unit("A"), unit("B", stale=True)])
    html = parts.rendered(built.parts)
    assert set(html) == set(parts.SHARED)
    assert orjson.loads(html["counts"]) == json.loads(dumps(parts.counts(built.parts["counts"])))
    assert orjson.loads(html["lost"])[1] == "Lost (1)"


def test_only_supervisors_get_task_and_acknowledge_buttons_from_the_same_bytes() -> None:
    built = built_for([unit("A"), unit("C", Status.EMERGENCY)], gaps=[gap_row()])
    viewer, _, _ = parts.gaps(built.parts["gaps"], can_act=False)
    supervisor, badge, _ = parts.gaps(built.parts["gaps"], can_act=True)
    assert "task-item" not in dumps(viewer) and "task-item" in dumps(supervisor) and badge == "1"
    assert "emergency-ack" not in dumps(parts.alarms(built.parts["alarms"], False)[0])
    assert "emergency-ack" in dumps(parts.alarms(built.parts["alarms"], True)[0])
    assert "task-item" not in built.parts["gaps"].decode(), "no buttons in the shared bytes"


@pytest.mark.parametrize("query", ["", "cs-a", "team b", "lost", "emergency", "a1 team", "zz"])
def test_search_over_the_index_matches_the_unit_list_search(query: str) -> None:
    units = [unit(f"A{i}", team="Team B" if i % 2 else "Team A", stale=i % 5 == 0)
             for i in range(30)] + [
        unit("E1", Status.EMERGENCY), unit("E2", Status.EMERGENCY, stale=True),
        unit("O1", Status.OFF_DUTY, stale=True), unit("Z9", Status.AVAILABLE),
        UnitState(id="N1", callsign="cs-N1", team="Team A", kind="foot", registered=True)]
    built = built_for(units)
    index = orjson.loads(built.parts["index"])
    assert parts.search(index, query, limit=10) == view.unit_rows(units, query, limit=10)
    assert parts.search(index, query, limit=99) == view.unit_rows(units, query, limit=99)


# --- map deltas ----------------------------------------------------------------------------
def apply(state: dict[str, Entry] | None, have: int | None, message: bytes
          ) -> tuple[dict[str, Entry] | None, int | None]:
    """Apply a message as assets/live.js does; return (map, version held) or (None, None)."""
    msg = json.loads(message)
    if msg.get("full"):
        return {e[0]: tuple(e[1:]) for e in msg["u"]}, msg["v"]  # type: ignore[misc]
    steps = msg["steps"]
    if state is None or have is None or (steps and steps[0]["v"] - 1 > have):
        return None, None
    out = dict(state)
    for step in steps:
        if step["v"] > have:
            out |= {e[0]: tuple(e[1:]) for e in step["u"]}  # type: ignore[misc]
            for uid in step["d"]:
                out.pop(uid, None)
            have = step["v"]
    return out, have


def test_changes_name_what_moved_changed_look_appeared_or_left() -> None:
    before: dict[str, Entry] = {"A": (0.1, 51.0, "P", 0), "B": (0.2, 51.0, "P", 0),
                                "C": (0.3, 51.0, "P", 0)}
    after: dict[str, Entry] = {"A": (0.1, 51.0, "P", 0), "B": (0.2, 51.1, "P", 0),
                               "C": (0.3, 51.0, "P", FLAG_LOST), "D": (0.4, 51.0, "A", 0)}
    changed, gone = delta.changes(before, after)
    assert changed == [["B", 0.2, 51.1, "P", 0], ["C", 0.3, 51.0, "P", 1],
                       ["D", 0.4, 51.0, "A", 0]]
    assert gone == []
    assert delta.changes(after, before) == ([["B", 0.2, 51.0, "P", 0],
                                             ["C", 0.3, 51.0, "P", 0]], ["D"])
    assert delta.changes(after, after) == ([], [])


@pytest.mark.parametrize(("have", "version", "wanted"), [
    (None, 5, None), (-1, 5, None), (6, 5, None), (5, 5, range(6, 6)), (3, 5, range(4, 6)),
    (100 - PICTURE_STEPS_KEPT, 100, range(101 - PICTURE_STEPS_KEPT, 101)),
    (99 - PICTURE_STEPS_KEPT, 100, None),
])
def test_steps_wanted(have: int | None, version: int, wanted: range | None) -> None:
    assert delta.steps_wanted(have, version) == wanted


def test_payload_joins_steps_unless_one_is_missing_or_they_outweigh_the_layer() -> None:
    one, two = delta.step_bytes(4, [["A", 0.1, 51.0, "P", 0]], []), delta.step_bytes(5, [], ["B"])
    joined = delta.payload(5, [one, two], full_size=10_000)
    assert joined is not None and json.loads(joined) == {"v": 5, "steps": [
        {"v": 4, "u": [["A", 0.1, 51.0, "P", 0]], "d": []}, {"v": 5, "u": [], "d": ["B"]}]}
    assert delta.payload(5, [one, None], full_size=10_000) is None
    assert delta.payload(5, [one, two], full_size=len(one) + len(two)) is None


@pytest.mark.parametrize(("changed", "gone", "digests", "previous", "version"), [
    ([], [], {"a": "1"}, None, 8),  # just took over: always a new version
    ([], [], {"a": "1"}, {"a": "1"}, 7),  # nothing changed: the same version
    ([["A"]], [], {"a": "1"}, {"a": "1"}, 8),
    ([], ["A"], {"a": "1"}, {"a": "1"}, 8),
    ([], [], {"a": "2"}, {"a": "1"}, 8),
])
def test_next_version(changed: list[Any], gone: list[str], digests: dict[str, str],
                      previous: dict[str, str] | None, version: int) -> None:
    assert delta.next_version(7, changed, gone, digests, previous) == version


entry = st.tuples(st.sampled_from([0.1, 0.2]), st.sampled_from([51.0, 51.1]),
                  st.sampled_from("PAE"), st.sampled_from([0, 1, 2]))
maps = st.dictionaries(st.sampled_from("ABCDEF"), entry, max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(maps, min_size=2, max_size=8), st.data())
def test_any_screen_ends_with_the_producers_map(history: list[dict[str, Entry]],
                                                data: st.DataObject) -> None:
    """Versions 1..n of the map with a step each; a screen at any version catches up."""
    steps = {v: delta.step_bytes(v, *delta.changes(history[v - 1], history[v]))
             for v in range(1, len(history))}
    version = len(history) - 1
    full = delta.full_bytes(version, history[version])
    have = data.draw(st.integers(0, version))
    wanted = delta.steps_wanted(have, version)
    assert wanted is not None
    message = delta.payload(version, [steps.get(v) for v in wanted], len(full)) or full
    state, held = apply(history[have], have, message)
    assert (state, held) == (history[version], version)
    # An answer applied twice (two ticks crossed in flight) changes nothing.
    if not json.loads(message).get("full"):
        assert apply(state, have, message) == (history[version], version)


# --- a screen's refresh over a picture (no Redis) -----------------------------------------
class OnePicture:
    """Screens over one fixed picture, counting builds (what serve.refresh reads)."""

    def __init__(self, picture: serve.Picture) -> None:
        self.deps = Deps(settings=Settings(), store=Store.from_url("redis://127.0.0.1:9/0"),
                         roster=Roster.empty(), hotspots=HotspotSet.from_features(
                             [], CoverageDefaults(), ZONE))
        self.pic = picture
        self.reads = 0

    def picture(self, now: float) -> serve.Picture:
        self.reads += 1
        return self.pic


def stored(version: int, units: list[UnitState], steps: dict[int, bytes] | None = None
           ) -> serve.Picture:
    built = built_for(units, gaps=[gap_row()])
    fields = {**serve.local_fields(built), "units": delta.full_bytes(version, built.entries)}
    return serve.Picture(version, built.digests, len(fields["units"]),
                         lambda names: [fields.get(n) for n in names],
                         lambda a, b: [(steps or {}).get(v) for v in range(a + 1, b + 1)])


def refresh(screens: Any, have: int | None, digests: dict[str, Any] | None, search: str = "",
            can_act: bool = False) -> dict[str, Any]:
    return serve.refresh(screens, search, have, digests, NOW, can_act)


def test_refresh_sends_everything_first_then_nothing_while_the_version_holds() -> None:
    screens = OnePicture(stored(3, [unit("A"), unit("C", Status.EMERGENCY)]))
    first = refresh(screens, None, None)
    assert set(first) == set(serve.OUTPUTS) == set(REFRESH_TARGETS)
    assert json.loads(first["picture"])["full"] and json.loads(first["picture"])["v"] == 3
    assert first["gap_badge"] == "1" and "pw-hidden" not in first["alarms_class"]
    assert first["lost_tab"] == "Lost (0)" and first["hideout"] == {"s": {"soho": "gap"}}
    again = refresh(screens, 3, first["digests"])
    assert [k for k, v in again.items() if v is not no_update] == ["clock"]


def test_refresh_sends_the_steps_since_the_screens_version() -> None:
    step = delta.step_bytes(4, [["A", -0.2, 51.6, "P", 0]], [])
    screens = OnePicture(stored(4, [unit("A", lat=51.6, lon=-0.2)], {4: step}))
    out = refresh(screens, 3, {"v": 3, "q": ""})
    assert json.loads(out["picture"]) == {"v": 4, "steps": [json.loads(step)]}
    missing = refresh(OnePicture(stored(4, [unit("A")])), 3, {"v": 3, "q": ""})
    assert json.loads(missing["picture"])["full"], "a missing step means the whole layer"


def test_search_and_role_change_what_is_sent_but_not_the_map() -> None:
    screens = OnePicture(stored(3, [unit("A1"), unit("B2", team="Team B")]))
    first = refresh(screens, None, None)
    found = refresh(screens, 3, first["digests"], search="team b")
    assert found["picture"] is no_update and found["counts"] is no_update
    assert "cs-B2" in dumps(found["unit_list"]) and "cs-A1" not in dumps(found["unit_list"])
    supervisor = refresh(screens, None, None, can_act=True)
    assert "task-item" in dumps(supervisor["gaps"]) and "task-item" not in dumps(first["gaps"])
    assert supervisor["digests"]["gaps"] != first["digests"]["gaps"]


def test_refresh_with_redis_down_keeps_the_map_and_says_so() -> None:
    class Down(OnePicture):
        def picture(self, now: float) -> serve.Picture:
            import redis
            raise redis.ConnectionError("refused")

    up = OnePicture(stored(1, []))
    shown = refresh(up, None, None)
    out = refresh(Down(stored(1, [])), 1, {**shown["digests"], "ok_at": NOW - 30})
    assert out["picture"] is no_update and out["counts"] is no_update
    back = refresh(up, 1, out["digests"])
    assert "accepted 1,234" in dumps(back["feed"]) and "evaluator silent" in dumps(
        back["degraded"]), \
        "once Redis is back, the feed line and the banner say so again"
    assert "pw-hidden" not in out["degraded_class"]
    assert "unreachable at 127.0.0.1:6379" in dumps(out["degraded"])
    assert out["digests"]["degraded"] == "redis-down"
    assert set(REFRESH_OUTPUTS) - {"units"} <= set(out)


def test_the_refresh_callback_fills_the_picture_store_not_a_geojson_layer() -> None:
    assert REFRESH_TARGETS["picture"].component_id == ids.PICTURE
    assert "units" not in REFRESH_TARGETS


def test_state_cache_gives_what_unit_states_gives_as_rows_change_and_time_passes() -> None:
    from patrolwatch.live import StateCache, unit_states
    from patrolwatch.store import LiveRows

    roster = Roster.empty()
    cache = StateCache()
    pos = {"A": {"ts": NOW, "lat": 51.5, "lon": -0.1}, "B": {"ts": NOW, "lat": 51.6, "lon": -0.2}}
    rows = [
        LiveRows(pos, {"A": {"status": "ON_PATROL", "ts": NOW}}, {"A": NOW, "B": NOW}, {}),
        LiveRows({**pos, "B": {"ts": NOW + 1, "lat": 51.7, "lon": -0.2}},
                 {"A": {"status": "EMERGENCY", "ts": NOW + 1}}, {"A": NOW + 1, "B": NOW + 1}, {}),
        LiveRows(pos, {}, {"A": NOW + 1}, {"A": NOW + 2}),
    ]
    for i, row in enumerate(rows):
        for now in (NOW + i, NOW + i + 500):  # the second look: everyone is silent too long
            assert cache(row, roster, now, 180.0) == unit_states(row, roster, now, 180.0)


def test_the_producer_renders_again_only_the_shared_parts_that_changed() -> None:
    from dashboard.picture.producer import PictureProducer

    producer = PictureProducer(OnePicture(stored(1, [])).deps)
    before = built_for([unit("A"), unit("B")])
    after = built_for([unit("A"), unit("B", stale=True, last_seen=NOW - 999)])
    first = producer.render(before)
    assert first == parts.rendered(before.parts)
    second = producer.render(after)
    assert second == parts.rendered(after.parts)
    assert second["lost"] != first["lost"] and second["degraded"] is first["degraded"]
