"""Turn per-step scores (P(step is good), each in [0, 1]) into one reward."""

from __future__ import annotations

import math
from collections.abc import Sequence

AGGREGATIONS = ("min", "product", "last", "mean")


def aggregate(step_scores: Sequence[float], how: str = "min") -> float:
    """``min``: the weakest step (the default: one bad step spoils a proof); ``product``: all steps
    good at once; ``last``: the final step's verdict; ``mean``: the average step."""
    if not step_scores:
        raise ValueError("no step scores to aggregate")
    if any(not math.isfinite(s) or s < 0.0 or s > 1.0 for s in step_scores):
        raise ValueError(f"step scores must be probabilities in [0, 1], got {list(step_scores)}")
    if how == "min":
        return min(step_scores)
    if how == "product":
        return math.prod(step_scores)
    if how == "last":
        return step_scores[-1]
    if how == "mean":
        return math.fsum(step_scores) / len(step_scores)
    raise ValueError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")
