"""The scoring summary: per-verifier metrics plus GRPO group statistics, as plain JSON-able data."""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from grpo_core.groups import zero_std_fraction
from grpo_core.metrics import VerifierMetrics


def build_summary(
    metrics: Mapping[str, VerifierMetrics],
    weights: Mapping[str, float],
    rewards: Sequence[float | None],
    values: Mapping[str, Sequence[float | None]],
    groups: Sequence[Hashable] | None = None,
    elapsed_s: float | None = None,
) -> dict[str, Any]:
    """Summary of one scoring run; ``groups`` (one label per row) adds zero-std group fractions."""
    present = [r for r in rewards if r is not None]
    summary: dict[str, Any] = {
        "rows": len(rewards),
        "elapsed_s": elapsed_s,
        "reward": {
            "mean": statistics.fmean(present) if present else None,
            "std": statistics.pstdev(present) if len(present) > 1 else (0.0 if present else None),
            "missing": len(rewards) - len(present),
        },
        "verifiers": {},
    }
    for name, m in metrics.items():
        entry = {"weight": weights[name], **m.summary()}
        if groups is not None:
            entry["zero_std_group_fraction"] = zero_std_fraction(values[name], groups)
        summary["verifiers"][name] = entry
    if groups is not None:
        summary["groups"] = {
            "count": len(set(groups)),
            "zero_std_fraction": zero_std_fraction(rewards, groups),
        }
    return summary
