"""Treated-minus-control differences with a randomisation-inference interval (pure).

The estimate is the mean over treated place-days minus the mean over control place-days.
Its reference distribution comes from the design itself: the same block randomisation
re-run with other seeds gives other assignments of the same place-days, and the difference
is recomputed under each (DOMAIN.md: never a formula that ignores the design).

The interval assumes a constant additive effect: outcomes are first adjusted to what they
would be with no effect (``y - estimate`` on treated place-days), the differences under the
alternative assignments of those adjusted outcomes give the spread of the estimator around
the truth, and the interval is the estimate minus that spread's upper and lower quantiles.
The p-value is that of the sharp null of no effect: the share of alternative assignments
whose difference on the observed outcomes is at least as far from 0 as the estimate.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Difference:
    """An estimate with its permutation interval and sharp-null p-value."""

    estimate: float | None
    low: float | None
    high: float | None
    p_value: float | None
    draws: int


def mean_difference(values: Mapping[K, float], treated: Mapping[K, bool]
                    ) -> float | None:
    """Return mean(treated) - mean(control) over the keys with a value (None if an arm is empty)."""
    t = [v for k, v in values.items() if treated.get(k)]
    c = [v for k, v in values.items() if k in treated and not treated[k]]
    if not t or not c:
        return None
    return float(np.mean(t) - np.mean(c))


def _differences(y: np.ndarray, arms: np.ndarray) -> np.ndarray:
    """Return mean(treated) - mean(control) of ``y`` under each row of ``arms`` (NaN if empty)."""
    t = arms.sum(axis=1)
    c = arms.shape[1] - t
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((arms @ y) / t - ((~arms) @ y) / c, float)


def permutation_interval(values: Mapping[K, float], treated: Mapping[K, bool],
                         alternatives: Sequence[Mapping[K, bool]], level: float = 0.95
                         ) -> Difference:
    """Return the difference in means with its interval over the alternative assignments."""
    estimate = mean_difference(values, treated)
    if estimate is None:
        return Difference(None, None, None, None, 0)
    keys = [k for k in values if k in treated]
    y = np.array([values[k] for k in keys], float)
    mine = np.array([treated[k] for k in keys], bool)
    arms = np.array([[alt.get(k, False) for k in keys] for alt in alternatives], bool
                    ).reshape(len(alternatives), len(keys))
    return interval(y, mine, arms, level)


def interval(y: np.ndarray, mine: np.ndarray, arms: np.ndarray, level: float = 0.95
             ) -> Difference:
    """Return ``permutation_interval`` over arrays: outcomes, assignment, alternatives (rows)."""
    if not mine.any() or mine.all():
        return Difference(None, None, None, None, 0)
    estimate = float(y[mine].mean() - y[~mine].mean())
    spread = _differences(y - estimate * mine, arms)  # outcomes as if there were no effect
    null = _differences(y, arms)
    ok = np.isfinite(spread) & np.isfinite(null)
    spread, null = spread[ok], null[ok]
    if spread.size == 0:
        return Difference(estimate, None, None, None, 0)
    tail = (1.0 - level) / 2.0
    lo_q, hi_q = np.quantile(spread, [tail, 1.0 - tail])
    extreme = int(np.sum(np.abs(null) >= abs(estimate) - 1e-12))
    return Difference(estimate, estimate - float(hi_q), estimate - float(lo_q),
                      (extreme + 1) / (null.size + 1), int(spread.size))
