"""The example `word_limit` plugin: its behaviour and the grpo-core conformance kit."""

from __future__ import annotations

import grpo_reward_word_limit
from grpo_reward_word_limit import WordLimitVerifier

from grpo_core import Sample
from grpo_core.testing import Example, VerifierConformance


def test_linear_fall_after_the_limit() -> None:
    verifier = WordLimitVerifier({"max_words": 4})
    assert verifier.score(Sample(completion="one two three four")).value == 1.0
    assert verifier.score(Sample(completion="w " * 6)).value == 0.5
    assert verifier.score(Sample(completion="w " * 9)).value == 0.0


class TestWordLimitConformance(VerifierConformance):
    verifier = WordLimitVerifier
    plugin = grpo_reward_word_limit
    options = {"max_words": 4}
    examples = [
        Example({"prompt": "p", "completion": "short answer"}, 1.0),
        Example({"prompt": "p", "completion": "one two three four five six"}, 0.5),
        Example({"prompt": "p", "completion": "w " * 20}, 0.0),
    ]
