"""The embedded tiny model and tokenizer: what is saved reloads as the same model (ids, text, output)."""

from __future__ import annotations

import pytest

from harness.config import load_config
from harness.data import load_rows, task_texts
from harness.tiny import build_model, train_tokenizer


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    config = load_config(None, [])
    train, evaluation = load_rows(config.data)
    tokenizer = train_tokenizer(task_texts(train + evaluation), think_prefilled=True)
    model = build_model(tokenizer, seed=3)
    path = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return tokenizer, model, path, train[:8]


def test_saved_tokenizer_reloads_identically_through_auto_tokenizer(tiny):
    from transformers import AutoTokenizer

    tokenizer, _, path, rows = tiny
    reloaded = AutoTokenizer.from_pretrained(path)
    assert type(reloaded) is type(tokenizer)
    assert len(reloaded) == len(tokenizer) and reloaded.get_vocab() == tokenizer.get_vocab()
    assert reloaded.padding_side == "left"
    assert (reloaded.eos_token_id, reloaded.pad_token_id) == (tokenizer.eos_token_id, tokenizer.pad_token_id)
    texts = [
        tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False) for r in rows
    ]
    texts += [
        "3+4</think><answer>7</answer>",
        "Answer as <think> 12 </think> <answer> 98 </answer> system user",
    ]
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert reloaded(text, add_special_tokens=False)["input_ids"] == ids, text
        for skip in (True, False):
            assert reloaded.decode(ids, skip_special_tokens=skip) == tokenizer.decode(
                ids, skip_special_tokens=skip
            )
    # Words of the system prompt survive the round trip (the old word-level tokenizer lost them).
    prompt = reloaded.decode(
        reloaded(texts[0], add_special_tokens=False)["input_ids"], skip_special_tokens=True
    )
    assert "Answer as <think>" in prompt and "<answer>" in prompt
    # The R1 tags are single, non-special tokens: TRL decodes with skip_special_tokens=True.
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        assert len(reloaded(tag, add_special_tokens=False)["input_ids"]) == 1
        assert (
            reloaded.decode(reloaded(tag, add_special_tokens=False)["input_ids"], skip_special_tokens=True)
            == tag
        )
    # Digits are single tokens, numbers decode back whole.
    assert reloaded.decode(reloaded("1234", add_special_tokens=False)["input_ids"]) == "1234"


def test_saved_model_generates_the_same_tokens(tiny, assert_same_model):
    tokenizer, model, path, rows = tiny
    assert_same_model(model, tokenizer, path, rows, max_new_tokens=6)
