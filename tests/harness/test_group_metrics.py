"""``reward_group_std``: each group's own reward spread, averaged (TRL logs only the batch's)."""

from __future__ import annotations

import math
from collections import defaultdict
from types import SimpleNamespace

import pytest

from harness.group_metrics import GROUP_STD_KEY, group_reward_std, weighted_totals, with_group_metrics


def test_groups_that_agree_have_no_spread_even_when_the_batch_has_a_lot():
    # two groups: all right (3.0) and all wrong (0.0): the batch std is large, the groups' is 0
    totals = [3.0] * 4 + [0.0] * 4
    assert group_reward_std(totals, 4) == 0.0
    assert group_reward_std([0.0, 2.0, 0.0, 2.0, 1.0, 1.0, 1.0, 1.0], 4) == pytest.approx(
        math.sqrt(4 / 3) / 2
    )


def test_unscored_completions_are_left_out_and_lone_ones_skipped():
    nan = float("nan")
    assert group_reward_std([1.0, nan, 3.0, nan], 4) == pytest.approx(math.sqrt(2))
    assert group_reward_std([nan, nan, nan, 1.0], 4) is None
    assert group_reward_std([1.0, 2.0], 1) is None


def test_weighted_totals_sum_the_weighted_rewards_and_keep_nan_for_unscored_rows():
    torch = pytest.importorskip("torch")
    nan = float("nan")
    per_func = torch.tensor([[1.0, 0.5], [nan, 1.0], [nan, nan]])
    totals = weighted_totals(per_func, torch.tensor([2.0, 1.0]))
    assert totals[:2] == [2.5, 1.0] and math.isnan(totals[2])


def test_the_trainer_subclass_logs_the_within_group_std_of_what_trl_gathered():
    torch = pytest.importorskip("torch")

    class FakeTrainer:
        def __init__(self):
            self.model = SimpleNamespace(training=True)
            self.num_generations, self.num_generations_eval = 2, 2
            self.reward_weights = torch.tensor([2.0, 1.0])
            self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            # group 1: math right/wrong, format both 1 -> totals 3, 1; group 2: totals 3, 3
            return torch.tensor([[1.0, 1.0], [0.0, 1.0], [1.0, 1.0], [1.0, 1.0]])

    trainer = with_group_metrics(FakeTrainer)()
    out = trainer._calculate_rewards([], [], [], [])
    assert out.shape == (4, 2)  # TRL gets its rewards back untouched
    assert trainer._metrics["train"][GROUP_STD_KEY] == [pytest.approx(math.sqrt(2) / 2)]
    assert type(trainer).__name__ == "FakeTrainer"
