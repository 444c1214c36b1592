"""R1 template checks: strict, soft, tag count, custom tags, chat completions."""

from __future__ import annotations

import random
import re

import pytest
from grpo_reward_format import FormatVerifier, TagCountVerifier
from grpo_reward_format.verifiers import tags_in_order
from pydantic import ValidationError

from grpo_core import Sample

STRICT_OK = [
    "<think>12*7=84</think><answer>84</answer>",
    "\n<think>\nwork\n</think>\n\n<answer>\n84\n</answer>\n",
    "<think>a < b and c > d</think> <answer>x</answer>",
]
STRICT_BAD = [
    "",
    "84",
    "Sure! <think>w</think><answer>84</answer>",
    "<think>w</think><answer>84</answer> extra",
    "<answer>84</answer><think>w</think>",
    "<think>w</think><think>w</think><answer>84</answer>",
    "<think>w</think><answer>84</answer><answer>85</answer>",
    "<think>w<answer>84</answer></think>",
    "<think>w</think>between<answer>84</answer>",
    "<think></think><answer>84</answer>",
    "<think>w</think><answer>  </answer>",
    "<think>w</think><answer>84",
]


def score(verifier, completion):
    return verifier.score(Sample(prompt="p", completion=completion))


@pytest.mark.parametrize("completion", STRICT_OK)
def test_strict_accepts_the_template(completion):
    result = score(FormatVerifier(), completion)
    assert result.value == 1.0, result.details


@pytest.mark.parametrize("completion", STRICT_BAD)
def test_strict_rejects_everything_else(completion):
    result = score(FormatVerifier(), completion)
    assert result.value == 0.0
    assert result.details["reason"]


def test_soft_accepts_surrounding_text_but_needs_order():
    soft = FormatVerifier({"mode": "soft"})
    assert score(soft, "Sure! <think>w</think> so <answer>84</answer> done").value == 1.0
    assert score(soft, "<answer>84</answer><think>w</think>").value == 0.0
    assert score(soft, "<think>w</think>").value == 0.0


def test_empty_sections_allowed_when_asked():
    lenient = FormatVerifier({"require_content": False})
    assert score(lenient, "<think></think><answer></answer>").value == 1.0


def test_custom_tags_and_prefilled_think():
    verifier = FormatVerifier({"think_tag": "reasoning", "answer_tag": "final", "think_prefilled": True})
    assert score(verifier, "steps</reasoning><final>3</final>").value == 1.0
    assert score(verifier, "<reasoning>steps</reasoning><final>3</final>").value == 1.0
    assert score(verifier, "steps</think><answer>3</answer>").value == 0.0


def test_tag_names_are_validated():
    with pytest.raises(ValidationError, match="tag name"):
        FormatVerifier({"think_tag": "<think>"})
    with pytest.raises(ValidationError, match="tag name"):
        FormatVerifier({"think_tag": "think\n"})
    with pytest.raises(ValidationError):
        FormatVerifier({"mode": "lenient"})


def test_chat_message_completion():
    completion = [{"role": "assistant", "content": "<think>w</think><answer>1</answer>"}]
    assert score(FormatVerifier(), completion).value == 1.0


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("<think>w</think><answer>1</answer>", 1.0),
        ("<think>w</think>", 0.5),
        ("<think>w</think><think>again</think><answer>1</answer>", 0.5),
        ("<answer>1", 0.25),
        ("nothing", 0.0),
    ],
)
def test_tag_count_partial_credit(completion, expected):
    assert score(TagCountVerifier(), completion).value == expected


# The lazy regex ``tags_in_order`` replaced: the reference on short texts (it backtracked cubically)
REFERENCE_SOFT = re.compile(r"<think>(.*?)</think>.*?<answer>(.*?)</answer>", re.DOTALL)
PIECES = ["<think>", "</think>", "<answer>", "</answer>", "x", " ", "\n", "<", ">", "/"]


def test_soft_finds_what_the_lazy_regex_found():
    generator = random.Random(20261128)
    tags = ("<think>", "</think>", "<answer>", "</answer>")
    for _ in range(20_000):
        text = "".join(generator.choice(PIECES) for _ in range(generator.randint(0, 16)))
        reference = REFERENCE_SOFT.search(text)
        assert tags_in_order(text, tags) == (reference and reference.groups()), repr(text)


@pytest.mark.parametrize("mode", ["soft", "strict"])
def test_adversarial_tags_cost_a_pass(mode):
    # the regex took cubic time on these, in the engine's own process (no timing asserted: the old
    # code would not finish them within the test run at all)
    verifier = FormatVerifier({"mode": mode})
    for text in ("<think>x</think>" * 20_000, "<think>" * 50_000, "<think>a</think> " * 20_000 + "<answer>"):
        assert verifier.score(Sample({"completion": text})).value == 0.0
    closed = "<think>" + "<think>x</think>" * 20_000 + "<answer>42</answer>"
    assert FormatVerifier({"mode": "soft"}).score(Sample({"completion": closed})).value == 1.0
