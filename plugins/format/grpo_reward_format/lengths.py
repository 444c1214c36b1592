"""How long a completion is, in tokens: the trainer's ``completion_ids`` or a local tokenizer.

Length rewards must count what the trainer limits (tokens), not characters. TRL hands the reward
functions ``completion_ids``; the harness puts them on each sample. Scoring a JSONL file offline
(``grpo score``) has no ids, so the verifiers take a ``tokenizer`` option (a local path or a cached
Hugging Face name, never downloaded) and count the completion's text with it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from grpo_core import Sample

_tokenizers: dict[str, Any] = {}
_lock = threading.Lock()


def load_tokenizer(name: str) -> Any:
    """A tokenizer from a local path or the local Hugging Face cache (never the network)."""
    with _lock:
        if name not in _tokenizers:
            from transformers import AutoTokenizer

            _tokenizers[name] = AutoTokenizer.from_pretrained(name, local_files_only=True)
        return _tokenizers[name]


def completion_ids(sample: Sample) -> list[int] | None:
    """The sample's ``completion_ids`` when it carries a usable list of token ids, else None."""
    ids = sample.get("completion_ids")
    if ids is None:
        return None
    if hasattr(ids, "tolist"):  # a tensor or array
        ids = ids.tolist()
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise TypeError(f"completion_ids must be a list of token ids, got {type(ids).__name__}")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise TypeError("completion_ids must hold integers only")
    return list(ids)


def token_length(sample: Sample, tokenizer: str | None) -> tuple[int, str] | str:
    """(length, where it came from), or the reason it cannot be known (for invalid_input)."""
    try:
        ids = completion_ids(sample)
    except TypeError as exc:
        return str(exc)
    if ids is not None:
        return len(ids), "completion_ids"
    if tokenizer is None:
        return "the row has no completion_ids; set the `tokenizer` option to count tokens of the text"
    encoded = load_tokenizer(tokenizer)(sample.completion_text, add_special_tokens=False)["input_ids"]
    return len(encoded), "tokenizer"
