"""GRPO group statistics: group-relative advantages and groups that carry no learning signal.

Rewards of ``None`` (no verifier gave a value) are left out of their group's statistics and get a
``None`` advantage.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Hashable, Sequence


def _by_group(rewards: Sequence[float | None], groups: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    if len(rewards) != len(groups):
        raise ValueError(f"{len(rewards)} rewards but {len(groups)} group labels")
    members: dict[Hashable, list[int]] = defaultdict(list)
    for i, (reward, group) in enumerate(zip(rewards, groups)):
        if reward is not None:
            members[group].append(i)
    return members


def group_advantages(
    rewards: Sequence[float | None],
    groups: Sequence[Hashable],
    *,
    scale: bool = True,
    eps: float = 1e-4,
) -> list[float | None]:
    """(r - group mean) / (group std + eps), as in GRPO; ``scale=False`` keeps r - mean (Dr. GRPO).

    The std is the sample standard deviation (n - 1), as TRL computes it; a group of one has std 0.
    """
    advantages: list[float | None] = [None] * len(rewards)
    for indices in _by_group(rewards, groups).values():
        values = [float(rewards[i]) for i in indices]  # type: ignore[arg-type]
        mean = statistics.fmean(values)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        denominator = std + eps if scale else 1.0
        for i, value in zip(indices, values):
            advantage = value - mean
            advantages[i] = advantage / denominator if denominator else 0.0
    return advantages


def zero_std_fraction(rewards: Sequence[float | None], groups: Sequence[Hashable]) -> float | None:
    """Share of groups whose rewards are all equal: their advantages are 0, nothing is learned."""
    members = _by_group(rewards, groups)
    if not members:
        return None
    flat = 0
    for indices in members.values():
        values = [rewards[i] for i in indices]
        flat += all(math.isclose(v, values[0], abs_tol=1e-12) for v in values)  # type: ignore[arg-type]
    return flat / len(members)
