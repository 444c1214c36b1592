"""DeepSeek-R1's language-consistency reward for grpo-core: the share of the chain of thought's
words that are in the target language, identified offline (no download, no network)."""

from grpo_core import hookimpl
from grpo_reward_language.verifier import LanguageOptions, LanguageVerifier

__all__ = ["LanguageOptions", "LanguageVerifier"]


@hookimpl
def register_verifiers(register):
    register(LanguageVerifier)
