"""Tiny PRMs of each adapter's shape, built from a config with random weights (nothing downloaded).

For tests, the served-mode test server and the throughput benchmark: a word-level tokenizer trained
on the given texts, and a Qwen2 model with the head each family uses (token classification with two
labels, or a causal LM for Math-Shepherd). Needs torch, transformers and tokenizers only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

PAD, EOS, UNK, BOS = "<|pad|>", "<|im_end|>", "<|unk|>", "<|bos|>"
ROLE_START = "<|im_start|>"
QWEN_SEPARATOR = "<extra_0>"
SHEPHERD_TAG, SHEPHERD_GOOD, SHEPHERD_BAD = "ки", "+", "-"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
)
SIZES: dict[str, dict[str, int]] = {
    # head_dim 32: the smallest vLLM's CPU attention takes, so a served test can use the same model.
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2},
    "small": {
        "hidden_size": 512,
        "intermediate_size": 1408,
        "num_hidden_layers": 6,
        "num_attention_heads": 8,
    },
}


def train_tokenizer(texts: Iterable[str], kind: str) -> Any:
    """A word-level fast tokenizer over ``texts`` with the markers ``kind`` needs as single tokens."""
    from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(), pre_tokenizers.Digits(True)]
    )
    specials = [PAD, EOS, UNK, BOS, ROLE_START]
    extra = [SHEPHERD_TAG, SHEPHERD_GOOD, SHEPHERD_BAD, "system", "user", "assistant"]
    trainer = trainers.WordLevelTrainer(special_tokens=specials, min_frequency=1)
    tokenizer.train_from_iterator([*texts, " ".join(extra)], trainer=trainer)
    if kind == "math_shepherd":  # Llama-style: BOS before every input
        bos_id = tokenizer.token_to_id(BOS)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A", special_tokens=[(BOS, bos_id)]
        )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        bos_token=BOS if kind != "qwen_prm" else None,
        additional_special_tokens=[ROLE_START, *([QWEN_SEPARATOR] if kind == "qwen_prm" else [])],
    )
    # Newlines are tokens, as in real PRM tokenizers (TRL's PRMTrainer separates steps with "\n").
    wrapped.add_tokens([AddedToken("\n", normalized=False, special=False)])
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def build_model(tokenizer: Any, kind: str, size: str = "tiny", seed: int = 0) -> Any:
    """A randomly initialised Qwen2 of ``size`` with the head the ``kind`` of PRM has."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen2ForTokenClassification

    settings = {**SIZES[size], "num_key_value_heads": SIZES[size]["num_attention_heads"]}
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        num_labels=2,
        **settings,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config) if kind == "math_shepherd" else Qwen2ForTokenClassification(config)
    if kind != "math_shepherd":  # a random 2-label head gives scores near 0.5; spread them out
        with torch.no_grad():
            model.score.weight.mul_(5.0)
    return model.eval()


def save_tiny_prm(path: str | Path, texts: Iterable[str], kind: str, size: str = "tiny", seed: int = 0):
    """Train the tokenizer, build the model, save both to ``path`` (an ordinary HF model directory)."""
    tokenizer = train_tokenizer(texts, kind)
    model = build_model(tokenizer, kind, size, seed)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer
