"""The math verifier passes the grpo-core conformance kit (process isolation, real workers)."""

from __future__ import annotations

import grpo_reward_math
from grpo_reward_math import MathVerifier

from grpo_core.testing import Example, VerifierConformance


class TestMathConformance(VerifierConformance):
    verifier = MathVerifier
    plugin = grpo_reward_math
    examples = [
        Example(
            {
                "prompt": "What is 1/2 + 1/4?",
                "completion": "So the answer is \\boxed{\\frac{3}{4}}",
                "answer": "0.75",
            },
            1.0,
        ),
        Example(
            {"prompt": "What is 1/2 + 1/4?", "completion": "The answer is \\boxed{0.5}", "answer": "3/4"}, 0.0
        ),
        Example({"prompt": "Solve x^2=4.", "completion": "<answer>x = 2</answer>", "answer": "2"}, 1.0),
        Example({"prompt": "Solve x^2=4.", "completion": "I am not sure.", "answer": "2"}, 0.0),
    ]
