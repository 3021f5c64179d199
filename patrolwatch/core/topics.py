"""MQTT topic names, subscription filters and wildcard matching (CONTRACT.md section 3).

Pure: no broker here. The worker subscribes to :data:`SUBSCRIPTION_FILTERS` and hands each
received topic to :func:`classify`; unit ids in topics are validated in ``messages.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from patrolwatch.core.model import UNIT_ID_RE

SUBSCRIPTION_FILTERS: tuple[str, ...] = (
    "patrol/+/position",
    "patrol/+/status",
    "patrol/+/ack",
    "owntracks/+/+",
    "owntracks/+/+/event",
    "tetra/+/lip",
)
COVERAGE_EVENTS_TOPIC = "patrol/events/coverage"

# MQTT 5.0 sections 1.5.4 and 4.7: UTF-8 strings of at most 65535 bytes; U+0000 and
# surrogates MUST NOT appear, control characters and non-characters SHOULD NOT, and
# Mosquitto refuses all of them (the publisher is disconnected).
MAX_TOPIC_BYTES = 65_535
_FORBIDDEN_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
    + "]"
)
_CACHED_TOPIC_CHARS = 128

TopicKindName = Literal[
    "position", "status", "ack", "owntracks_location", "owntracks_event", "tetra_lip"
]
_NATIVE: dict[str, TopicKindName] = {"position": "position", "status": "status", "ack": "ack"}


@dataclass(frozen=True, slots=True)
class TopicKind:
    """What a received topic carries: a native unit's message or an OwnTracks device's."""

    kind: TopicKindName
    unit: str | None = None  # native topics: the unit segment exactly as received
    user: str | None = None  # OwnTracks topics
    device: str | None = None
    issi: str | None = None  # tetra/{issi}/lip: the radio's ISSI exactly as received


def classify(topic: str) -> TopicKind | None:
    """Return what a topic carries, or None for a topic PatrolWatch does not take."""
    # Every message is classified; a fleet uses a few thousand topics, so remember them.
    # Long topics skip the cache so hostile ones cannot pin much memory.
    if len(topic) <= _CACHED_TOPIC_CHARS:
        return _classify_cached(topic)
    return _classify(topic)


@lru_cache(maxsize=8192)
def _classify_cached(topic: str) -> TopicKind | None:
    return _classify(topic)


def _classify(topic: str) -> TopicKind | None:
    # maxsplit bounds the work on a hostile topic made of thousands of levels.
    parts = topic.split("/", 4)
    if len(parts) == 3:
        head, middle, tail = parts
        if head == "patrol":
            kind = _NATIVE.get(tail)
            return TopicKind(kind, unit=middle) if kind is not None else None
        if head == "owntracks":
            return TopicKind("owntracks_location", user=middle, device=tail)
        if head == "tetra" and tail == "lip":
            return TopicKind("tetra_lip", issi=middle)
    elif len(parts) == 4 and parts[0] == "owntracks" and parts[3] == "event":
        return TopicKind("owntracks_event", user=parts[1], device=parts[2])
    return None


def is_valid_topic_name(topic: str) -> bool:
    """Tell whether a topic may be published to: 1-65535 bytes of UTF-8, no wildcards."""
    if not topic or "+" in topic or "#" in topic or _FORBIDDEN_RE.search(topic):
        return False
    return len(topic.encode("utf-8")) <= MAX_TOPIC_BYTES


def _filter_problem(pattern: str) -> str | None:
    """Say what is wrong with a subscription filter, or None if it is valid."""
    if not pattern:
        return "a topic filter must not be empty"
    bad = _FORBIDDEN_RE.search(pattern)
    if bad is not None:
        return (f"a topic filter must not contain U+{ord(bad.group()):04X} (NUL, control "
                "characters, surrogates and non-characters are refused)")
    size = len(pattern.encode("utf-8"))
    if size > MAX_TOPIC_BYTES:
        return f"a topic filter is at most {MAX_TOPIC_BYTES} bytes, this one is {size}"
    levels = pattern.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return "'#' must be a whole level and the last one"
        if "+" in level and level != "+":
            return "'+' must be a whole level"
    return None


@dataclass(frozen=True, slots=True)
class TopicFilter:
    """An MQTT subscription filter with ``+`` (one level) and ``#`` (the rest) wildcards."""

    pattern: str
    _levels: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        trouble = _filter_problem(self.pattern)
        if trouble is not None:
            raise ValueError(f"invalid MQTT topic filter {self.pattern!r}: {trouble}")
        object.__setattr__(self, "_levels", tuple(self.pattern.split("/")))

    def matches(self, topic: str) -> bool:
        """Tell whether a published topic name matches this filter (MQTT 5.0 section 4.7)."""
        if not is_valid_topic_name(topic):
            return False
        levels = topic.split("/")
        # Topics starting with '$' (e.g. $SYS) are never matched by a leading wildcard.
        if topic.startswith("$") and self._levels[0] in ("+", "#"):
            return False
        for index, wanted in enumerate(self._levels):
            if wanted == "#":
                return True  # also matches the parent level: "a/#" matches "a"
            if index >= len(levels):
                return False
            if wanted != "+" and wanted != levels[index]:
                return False
        return len(levels) == len(self._levels)


def subscriptions(share_group: str | None, qos: int = 1) -> list[tuple[str, int]]:
    """Return the worker's (filter, qos) pairs, as MQTT shared subscriptions if a group is set."""
    if qos not in (0, 1, 2):
        raise ValueError(f"MQTT QoS must be 0, 1 or 2, not {qos!r}")
    if not share_group:  # an empty PATROL_INGEST_SHARE_GROUP means no group
        return [(topic, qos) for topic in SUBSCRIPTION_FILTERS]
    if any(ch in share_group for ch in "/+#\x00"):
        raise ValueError(
            f"PATROL_INGEST_SHARE_GROUP {share_group!r} must not contain '/', '+', '#' or "
            "NUL; use a plain name such as 'ingest'"
        )
    return [(f"$share/{share_group}/{topic}", qos) for topic in SUBSCRIPTION_FILTERS]


def _checked_unit(unit: str) -> str:
    if not UNIT_ID_RE.fullmatch(unit):
        raise ValueError(
            f"unit id {unit!r} is not valid: use 1-32 characters of A-Z, a-z, 0-9, '_' or '-'"
        )
    return unit


def position_topic(unit: str) -> str:
    """Return the topic a unit publishes its positions to."""
    return f"patrol/{_checked_unit(unit)}/position"


def status_topic(unit: str) -> str:
    """Return the topic a unit publishes its status to."""
    return f"patrol/{_checked_unit(unit)}/status"


def ack_topic(unit: str) -> str:
    """Return the topic a unit acknowledges taskings on."""
    return f"patrol/{_checked_unit(unit)}/ack"


def tasking_topic(unit: str) -> str:
    """Return the topic the system sends a unit its taskings on."""
    return f"patrol/{_checked_unit(unit)}/tasking"


def lip_topic(issi: int) -> str:
    """Return the topic a radio gateway publishes one radio's LIP reports to."""
    if type(issi) is not int or not 0 <= issi < 2**24:
        raise ValueError(f"ISSI {issi!r} must be an integer from 0 to 16777215 (24 bits)")
    return f"tetra/{issi}/lip"


def owntracks_topic(user: str, device: str) -> str:
    """Return the topic an OwnTracks app publishes its locations to."""
    for label, value in (("user", user), ("device", device)):
        if not value or any(ch in value for ch in "/+#\x00"):
            raise ValueError(
                f"OwnTracks {label} {value!r} must be non-empty without '/', '+', '#' or NUL"
            )
    return f"owntracks/{user}/{device}"
