"""R1-style format and shaping rewards for grpo-core.

``format`` (strict/soft template) and ``tag_count``; the shaping rewards ``overlong`` (DAPO's soft
overlong punishment), ``repetition`` (n-gram repetition penalty), ``length`` (cosine-scaled length
conditioned on another reward's correctness) and ``reasoning_steps`` (open-r1's step count).
"""

from grpo_core import hookimpl
from grpo_reward_format.shaping import (
    LengthVerifier,
    OverlongVerifier,
    ReasoningStepsVerifier,
    RepetitionVerifier,
)
from grpo_reward_format.verifiers import FormatVerifier, TagCountVerifier

__all__ = [
    "FormatVerifier",
    "LengthVerifier",
    "OverlongVerifier",
    "ReasoningStepsVerifier",
    "RepetitionVerifier",
    "TagCountVerifier",
]


@hookimpl
def register_verifiers(register):
    register(FormatVerifier)
    register(TagCountVerifier)
    register(OverlongVerifier)
    register(RepetitionVerifier)
    register(LengthVerifier)
    register(ReasoningStepsVerifier)
