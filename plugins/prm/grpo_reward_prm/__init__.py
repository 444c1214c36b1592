"""grpo-core plugin ``prm``: a process reward model's step scores as a reward.

Optional and weighted beside verifiable rewards; runs the model in-process (``mode: local``, with
the ``local`` extra: torch + transformers) or on a vLLM pooling server (``mode: served``).
"""

from grpo_core import hookimpl
from grpo_reward_prm.verifier import PRMVerifier

__all__ = ["PRMVerifier"]


@hookimpl
def register_verifiers(register):
    register(PRMVerifier)
