"""``core.visit_chains`` links the points of an area query as ``visits_from_history`` does
over whole trails, though it sees only the points near the area (with their ranks)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from patrolwatch.core.model import Status, StatusChange
from patrolwatch.core.visit_chains import chain_visits
from patrolwatch.core.visits import Ping, VisitParams, visits_from_history

PARAMS = VisitParams(gap_s=120.0, grace_s=60.0, max_acc_m=100.0)


@st.composite
def trails(draw: st.DrawFn) -> tuple[list[tuple[str, float, bool, bool]], list[StatusChange]]:
    """Units' whole trails: (unit, time, inside, near the area), and their statuses."""
    rows = []
    changes = []
    for unit in ("A", "B", "C")[:draw(st.integers(1, 3))]:
        t = 0.0
        for _ in range(draw(st.integers(0, 40))):
            t += draw(st.sampled_from([5.0, 30.0, 55.0, 61.0, 119.0, 121.0, 300.0]))
            inside = draw(st.booleans())
            near = inside or draw(st.booleans())  # the box holds every inside point
            rows.append((unit, t, inside, near))
            if draw(st.integers(0, 9)) == 0:
                changes.append(StatusChange(unit, t, draw(st.sampled_from(
                    [Status.ON_PATROL, Status.REFRESHMENT, Status.AVAILABLE]))))
    return rows, changes


@settings(max_examples=300, deadline=None)
@given(trails())
def test_chains_over_the_near_points_are_the_whole_trails_visits(
        case: tuple[list[tuple[str, float, bool, bool]], list[StatusChange]]) -> None:
    rows, changes = case
    whole = visits_from_history([Ping(u, t, frozenset({"x"}) if ins else frozenset(), None)
                                 for u, t, ins, _ in rows], changes, PARAMS)
    expected = sorted((v.unit, v.start, v.end, v.pings) for v in whole)
    # What the query hands over: the near points only, with rank and the time before.
    near = []
    for unit in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == unit]
        for k, (u, t, ins, is_near) in enumerate(mine):
            if is_near:
                eligible = True
                for c in sorted(changes, key=lambda c: c.ts):
                    if c.unit == u and c.ts <= t:
                        eligible = c.status in (Status.ON_PATROL, Status.AVAILABLE)
                near.append((u, k + 1, t, mine[k - 1][1] if k else np.nan, ins and eligible))
    if not near:
        assert expected == []
        return
    u, i, t, prev, pres = (np.array(col) for col in zip(*near, strict=True))
    who, start, end, pings = chain_visits(u, i, t, prev, pres, PARAMS.gap_s, PARAMS.grace_s)
    got = sorted(zip(who.tolist(), start.tolist(), end.tolist(), pings.tolist(), strict=True))
    assert got == expected
