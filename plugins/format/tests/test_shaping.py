"""Shaping rewards: hand-computed values, side by side with TRL's `trl.rewards` and open-r1's formulas,
option validation, and the `length` reward reading `math` through the engine's dependencies."""

from __future__ import annotations

import math
import random

import pytest
from grpo_reward_format import LengthVerifier, OverlongVerifier, ReasoningStepsVerifier, RepetitionVerifier
from grpo_reward_format.shaping import text_units
from pydantic import ValidationError

from grpo_core import ConfigError, Engine, Sample, Status
from grpo_core.dependencies import DEPENDENCIES_KEY


def sample(completion="", **columns) -> Sample:
    return Sample(prompt="p", completion=completion, **columns)


# -- overlong ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0, 0.0),
        (80, 0.0),
        (81, -0.05),
        (85, -0.25),
        (90, -0.5),
        (99, -0.95),
        (100, -1.0),
        (101, -1.0),
        (500, -1.0),
    ],
)
def test_overlong_hand_computed(length, expected):
    verifier = OverlongVerifier({"max_length": 100, "buffer": 20})
    result = verifier.score(sample("x", completion_ids=[7] * length))
    assert result.value == pytest.approx(expected)
    assert result.details == {"tokens": length, "source": "completion_ids"}


def test_overlong_matches_trl_soft_overlong_punishment():
    from trl.rewards import get_soft_overlong_punishment

    rng = random.Random(0)
    for max_length, buffer in [(100, 20), (64, 64), (512, 0), (10, 3)]:
        ours = OverlongVerifier({"max_length": max_length, "buffer": buffer})
        ids = [[1] * rng.randint(0, 2 * max_length) for _ in range(200)] + [[1] * max_length]
        theirs = get_soft_overlong_punishment(max_length, buffer)(ids)
        assert [ours.score(sample(completion_ids=i)).value for i in ids] == pytest.approx(theirs)


def test_overlong_options_and_inputs_are_checked():
    with pytest.raises(ValidationError, match="buffer"):
        OverlongVerifier({"max_length": 10, "buffer": 11})
    with pytest.raises(ValidationError, match="max_length"):
        OverlongVerifier({"buffer": 1})
    with pytest.raises(ValidationError, match="max_length"):
        OverlongVerifier({"max_length": 0, "buffer": 0})
    verifier = OverlongVerifier({"max_length": 10, "buffer": 2})
    no_ids = verifier.score(sample("text"))
    assert no_ids.status is Status.INVALID_INPUT and "tokenizer" in no_ids.details["reason"]
    for forged in ("abc", [1.5, 2], [True, False], {"a": 1}, [None]):
        assert verifier.score(sample(completion_ids=forged)).status is Status.INVALID_INPUT, forged


def test_overlong_through_the_engine_names_the_bad_option():
    with pytest.raises(ConfigError, match=r"overlong.*buffer \(30\) must not exceed max_length \(20\)"):
        Engine([{"verifier": "overlong", "options": {"max_length": 20, "buffer": 30}}])


def test_tokenizer_option_counts_tokens_of_the_text(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "a": 1, "b": 2, "c": 3}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]").save_pretrained(tmp_path)
    verifier = OverlongVerifier({"max_length": 4, "buffer": 2, "tokenizer": str(tmp_path)})
    verifier.setup()
    result = verifier.score(sample("a b c"))  # 3 tokens: one past the ramp start
    assert result.value == pytest.approx(-0.5) and result.details["source"] == "tokenizer"
    assert verifier.score(sample("a b c", completion_ids=[1])).value == 0.0  # ids win when given
    with pytest.raises(ValidationError, match="no tokenizer directory"):
        OverlongVerifier({"max_length": 4, "buffer": 2, "tokenizer": str(tmp_path / "missing")})


# -- repetition -------------------------------------------------------------------------------------
def test_repetition_hand_computed():
    words = RepetitionVerifier({"ngram_size": 3})
    # 4 trigrams: (the cat the) x2, (cat the cat) x2 -> 1 - 2/4
    assert words.score(sample("the cat the cat the cat")).value == pytest.approx(-0.5)
    assert words.score(sample("one two three four five")).value == 0.0
    assert words.score(sample("too short")).value == 0.0
    assert words.score(sample("")).value == 0.0
    # CJK: one unit per character; 好好好好 has 3 bigrams, 1 distinct.
    bigrams = RepetitionVerifier({"ngram_size": 2, "max_penalty": -0.6})
    assert bigrams.score(sample("好好好好")).value == pytest.approx(-0.6 * 2 / 3)
    assert text_units("我们 計算 the Sum, again!") == ["我", "们", "計", "算", "the", "sum", "again"]


def test_repetition_matches_trl_on_token_ids():
    from trl.rewards import get_repetition_penalty_reward

    rng = random.Random(1)
    ids = [[rng.randint(0, k) for _ in range(rng.randint(0, 40))] for k in (1, 2, 5, 50) for _ in range(50)]
    for n, penalty in [(1, -1.0), (2, -1.0), (3, -0.5), (5, -2.0)]:
        ours = RepetitionVerifier({"ngram_size": n, "max_penalty": penalty, "unit": "tokens"})
        theirs = get_repetition_penalty_reward(n, penalty)(ids)
        assert [ours.score(sample(completion_ids=i)).value for i in ids] == pytest.approx(theirs)
    assert get_repetition_penalty_reward(2, -1.0)([[5, 5, 5, 5, 5]]) == [-0.75]  # TRL's own example
    assert (
        RepetitionVerifier({"ngram_size": 2, "unit": "tokens"}).score(sample(completion_ids=[5] * 5)).value
        == -0.75
    )


def open_r1_repetition(text: str, n: int, max_penalty: float) -> float:
    """open-r1's repetition_penalty_reward (English): n-grams of ``text.lower().split()``."""
    words = text.lower().split()
    if not text or len(words) < n:
        return 0.0
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return (1 - len(set(grams)) / len(grams)) * max_penalty


def test_repetition_matches_open_r1_on_words():
    rng = random.Random(2)
    vocab = ["we", "add", "The", "numbers", "then", "check", "again", "wait"]
    texts = [
        " ".join(rng.choice(vocab[:k]) for _ in range(rng.randint(0, 30)))
        for k in (2, 4, 8)
        for _ in range(40)
    ]
    for n in (1, 2, 3, 4):
        ours = RepetitionVerifier({"ngram_size": n, "max_penalty": -1.0})
        for text in texts:
            assert ours.score(sample(text)).value == pytest.approx(open_r1_repetition(text, n, -1.0)), text


def test_repetition_options_and_inputs_are_checked():
    for bad in ({"max_penalty": 0.5}, {"max_penalty": float("nan")}, {"ngram_size": 0}, {"unit": "chars"}):
        with pytest.raises(ValidationError):
            RepetitionVerifier(bad)
    tokens = RepetitionVerifier({"unit": "tokens"})
    assert tokens.score(sample("no ids")).status is Status.INVALID_INPUT
    assert tokens.score(sample(completion_ids="1 2 3")).status is Status.INVALID_INPUT


# -- length (cosine, conditioned on correctness) ----------------------------------------------------
def with_correctness(value, status="ok", name="math", **columns) -> Sample:
    return sample("x", **columns, **{DEPENDENCIES_KEY: {name: (value, status)}})


def test_length_hand_computed():
    verifier = LengthVerifier({"max_length": 100})
    assert verifier.dependencies() == ("math",)
    cases = [  # (correct, tokens, expected): cos(0)=1, cos(pi/2)=0, cos(pi)=-1
        (1.0, 0, 1.0),
        (1.0, 50, 0.75),
        (1.0, 100, 0.5),
        (1.0, 400, 0.5),  # clamped past max_length
        (0.0, 0, -1.0),
        (0.0, 50, -0.75),
        (0.0, 100, -0.5),
        (1.0, 25, 0.5 + 0.25 * (1 + math.cos(math.pi / 4))),
    ]
    for correct, tokens, expected in cases:
        result = verifier.score(with_correctness(correct, completion_ids=[3] * tokens))
        assert result.value == pytest.approx(expected), (correct, tokens)
        assert result.details["correct"] is bool(correct)


def test_length_uses_the_threshold_and_reports_upstream_statuses():
    code = LengthVerifier({"max_length": 10, "correctness": "code", "correct_threshold": 0.5})
    assert code.dependencies() == ("code",)
    assert code.score(with_correctness(0.5, name="code", completion_ids=[])).value == 1.0
    assert code.score(with_correctness(0.49, name="code", completion_ids=[])).value == -1.0
    for status, expected in [
        ("error", Status.ERROR),
        ("timeout", Status.ERROR),
        ("not_applicable", Status.NOT_APPLICABLE),
        ("invalid_input", Status.NOT_APPLICABLE),
    ]:
        assert code.score(with_correctness(None, status, name="code", completion_ids=[1])).status is expected
    # on_error: 0 gives the upstream a value but keeps its status: still no length reward.
    assert code.score(with_correctness(0.0, "error", name="code", completion_ids=[1])).status is Status.ERROR


def test_length_options_are_checked():
    with pytest.raises(ValidationError, match="min_value_correct"):
        LengthVerifier({"max_length": 10, "min_value_correct": 2.0})
    with pytest.raises(ValidationError, match="max_length"):
        LengthVerifier({})
    with pytest.raises(ValidationError):
        LengthVerifier({"max_length": 10, "max_value_correct": float("inf")})
    with pytest.raises(ConfigError, match="reads the result of reward 'math'"):
        Engine([{"verifier": "length", "options": {"max_length": 10}}])


def test_length_with_math_matches_trl_cosine_scaled_reward():
    """The engine scores `math`, then `length` reads it; TRL verifies the answer itself."""
    from trl.rewards import get_cosine_scaled_reward

    answers = [r"\boxed{\frac{1}{3}}", r"\boxed{\frac{1}{2}}", r"\boxed{7}", r"so it is \boxed{0.5}"]
    gold = [r"\frac{1}{3}", r"\frac{1}{3}", "7", r"\frac{1}{2}"]
    lengths = [50, 50, 10, 130]
    rows = [
        {
            "prompt": "p",
            "completion": [{"role": "assistant", "content": a}],
            "answer": g,
            "completion_ids": [1] * n,
        }
        for a, g, n in zip(answers, gold, lengths)
    ]
    specs = [
        {"verifier": "length", "options": {"max_length": 100}},
        {"verifier": "math", "weight": 0.0, "timeout": 60},
    ]
    with Engine(specs, workers=1) as engine:
        result = engine.score(rows)
    assert result.values("math") == [1.0, 0.0, 1.0, 1.0]
    theirs = get_cosine_scaled_reward(max_len=100)(
        [r["completion"] for r in rows], gold, [r["completion_ids"] for r in rows]
    )
    assert result.values("length") == pytest.approx(theirs)
    assert result.values("length")[:2] == pytest.approx([0.75, -0.75])  # TRL's documented example


# -- reasoning steps --------------------------------------------------------------------------------
def open_r1_reasoning_steps(text: str) -> float:
    import re

    pattern = r"(Step \d+:|^\d+\.|\n-|\n\*|First,|Second,|Next,|Finally,)"
    return min(1.0, len(re.findall(pattern, text)) / 3)


STEP_TEXTS = [
    "Step 1: add.\nStep 2: carry.\nStep 3: done.",
    "1. add\n2. carry\n3. done",  # only the first "1." is at the start of the string
    "First, add. Next, carry.",
    "We add.\n- carry\n* done\nFinally, answer.",
    "no steps here",
    "",
]


def test_reasoning_steps_hand_computed_and_open_r1():
    verifier = ReasoningStepsVerifier()
    values = [verifier.score(sample(t)).value for t in STEP_TEXTS]
    assert values == pytest.approx([1.0, 1 / 3, 2 / 3, 1.0, 0.0, 0.0])
    assert values == pytest.approx([open_r1_reasoning_steps(t) for t in STEP_TEXTS])
    multiline = ReasoningStepsVerifier({"multiline": True, "target_steps": 4})
    assert multiline.score(sample(STEP_TEXTS[1])).value == 0.75
    custom = ReasoningStepsVerifier({"pattern": r"(?i)\bwait\b", "target_steps": 2})
    assert custom.score(sample("Wait. wait, WAIT")).value == 1.0


def test_reasoning_steps_options_are_checked():
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        ReasoningStepsVerifier({"pattern": "(unclosed"})
    with pytest.raises(ValidationError, match="matches the empty string"):
        ReasoningStepsVerifier({"pattern": "x*"})
    with pytest.raises(ValidationError, match="target_steps"):
        ReasoningStepsVerifier({"target_steps": 0})
