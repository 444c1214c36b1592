"""Harness tests never reach the hub: models are built from configs, tokenizers trained locally."""

import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _assert_same_model(model, tokenizer, path, rows, max_new_tokens: int = 12) -> None:
    """The model saved at ``path`` reloads to the in-memory one: same token ids, same greedy
    generations for ``rows``' prompts."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reloaded_tok = AutoTokenizer.from_pretrained(path)
    reloaded = AutoModelForCausalLM.from_pretrained(path)
    texts = [
        tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False) for r in rows
    ]
    outputs = []
    for tok, mdl in ((tokenizer, model), (reloaded_tok, reloaded)):
        encoded = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(mdl.device)
        mdl.eval()
        with torch.no_grad():
            out = mdl.generate(
                **encoded, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id
            )
        outputs.append((out.tolist(), tok.batch_decode(out, skip_special_tokens=True)))
    assert outputs[0] == outputs[1]


@pytest.fixture
def assert_same_model():
    """``assert_same_model(model, tokenizer, path, rows, max_new_tokens=12)``: see above."""
    return _assert_same_model
