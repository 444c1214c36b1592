"""Step splitting, aggregation and options: no model needed."""

from __future__ import annotations

import math

import pytest
from grpo_reward_prm.aggregate import aggregate
from grpo_reward_prm.local import token_batches
from grpo_reward_prm.options import PRMOptions
from grpo_reward_prm.steps import StepRule, reasoning_text, remove_markers, split_steps
from pydantic import ValidationError

from grpo_core import ConfigError, Engine, PluginRegistry, Sample


def test_paragraphs_are_the_default_and_empty_steps_merge_away():
    text = "\n\nfirst step\nstill first\n\n \n\nsecond\n   \t\nthird\n\n\n\n"
    assert split_steps(text, StepRule()) == ["first step\nstill first", "second", "third"]


def test_lines_and_regex_modes():
    assert split_steps("a\n\nb\r\nc\n", StepRule("lines")) == ["a", "b", "c"]
    rule = StepRule("regex", r"Step \d+:")
    assert split_steps("Step 1: add. Step 2: carry. Step 3:", rule) == ["add.", "carry."]
    # capturing groups come back from re.split; they are not steps of their own
    assert split_steps("x;y,z", StepRule("regex", r"(;)|(,)")) == ["x", ";", "y", ",", "z"]


def test_max_steps_merges_the_tail_so_no_step_goes_unscored():
    steps = split_steps("1\n\n2\n\n3\n\n4\n\n5", StepRule(max_steps=3))
    assert steps == ["1", "2", "3\n\n4\n\n5"]
    assert split_steps("1\n2\n3", StepRule("lines", max_steps=1)) == ["1\n2\n3"]
    assert split_steps("1\n\n2", StepRule(max_steps=5)) == ["1", "2"]


def test_reasoning_text_scopes():
    assert reasoning_text("<think>a\n\nb</think><answer>1</answer>", "think") == "a\n\nb"
    assert reasoning_text("a\n\nb</think><answer>1</answer>", "think") == "a\n\nb"  # prefilled <think>
    assert reasoning_text("<think>cut off here", "think") == "cut off here"
    assert reasoning_text("no tags at all", "think") is None
    assert reasoning_text("no tags at all", "completion") == "no tags at all"


def test_markers_are_blanked_and_cannot_be_rebuilt_from_their_pieces():
    assert remove_markers("a<extra_0>b", ("<extra_0>",)) == "a b"
    forged = "<extra_<extra_0>0> and кки и ки"
    cleaned = remove_markers(forged, ("<extra_0>", "ки"))
    assert "<extra_0>" not in cleaned and "ки" not in cleaned


def test_aggregations():
    scores = [0.9, 0.5, 0.8]
    assert aggregate(scores) == 0.5
    assert aggregate(scores, "min") == 0.5
    assert aggregate(scores, "product") == pytest.approx(0.36)
    assert aggregate(scores, "last") == 0.8
    assert aggregate(scores, "mean") == pytest.approx(2.2 / 3)
    assert aggregate([0.7], "product") == 0.7


@pytest.mark.parametrize("bad", [[], [math.nan], [0.5, math.inf], [1.5], [-0.1]])
def test_aggregation_refuses_what_is_not_a_probability(bad):
    with pytest.raises(ValueError):
        aggregate(bad, "mean")


def test_token_batches_respect_the_budget_and_sort_by_length():
    lengths = [50, 3, 70, 10, 10, 200, 4]
    batches = token_batches(lengths, budget=100)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= 100
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(lengths)
    assert [5] in batches  # longer than the budget: alone, never cut


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"model": "m", "aggregation": "max"}, "aggregation"),
        ({"model": "m", "adapter": "orm"}, "adapter"),
        ({"model": "m", "split": "regex"}, "split_regex"),
        ({"model": "m", "split": "regex", "split_regex": "("}, "split_regex"),
        ({"model": "m", "split": "regex", "split_regex": "x*"}, "split_regex"),
        ({"model": "m", "mode": "served"}, "url"),
        ({"model": "m", "mode": "served", "url": "localhost:8000"}, "url"),
        ({"model": "m", "device": "gpu"}, "device"),
        ({"model": "m", "step_token": "a b"}, "step_token"),
        ({"model": "m", "max_steps": 0}, "max_steps"),
        ({"model": "/nonexistent/prm-dir"}, "model"),
        ({"model": "m", "aggreagtion": "min"}, "aggreagtion"),
        ({}, "model"),
    ],
)
def test_bad_options_name_the_field(options, field):
    with pytest.raises(ValidationError, match=field):
        PRMOptions.model_validate(options)


def test_engine_reports_bad_options_before_any_model_loads():
    import grpo_reward_prm

    registry = PluginRegistry()
    registry.add_plugin(grpo_reward_prm, "prm")
    with pytest.raises(ConfigError, match=r"prm\.aggregation"):
        Engine([{"verifier": "prm", "options": {"model": "m", "aggregation": "median"}}], registry=registry)


def test_plugin_is_discovered_through_its_entry_point():
    from grpo_core import get_registry

    assert get_registry().verifier_class("prm").__name__ == "PRMVerifier"


def test_pooling_url():
    assert PRMOptions(model="m", mode="served", url="http://h:8000/").pooling_url == "http://h:8000/pooling"
    assert (
        PRMOptions(model="m", mode="served", url="http://h/v1/pooling").pooling_url == "http://h/v1/pooling"
    )


def test_cache_key_is_the_question_and_the_steps():
    from grpo_reward_prm import PRMVerifier

    verifier = PRMVerifier({"model": "m"})
    a = Sample(prompt="q", completion="<think>x\n\ny</think><answer>1</answer>")
    b = Sample(prompt="q", completion="<think>x\n\n\n\ny  </think><answer>2</answer>")
    c = Sample(prompt="other q", completion="<think>x\n\ny</think>")
    assert verifier.cache_key(a) == verifier.cache_key(b)  # same steps: same score
    assert verifier.cache_key(a) != verifier.cache_key(c)


def test_the_plugin_imports_neither_torch_nor_transformers():
    """grpo plugins / config checks must stay light: the heavy imports wait for the first batch."""
    import subprocess
    import sys

    code = (
        "import sys, grpo_reward_prm;"
        "from grpo_reward_prm import PRMVerifier;"
        "PRMVerifier({'model': 'm'});"
        "heavy = [m for m in ('torch', 'transformers', 'httpx') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dtype_and_device_defaults():
    import torch
    from grpo_reward_prm.local import default_token_budget, resolve_device, resolve_dtype

    assert resolve_dtype("auto", "cuda") is torch.bfloat16
    assert resolve_dtype("auto", "cuda:1") is torch.bfloat16
    assert resolve_dtype("auto", "cpu") is torch.float32
    assert resolve_dtype("float16", "cpu") is torch.float16
    assert resolve_device("cpu") == "cpu"
    assert default_token_budget("cpu") < default_token_budget("cuda")


def test_auto_device_is_this_process_gpu(monkeypatch):
    import torch
    from grpo_reward_prm.local import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert resolve_device("auto") == "cuda:2"
    monkeypatch.delenv("LOCAL_RANK")
    assert resolve_device("auto") == "cuda:1"
    assert resolve_device("cuda:3") == "cuda:3"
