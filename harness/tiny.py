"""The embedded default: a tiny Qwen2-architecture model and a tokenizer trained on the task text.

Nothing is downloaded. The tokenizer is a word-level vocabulary learnt from the arithmetic task's
own text (digits and the R1 template tags are single tokens), so a randomly initialised model of a
few hundred thousand parameters can find the template and the answers within minutes on a CPU.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

# The R1 tags are ordinary (not special) added tokens: TRL decodes completions with
# ``skip_special_tokens=True``, and the format verifier must still see them.
R1_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
PAD, EOS, UNK = "<|pad|>", "<|im_end|>", "<|unk|>"
ROLE_START = "<|im_start|>"

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
    """A word-level ``PreTrainedTokenizerFast`` over ``texts``: words, single digits, punctuation, tags."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(), pre_tokenizers.Digits(True)]
    )
    # Completions decode without spaces ("<think>3+4=7</think><answer>7</answer>"): the verifiers
    # read numbers, not prose, and multi-digit answers stay one number.
    tokenizer.decoder = decoders.Fuse()
    trainer = trainers.WordLevelTrainer(special_tokens=[PAD, EOS, UNK, ROLE_START], min_frequency=1)
    # The tags become whole tokens below; learn the words around them, not their pieces.
    corpus = []
    for text in texts:
        for tag in R1_TAGS:
            text = text.replace(tag, " ")
        corpus.append(text)
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        additional_special_tokens=[ROLE_START],
    )
    wrapped.add_tokens(list(R1_TAGS))
    wrapped.chat_template = chat_template(think_prefilled)
    wrapped.padding_side = "left"
    return wrapped


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
