"""Math answer equivalence reward for grpo-core: the ``math`` verifier."""

from grpo_core import hookimpl
from grpo_reward_math.verifier import MathVerifier

__all__ = ["MathVerifier"]


@hookimpl
def register_verifiers(register):
    register(MathVerifier)
