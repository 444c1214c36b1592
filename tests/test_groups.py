"""GRPO group statistics."""

from __future__ import annotations

import statistics

import pytest

from grpo_core.groups import group_advantages, zero_std_fraction


def test_advantages_are_normalised_within_each_group():
    rewards = [1.0, 0.0, 0.0, 1.0, 2.0, 2.0]
    groups = ["a", "a", "a", "a", "b", "b"]
    adv = group_advantages(rewards, groups, eps=0.0)
    std_a = statistics.stdev([1.0, 0.0, 0.0, 1.0])
    assert adv[:4] == pytest.approx([0.5 / std_a, -0.5 / std_a, -0.5 / std_a, 0.5 / std_a])
    assert adv[4:] == [0.0, 0.0]  # a flat group carries no signal


def test_unscaled_advantages_and_missing_rewards():
    adv = group_advantages([3.0, None, 1.0], [0, 0, 0], scale=False)
    assert adv == [1.0, None, -1.0]


def test_zero_std_fraction():
    assert zero_std_fraction([1, 1, 0, 1, 0.5, 0.5], [1, 1, 2, 2, 3, 3]) == pytest.approx(2 / 3)
    assert zero_std_fraction([None, None], [1, 1]) is None


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="3 rewards but 2 group labels"):
        group_advantages([1, 2, 3], [1, 1])
