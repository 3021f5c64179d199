"""A unit's panel: its state and its recorded events (transitions, last-wills), from Redis."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

import pytest
from dash import no_update
from plotly.io.json import to_json_plotly

from dashboard import ids
from dashboard.control_room import actions
from dashboard.control_room.unit_panel import event_text, unit_detail
from dashboard.deps import Deps
from patrolwatch.core.hotspots import HotspotSet
from patrolwatch.core.model import LostContact, Position, Status, StatusChange, UnitEvent
from patrolwatch.roster import Roster
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(("event", "text"), [
    ({"event": "lwt"}, "device went offline (last will): its position is the last known"),
    ({"event": "enter", "description": "Home station"}, "entered Home station"),
    ({"event": "leave", "description": ""}, "left a region"),
    ({"event": "beacon", "description": "x"}, "beacon x"),
])
def test_event_text(event: dict[str, str], text: str) -> None:
    assert event_text(event) == text


def test_unknown_unit_has_no_panel() -> None:
    assert unit_detail(None, [], LONDON) is None


@pytest.mark.integration
def test_panel_shows_transitions_and_last_wills_newest_first(redis_url: str) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    store.write_batch(Batch(
        positions=[Position("P1-phone", now - 300, 51.5, -0.12)],
        statuses=[StatusChange("P1-phone", now - 900, Status.ON_PATROL)],
        events=[UnitEvent("P1-phone", now - 250, "enter", "Charing Cross station"),
                UnitEvent("P1-phone", now - 200, "leave", "Charing Cross station")],
        lost=[LostContact("P1-phone", now - 100)]), now=now)
    deps = Deps(settings=Settings(), store=store, roster=Roster.empty(),
                hotspots=HotspotSet([], LONDON))
    assert actions.pick_unit({"type": ids.UNIT_ITEM, "unit": "P1-phone"}, 1) == "P1-phone"
    assert actions.pick_unit({"type": ids.UNIT_ITEM, "unit": "P1-phone"}, 0) is no_update
    assert actions.pick_unit(ids.UNIT_CLOSE, 1) is None

    panel, digest = actions.unit_panel(deps, "P1-phone", None, now)
    text = to_json_plotly(panel)
    assert text.index("device went offline") < text.index("left Charing Cross station") \
        < text.index("entered Charing Cross station"), "newest first"
    assert "Lost contact" in text, "silent for 5 minutes: lost contact"
    # Nothing new: nothing re-sent. Closed: the panel empties once.
    assert actions.unit_panel(deps, "P1-phone", digest, now) == (no_update, no_update)
    assert actions.unit_panel(deps, None, digest, now) == ([], None)
    assert actions.unit_panel(deps, None, None, now) == (no_update, no_update)


def test_the_panel_says_what_the_pictures_list_says_for_the_same_version() -> None:
    from dashboard.control_room.unit_panel import UnitDetail, as_listed

    detail = UnitDetail("U1", "Alpha", "T", "On patrol", "#2563eb", False, 10.0, "native", [])
    index = [["alpha u1", "U1", "Alpha", "T", "Emergency", "#dc2626", False, 12.0],
             ["bravo u2", "U2", "Bravo", "T", "Available", "#16a34a", False, 11.0]]
    listed = as_listed(detail, index)
    assert listed is not None and (listed.status, listed.colour, listed.last_seen) == (
        "Emergency", "#dc2626", 12.0)
    assert as_listed(detail, None) == detail  # no picture yet: its own reading
    assert as_listed(detail, index[1:]) == detail  # not in the picture: its own reading
