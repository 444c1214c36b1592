"""The reward spread *within* each group: the diversity GRPO learns from.

TRL logs ``reward_std``, the std of the whole batch's rewards. That mixes groups: a batch where
every group's 8 completions agree (no GRPO signal at all) still has a large ``reward_std`` when
some groups are right and others wrong. ``reward_group_std`` is the mean over groups of each
group's own (weighted, summed) reward std, the spread that GRPO's group-normalised advantage
feeds on; it is what "a higher temperature gives more diverse groups" is about.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

GROUP_STD_KEY = "reward_group_std"


def group_reward_std(totals: Sequence[float], group_size: int) -> float | None:
    """Mean over consecutive groups of ``group_size`` of each group's sample std (NaN = unscored,
    left out; a group with fewer than 2 scored completions is skipped). None when no group counts."""
    if group_size < 2:
        return None
    stds = []
    for start in range(0, len(totals) - group_size + 1, group_size):
        values = [v for v in totals[start : start + group_size] if not math.isnan(v)]
        if len(values) < 2:
            continue
        mean = sum(values) / len(values)
        stds.append(math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)))
    return sum(stds) / len(stds) if stds else None


def weighted_totals(rewards_per_func: Any, weights: Any) -> list[float]:
    """Each completion's weighted reward sum, as TRL computes it (NaN where no function scored it)."""
    import torch

    weights = weights.to(rewards_per_func.device).unsqueeze(0)
    totals = (rewards_per_func * weights).nansum(dim=1)
    totals[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan
    return totals.tolist()


def with_group_metrics(trainer_class: type) -> type:
    """A subclass of TRL's GRPOTrainer that also logs :data:`GROUP_STD_KEY` each step.

    It reads the rewards TRL has just gathered from every process (``_calculate_rewards``), so the
    groups are whole on every rank."""

    class GroupMetricsTrainer(trainer_class):
        def _calculate_rewards(self, *args: Any, **kwargs: Any) -> Any:
            rewards_per_func = super()._calculate_rewards(*args, **kwargs)
            mode = "train" if self.model.training else "eval"
            size = self.num_generations if mode == "train" else self.num_generations_eval
            value = group_reward_std(weighted_totals(rewards_per_func, self.reward_weights), size or 1)
            if value is not None:
                self._metrics[mode][GROUP_STD_KEY].append(value)
            return rewards_per_func

    GroupMetricsTrainer.__name__ = GroupMetricsTrainer.__qualname__ = trainer_class.__name__
    return GroupMetricsTrainer
