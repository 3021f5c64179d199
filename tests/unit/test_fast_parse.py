"""The fast path for plain native positions gives exactly what the full parser gives."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from patrolwatch.core import messages
from patrolwatch.core.messages import ParseContext
from patrolwatch.core.model import Position
from patrolwatch.roster import Roster
from tests.hostile.corpus import CORPUS_NOW, load_corpus

CTX = ParseContext(roster=Roster.empty(), status_codes={})
NOW = CORPUS_NOW


def full(topic: str, payload: bytes) -> object:
    """Parse without the fast path."""
    try:
        return messages._parse(topic, payload, NOW, CTX)
    except messages.PayloadError as exc:
        return ("rejected", exc.reason)


def test_the_fast_path_takes_the_common_case() -> None:
    body = json.dumps({"ts": NOW - 3, "lat": 51.5, "lon": -0.12, "acc": 5, "seq": 7}).encode()
    got = messages._fast_position("patrol/U1/position", body, NOW, CTX)
    assert got == Position("U1", NOW - 3, 51.5, -0.12, 5.0, seq=7, arrival=NOW)
    assert got == full("patrol/U1/position", body)


def test_the_fast_path_never_accepts_a_hostile_case() -> None:
    for case in load_corpus():
        if isinstance(case.topic, str) and isinstance(case.payload, bytes):
            assert messages._fast_position(case.topic, case.payload, NOW, CTX) is None, case.why


values = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                   st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5),
                   st.sampled_from([NOW, NOW - 10.5, NOW + 299, NOW + 301, 51.5, -0.12, 360, -1]))
fields = st.dictionaries(st.sampled_from(["ts", "lat", "lon", "acc", "speed", "heading",
                                          "battery", "seq", "unit", "x"]), values)


@given(fields, st.sampled_from(["patrol/U1/position", "patrol/U 1/position",
                                "patrol/U1/status", "owntracks/a/b"]))
def test_fast_and_full_paths_agree(raw: dict[str, Any], topic: str) -> None:
    base = {"ts": NOW - 1, "lat": 51.5, "lon": -0.1}
    body = json.dumps({**base, **raw}).encode()
    fast = messages._fast_position(topic, body, NOW, CTX)
    if fast is not None:
        slow = full(topic, body)
        assert fast == slow
        assert isinstance(slow, Position)
        names = ("ts", "lat", "lon", "acc", "speed", "heading", "battery", "seq")
        assert [type(getattr(fast, n)) for n in names] == [type(getattr(slow, n)) for n in names]
