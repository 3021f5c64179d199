"""What a screen is sent for the map (pure): the whole units layer, or the steps it missed.

Each new picture version stores one *step*: the map entries that changed or appeared since
the version before, and the ids that left the map. A screen says which version it holds;
it gets the steps since then, joined as bytes without parsing them, or the whole layer when
it holds none, is too far behind, a step has expired, or the steps weigh more than the layer.
Steps carry whole entries, so applying a step twice, or after a later one's predecessors,
ends in the same map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson

from dashboard.picture.build import Entry
from patrolwatch.store.keys import PICTURE_STEPS_KEPT


def changes(before: Mapping[str, Entry], after: Mapping[str, Entry]
            ) -> tuple[list[list[object]], list[str]]:
    """Return (entries new or changed in ``after``, ids gone)."""
    changed = [[uid, *entry] for uid, entry in after.items() if before.get(uid) != entry]
    gone = [uid for uid in before if uid not in after]
    return changed, gone


def step_bytes(version: int, changed: Sequence[Sequence[object]], gone: Sequence[str]) -> bytes:
    """Return the stored step that leads to ``version``."""
    return orjson.dumps({"v": version, "u": changed, "d": gone})


def full_bytes(version: int, entries: Mapping[str, Entry]) -> bytes:
    """Return the whole units layer at ``version``."""
    return orjson.dumps({"v": version, "full": True,
                         "u": [[uid, *entry] for uid, entry in entries.items()]})


def steps_wanted(have: int | None, version: int) -> range | None:
    """Return the step versions a screen holding ``have`` needs, or None for the whole layer."""
    if have is None or have < 0 or have > version or version - have > PICTURE_STEPS_KEPT:
        return None
    return range(have + 1, version + 1)


def payload(version: int, steps: Sequence[bytes | None], full_size: int) -> bytes | None:
    """Return the steps joined into one message, or None when the whole layer is the answer."""
    if any(s is None for s in steps):
        return None
    found = [s for s in steps if s is not None]
    if sum(len(s) for s in found) >= full_size:
        return None
    return b'{"v":%d,"steps":[' % version + b",".join(found) + b"]}"


def next_version(version: int, changed: Sequence[object], gone: Sequence[str],
                 digests: Mapping[str, str], previous: Mapping[str, str] | None) -> int:
    """Return the picture version after a build: one more only when something changed."""
    if previous is None or changed or gone or dict(digests) != dict(previous):
        return version + 1
    return version
