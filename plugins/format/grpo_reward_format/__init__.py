"""R1-style format rewards for grpo-core: ``format`` (strict/soft template) and ``tag_count``."""

from grpo_core import hookimpl
from grpo_reward_format.verifiers import FormatVerifier, TagCountVerifier

__all__ = ["FormatVerifier", "TagCountVerifier"]


@hookimpl
def register_verifiers(register):
    register(FormatVerifier)
    register(TagCountVerifier)
