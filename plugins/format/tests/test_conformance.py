"""The format plugin's verifiers pass the grpo-core conformance kit."""

from __future__ import annotations

import grpo_reward_format
from grpo_reward_format import FormatVerifier, TagCountVerifier

from grpo_core.testing import Example, VerifierConformance

GOOD = "<think>\n12*7=84\n</think>\n<answer>\n84\n</answer>"


class TestFormatConformance(VerifierConformance):
    verifier = FormatVerifier
    plugin = grpo_reward_format
    examples = [
        Example({"prompt": "12*7?", "completion": GOOD}, 1.0),
        Example({"prompt": "12*7?", "completion": "84"}, 0.0),
        Example({"prompt": "12*7?", "completion": "<answer>84</answer><think>w</think>"}, 0.0),
    ]


class TestSoftFormatConformance(TestFormatConformance):
    options = {"mode": "soft"}
    examples = [
        Example({"prompt": "12*7?", "completion": "Sure. <think>w</think> <answer>84</answer> done"}, 1.0),
        Example({"prompt": "12*7?", "completion": "84"}, 0.0),
    ]


class TestTagCountConformance(VerifierConformance):
    verifier = TagCountVerifier
    plugin = grpo_reward_format
    examples = [
        Example({"prompt": "12*7?", "completion": GOOD}, 1.0),
        Example({"prompt": "12*7?", "completion": "no tags at all"}, 0.0),
    ]
