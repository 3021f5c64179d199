"""Small helpers every benchmark's figures use: percentiles and timing one call."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any


def summary(samples: list[float]) -> dict[str, float]:
    """Return median, p95 and max of millisecond samples, rounded."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return {"median": round(statistics.median(ordered), 1), "p95": round(p95, 1),
            "max": round(ordered[-1], 1)}


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """Return (milliseconds, result) of one call."""
    began = time.perf_counter()
    result = call()
    return (time.perf_counter() - began) * 1000.0, result
