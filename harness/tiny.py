"""The embedded default: a tiny Qwen2-architecture model and a tokenizer trained on the task text.

Nothing is downloaded. The tokenizer is a byte-level BPE (Qwen2's own pipeline) learnt from the
task's text: digits and the R1 template tags are single tokens, so a randomly initialised model of
~100k parameters can learn the template and the answers within minutes on a CPU. Model and
tokenizer save as an ordinary Qwen2 directory that reloads identically.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

R1_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
PAD, EOS, UNK = "<|pad|>", "<|im_end|>", "<|unk|>"
ROLE_START = "<|im_start|>"
# Byte-level BPE: 256 byte symbols + merges for the task's words (a few dozen) + specials.
VOCAB_LIMIT = 512

# A ChatML-like template: one line per turn, the generation prompt opens the assistant turn.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + ' ' + message['content'] + '<|im_end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant ' }}{% endif %}"
)

TINY_MODEL_DEFAULTS: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}


def chat_template(think_prefilled: bool = False) -> str:
    """The template; ``think_prefilled`` opens ``<think>`` in the generation prompt (R1-Zero style)."""
    if not think_prefilled:
        return CHAT_TEMPLATE
    return CHAT_TEMPLATE.replace("'<|im_start|>assistant '", "'<|im_start|>assistant <think>'")


def train_tokenizer(texts: Iterable[str], think_prefilled: bool = False):
    """A ``Qwen2Tokenizer`` whose byte-level BPE vocabulary is learnt from ``texts``.

    Why Qwen2's own class: ``AutoTokenizer`` loads any Qwen2 model directory with
    ``Qwen2Tokenizer``, which rebuilds the pipeline (NFC, Qwen's split regex, byte-level) around
    the saved vocabulary and merges. Training with exactly that pipeline and constructing the
    class ourselves means the tokenizer in memory, the one saved with the model and the one TRL,
    vLLM or ``grpo eval`` reload are the same (same ids, same decoded text). Digits stay single
    tokens (Qwen's regex splits numbers digit by digit); the R1 tags and chat markers are whole
    added tokens.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_LIMIT,
        min_frequency=1,
        special_tokens=[PAD, EOS, UNK, ROLE_START],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # The tags become whole tokens below; learn the words around them, not their pieces.
    corpus = []
    for text in texts:
        for tag in R1_TAGS:
            text = text.replace(tag, " ")
        corpus.append(text)
    bpe.train_from_iterator(corpus, trainer=trainer)
    state = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    tokenizer = Qwen2Tokenizer(
        vocab=state["vocab"],
        merges=merges,
        unk_token=UNK,
        eos_token=EOS,
        pad_token=PAD,
        extra_special_tokens=[ROLE_START],
        padding_side="left",
    )
    # Ordinary (not special) added tokens: TRL decodes completions with skip_special_tokens=True,
    # and the format verifier must still see the tags.
    tokenizer.add_tokens(list(R1_TAGS))
    tokenizer.chat_template = chat_template(think_prefilled)
    return tokenizer


def build_model(tokenizer, overrides: dict[str, Any] | None = None, seed: int = 0):
    """A randomly initialised ``Qwen2ForCausalLM`` sized by ``TINY_MODEL_DEFAULTS`` (+ overrides)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    settings = {**TINY_MODEL_DEFAULTS, **(overrides or {})}
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
        **settings,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def save_tiny(path: str | Path, texts: Iterable[str], overrides: dict[str, Any] | None = None, seed: int = 0):
    """Train the tokenizer, build the model and save both to ``path`` (a normal HF model directory)."""
    tokenizer = train_tokenizer(texts)
    model = build_model(tokenizer, overrides, seed)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer
