"""Load the hostile-input corpus: hand-written messages that must each be rejected.

``corpus.jsonl`` holds one JSON object per line::

    {"topic": ..., "payload": "<UTF-8 text>" | "payload_b64": "<base64 raw bytes>",
     "reason": "<Reason value>", "why": "<what it probes>"}

Clock. Timestamp cases are written against ``CORPUS_NOW`` (2026-05-28T20:26:40Z), but use
extremes (the year 2100, September 2020, ...) so that every expected reason also holds for
any ``now`` in ``VALID_NOW`` and a real worker running on the wall clock rejects each case
the same way. The worker checks an event time last, so a case whose timestamp is ordinary
is rejected for its own flaw whatever the clock says.

Configuration. The expected reasons hold with the roster not strict
(``PATROL_STRICT_ROSTER=false``), for an empty roster or ``config/units.yaml``, and with no
local status codes or those of ``config/status_codes.yaml``. Native cases speak for unit
``HX-1`` and OwnTracks cases for user ``hx``, neither of which a roster should hold.

Through a broker. A case with ``delivered`` false cannot reach the worker: its topic is not
a publishable MQTT topic name (wildcards, NUL, empty, a lone surrogate; publishing one gets
the client disconnected) or no subscription filter matches it. Push the others through a
real broker and worker and expect each counted under its reason and nothing stored.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from patrolwatch.core.model import Reason
from patrolwatch.core.topics import SUBSCRIPTION_FILTERS, TopicFilter, is_valid_topic_name

CORPUS_PATH = Path(__file__).with_name("corpus.jsonl")
CORPUS_NOW = 1_780_000_000.0  # 2026-05-28T20:26:40Z
VALID_NOW = (1_760_000_000.0, 4_000_000_000.0)  # 2025-10-09 .. 2096-10-02
_FILTERS = tuple(TopicFilter(f) for f in SUBSCRIPTION_FILTERS)
_KEYS = {"topic", "reason", "why"}


@dataclass(frozen=True)
class HostileCase:
    """One hostile message and the reason it must be rejected for."""

    topic: str
    payload: bytes
    reason: Reason
    why: str
    line: int  # 1-based line in corpus.jsonl, for failure messages

    @cached_property
    def publishable(self) -> bool:
        """Tell whether an MQTT client may publish to this topic at all."""
        return is_valid_topic_name(self.topic)

    @cached_property
    def delivered(self) -> bool:
        """Tell whether the ingest worker's subscriptions would receive this case."""
        return self.publishable and any(f.matches(self.topic) for f in _FILTERS)

    @property
    def label(self) -> str:
        """Return a short id for test names and messages."""
        return f"L{self.line}-{self.reason.value}"


def _case(line: int, text: str) -> HostileCase:
    where = f"{CORPUS_PATH.name}:{line}"
    try:
        entry = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not a JSON object: {exc}") from None
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a JSON object")
    payload_keys = {"payload", "payload_b64"} & entry.keys()
    if len(payload_keys) != 1 or entry.keys() != _KEYS | payload_keys:
        raise ValueError(f"{where}: expected keys topic, reason, why and exactly one of "
                         f"payload / payload_b64, got {sorted(entry)}")
    if not all(isinstance(entry[k], str) for k in entry):
        raise ValueError(f"{where}: every value must be a string")
    try:
        reason = Reason(entry["reason"])
    except ValueError:
        raise ValueError(f"{where}: unknown reason {entry['reason']!r}; use one of "
                         f"{', '.join(r.value for r in Reason)}") from None
    try:
        payload = (entry["payload"].encode("utf-8") if "payload" in entry
                   else base64.b64decode(entry["payload_b64"], validate=True))
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError(f"{where}: payload cannot be turned into bytes ({exc}); use "
                         "payload_b64 for raw bytes") from None
    if not entry["why"].strip():
        raise ValueError(f"{where}: say what the case probes in `why`")
    return HostileCase(entry["topic"], payload, reason, entry["why"], line)


def load_corpus(path: Path = CORPUS_PATH) -> list[HostileCase]:
    """Read every case; raise ValueError naming the line of a malformed one."""
    with path.open(encoding="utf-8") as lines:
        return [_case(n, text) for n, text in enumerate(lines, start=1) if text.strip()]
