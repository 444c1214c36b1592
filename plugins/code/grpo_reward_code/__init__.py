"""Code rewards for grpo-core: the ``code`` verifier runs completions against tests in a sandbox."""

from grpo_core import hookimpl
from grpo_reward_code.extract import extract_code
from grpo_reward_code.verifier import CodeOptions, CodeVerifier

__all__ = ["CodeOptions", "CodeVerifier", "extract_code"]


@hookimpl
def register_verifiers(register):
    register(CodeVerifier)
