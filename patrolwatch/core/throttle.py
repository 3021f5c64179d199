"""Sign-in throttling: how many failures a window allows, and when the next attempt may come.

A sliding window over failure times: with ``limit`` failures in the last ``window_s``
seconds, further attempts are refused until the oldest of those ages out. Only the newest
``limit`` failures ever matter, so a store keeps no more than that per key.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

WINDOW_S = 15 * 60.0
NAME_LIMIT = 10  # failures for one user name, from anywhere
ADDRESS_LIMIT = 30  # failures from one address, for any names


@dataclass(frozen=True)
class Rule:
    """At most ``limit`` failures per ``window_s`` seconds for one key of one ``kind``."""

    kind: str
    limit: int
    window_s: float = WINDOW_S


NAME_RULE = Rule("name", NAME_LIMIT)
ADDRESS_RULE = Rule("address", ADDRESS_LIMIT)


def in_window(failures: Iterable[float], now: float, window_s: float) -> list[float]:
    """Return the failure times still inside the window ending now, oldest first."""
    return sorted(t for t in failures if now - window_s < t <= now)


def retry_after(failures: Iterable[float], now: float, rule: Rule) -> float:
    """Return seconds until an attempt is allowed again (0.0: allowed now)."""
    recent = in_window(failures, now, rule.window_s)
    if len(recent) < rule.limit:
        return 0.0
    # The attempt is allowed once fewer than `limit` failures remain in the window: when the
    # (len - limit + 1)-th oldest one leaves it.
    leaves = recent[len(recent) - rule.limit] + rule.window_s
    return max(0.0, leaves - now)


def retry_after_header(seconds: float) -> str:
    """Return the Retry-After value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))
