"""The sample a verifier scores: ``{prompt, completion, **columns}``.

Completions and prompts arrive either as plain strings or as chat messages
(``[{"role": "assistant", "content": ...}]``); the ``*_text`` helpers give verifiers one string.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def message_content_text(content: Any) -> str:
    """Text of one message's ``content``: a string or a list of typed parts (``{"type": "text"}``)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and part.get("type", "text") == "text":
                parts.append(str(part.get("text", "")))
        return "".join(parts)
    return str(content)


def to_text(value: Any, *, role: str | None = None) -> str:
    """Flatten a string or a list of chat messages to text.

    With ``role`` given, only messages of that role count (the assistant's turns of a completion).
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        value = [value]
    if isinstance(value, Sequence):
        texts = [
            message_content_text(message.get("content"))
            for message in value
            if isinstance(message, Mapping) and (role is None or message.get("role") == role)
        ]
        return "\n".join(texts)
    return str(value)


class Sample(dict):
    """A scoring row as a dict, with shortcuts for the fields every verifier reads.

    It stays a plain ``dict`` (pickles cheaply to worker processes); the columns a verifier
    declares are ordinary keys.
    """

    @property
    def prompt(self) -> Any:
        return self.get("prompt", "")

    @property
    def completion(self) -> Any:
        return self.get("completion", "")

    @property
    def prompt_text(self) -> str:
        return to_text(self.prompt)

    @property
    def completion_text(self) -> str:
        """The completion's text; for chat messages, the assistant turns joined by newlines."""
        completion = self.completion
        if isinstance(completion, str):
            return completion
        return to_text(completion, role="assistant")
