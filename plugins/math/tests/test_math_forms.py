"""Equivalence of answer forms, scored in-process by the verifier (positives and negatives per form).

The held-out-style pairs in ``data/hard_pairs.jsonl`` (see ``data/hard_pairs.py``) are each a test;
the explicit cases below pin down the rules the issue asks for.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from grpo_reward_math import MathVerifier
from pydantic import ValidationError

from grpo_core.sample import Sample
from grpo_core.verifier import Status

DATA = Path(__file__).parent / "data" / "hard_pairs.jsonl"
PAIRS = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def verifier() -> MathVerifier:
    v = MathVerifier()
    v.setup()
    return v


def score(verifier: MathVerifier, gold: str, completion, **extra):
    return verifier.score(
        Sample({"prompt": extra.pop("prompt", ""), "completion": completion, "answer": gold})
    )


def boxed(pred: str) -> str:
    return f"The final answer is $\\boxed{{{pred}}}$"


@pytest.mark.parametrize(
    "pair", PAIRS, ids=[f"{i}-{p['category']}-{'T' if p['equivalent'] else 'F'}" for i, p in enumerate(PAIRS)]
)
def test_hard_pair(verifier, pair):
    result = score(verifier, pair["answer"], boxed(pair["prediction"]))
    assert result.status is Status.OK, result
    assert (result.value == 1.0) is pair["equivalent"], (pair, dict(result.details))


def test_hard_set_is_balanced_and_covers_every_form():
    categories = {p["category"].removeprefix("b2-") for p in PAIRS}
    for form in (
        "numbers",
        "separators",
        "mixed",
        "pm",
        "lists",
        "intervals",
        "functions",
        "algebra",
        "matrices",
        "percent",
        "degrees",
        "text",
        "latex",
        "hedge",
    ):
        assert form in categories
        if form != "hedge":
            assert any(p["equivalent"] for p in PAIRS if p["category"] == form), form
        assert any(not p["equivalent"] for p in PAIRS if p["category"].removeprefix("b2-") == form), form
    assert len(PAIRS) >= 150
    assert sum(not p["equivalent"] for p in PAIRS) >= 60


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        # exact integers and rationals never pass on tolerance
        ("7", "7.0000001", False),
        ("10^{20}", "10^{20}+1", False),
        ("\\frac{1}{3}", "0.333333", False),  # a lone rational: no short approximations
        ("\\frac{1}{12}", "0.0833333333333333", True),  # printed to machine precision
        ("\\frac{1}{12}", "0.0833333333333334", False),
        ("(\\frac{1}{3}, 2)", "(0.33, 2)", True),  # a rounded coordinate
        ("\\frac{1}{8}", "0.125", True),
        ("\\frac{1}{8}", "0.1250001", False),
        # decimals compared at the gold's written precision
        ("2.74", "2.7401", True),
        ("2.74", "2.75", False),
        ("2.74", "2.7", False),
        # thousands separators, mixed numbers, percentages, degrees, text wrappers
        ("1234567", "1{,}234{,}567", True),
        ("\\frac{7}{2}", "3\\frac{1}{2}", True),
        ("30\\%", "30", True),
        ("30\\%", "0.3", True),
        ("30\\%", "0.03", False),
        ("45^\\circ", "45", True),
        ("45^\\circ", "\\frac{\\pi}{4}", True),
        ("\\text{Tuesday}", "\\text{tuesday}", True),
        ("\\text{Tuesday}", "\\text{Wednesday}", False),
        # structure
        ("(6,3),(9,3)", "(9, 3), (6, 3)", True),
        ("\\{-1\\} \\cup [0,7)", "[0,7) \\cup \\{-1\\}", True),
        ("\\{-1\\} \\cup [0,7)", "[0,7]\\cup\\{-1\\}", False),
        ("f(x)=2x", "2x", True),
        ("f(x)=2x", "f(x)=2x+0", True),
        ("5", "2x + 3 = 5", False),
        ("5", "2 + 3 = 5", True),
        ("5", "x = 2 + 3 = 5", True),
        ("\\{x \\mid x > 2\\}", "2", False),
        ("2", "\\text{two}", True),
        ("D", "\\text{(D) } 4", True),
        ("4", "4abc", False),  # letters glued to a number are a product, not a unit
        ("4abc", "4", False),
        ("3", "3m", False),
        ("5", "5cm", True),
        ("\\mathbb{R}", "\\text{all real numbers}", True),
        ("(-\\infty, \\infty)", "\\text{all real numbers}", True),
        ("\\emptyset", "\\text{no solution}", True),
        ("\\emptyset", "\\text{all real numbers}", False),
        ("C", "\\text{(D) } 4", False),
        ("3", "m + n = 3", True),
        ("3", "2m + n = 3", False),
        ("5 \\text{ m}", "5 \\text{ cm}", False),  # both carry units: they must agree
        ("12 \\text{ inches}", "12 \\text{ in}", True),
        ("1500 \\text{ m}", "1.5 \\text{ km}", True),
        ("1500 \\text{ m}", "1.5 \\text{ kg}", False),
        ("2 \\text{ hours}", "120 \\text{ minutes}", True),
        ("2 \\text{ hours}", "100 \\text{ minutes}", False),
        ("1 \\text{ m}^2", "10000 \\text{ cm}^2", True),
        ("3 \\text{ hours}", "3 hrs", True),
        ("\\frac{3}{8}", "0.375\\%", False),
        ("\\frac{3}{8}", "37.5\\%", True),
        ("5", "six", False),
        ("\\infty", "\\text{infinity}", True),
        ("\\approx 3.14", "3.14", True),
        ("e", "\\text{e}", True),
        ("\\begin{pmatrix}1&0\\\\0&1\\end{pmatrix}", "\\begin{pmatrix}1&0\\\\0&-1\\end{pmatrix}", False),
    ],
)
def test_rules(verifier, gold, pred, expected):
    result = score(verifier, gold, boxed(pred))
    assert (result.value == 1.0) is expected, dict(result.details)


# -- extraction ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "completion",
    [
        "so the result is \\boxed{\\frac{1}{2}}.",
        "so the result is \\fbox{\\frac{1}{2}}.",
        "<think>try 3</think><answer>\\frac{1}{2}</answer>",
        "<think>hmm</think>\n<answer>The answer is $\\boxed{0.5}$</answer>",
        "Work... The final answer is $\\frac{1}{2}$. I hope it is correct.",
        "Final Answer: 1/2",
        "\\boxed{3} was a wrong start, let me redo it. ... Final Answer: The final answer is $\\frac12$.",
    ],
)
def test_extraction_methods(verifier, completion):
    result = score(verifier, "\\frac{1}{2}", completion)
    assert result.value == 1.0, dict(result.details)


def test_chat_message_completion(verifier):
    messages = [
        {"role": "user", "content": "What is 1/2 + 1/2? Put it in \\boxed{}."},
        {"role": "assistant", "content": "It is $\\boxed{1}$."},
    ]
    assert score(verifier, "1", messages).value == 1.0
    assert score(verifier, "2", messages).value == 0.0


def test_extraction_priority_option():
    completion = "<answer>5</answer> and then \\boxed{6}"
    last = MathVerifier({"extraction_priority": ["answer_tag", "boxed"], "prefer_last": False})
    assert score(last, "5", completion).value == 1.0
    assert score(MathVerifier(), "6", completion).value == 1.0  # the answer written last wins
    csv = MathVerifier({"extraction_priority": "boxed"})
    assert csv.options.extraction_priority == ("boxed",)


def test_after_think_option():
    v = MathVerifier({"after_think": True})
    assert score(v, "4", "<think>maybe \\boxed{4}</think> The answer is \\boxed{5}").value == 0.0
    assert score(v, "5", "<think>maybe \\boxed{4}</think> The answer is \\boxed{5}").value == 1.0
    unfinished = score(v, "4", "<think>maybe \\boxed{4} and I keep thinking")
    assert unfinished.value == 0.0 and unfinished.details["reason"] == "no answer found"


@pytest.mark.parametrize(
    ("priority", "completion"),
    [
        (["answer_tag"], "</think></answer></think><answer>2"),
        (["answer_tag"], "<answer>1</answer> wait, no: <answer>2"),
        (["answer_tag", "boxed"], "<answer>\\boxed{2}"),
        (["boxed"], "The final answer is $\\boxed{2"),
        (["boxed", "final_answer", "fallback"], "So $x = 2$. The final answer is \\boxed{2"),
        (["boxed"], "First \\boxed{2} then I doubt it: \\boxed{\\frac{2"),
        (["final_answer", "fallback"], "The answer is \\boxed{2"),
        (["boxed", "answer_tag", "final_answer", "fallback"], "x = 2 so <answer>2"),
    ],
)
def test_answer_cut_at_the_length_limit_earns_nothing(priority, completion):
    """A completion cut inside its answer ("<answer>2" of "<answer>25") never earns reward."""
    result = score(MathVerifier({"extraction_priority": priority}), "2", completion)
    assert result.status is Status.OK and result.value == 0.0
    assert "cut off" in result.details["reason"]


def test_truncated_answer_option_allows_it():
    allow = {"allow_truncated_answer": True}
    tag = MathVerifier({"extraction_priority": ["answer_tag"], **allow})
    assert score(tag, "2", "</think></answer></think><answer>2").value == 1.0
    assert score(tag, "3", "</think></answer></think><answer>2").value == 0.0
    box = MathVerifier({"extraction_priority": ["boxed"], **allow})
    assert score(box, "\\frac{1}{2}", "so \\boxed{\\frac{1}{2}").value == 1.0  # only the box is open
    assert score(box, "\\frac{1}{2}", "so \\boxed{\\frac{1}{2").value == 0.0  # the fraction is too
    assert score(box, "2", "so \\boxed{2").value == 1.0


def test_closed_answers_next_to_stray_open_ones_still_count():
    # a complete box after an unclosed one, and a tag closed after a later-looking '<answer>' mention
    v = MathVerifier({"extraction_priority": ["answer_tag", "boxed"]})
    assert score(v, "2", "\\boxed{ oops. Final: \\boxed{2}").value == 1.0
    assert score(v, "2", "<answer>2</answer>").value == 1.0
    boxed_only = MathVerifier({"extraction_priority": ["boxed"]})
    assert score(boxed_only, "2", "I use <answer> tags rarely. \\boxed{2}").value == 1.0


def test_missing_answer_option(verifier):
    assert score(verifier, "4", "I do not know.").value == 0.0
    na = MathVerifier({"missing_answer": "not_applicable", "extraction_priority": ["boxed"]})
    result = score(na, "4", "I do not know.")
    assert result.status is Status.NOT_APPLICABLE and result.value is None


# -- reward hacking ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "completion",
    [
        "\\boxed{2 \\text{ or } 3}",
        "\\boxed{2 or 3}",
        "\\boxed{2, 3}",
        "\\boxed{2} \\boxed{3}",
        "It is either \\boxed{2} or \\boxed{3}.",
        "\\boxed{\\pm 2}",
    ],
)
def test_hedges_score_zero(verifier, completion):
    assert score(verifier, "2", completion).value == 0.0


def test_alternatives_that_all_equal_the_gold_are_no_hedge(verifier):
    assert score(verifier, "\\frac{1}{2}", "\\boxed{\\frac{1}{2} \\text{ or } 0.5}").value == 1.0
    assert score(verifier, "\\frac{1}{2}", "\\boxed{\\frac{1}{2} \\text{ or } 0.6}").value == 0.0
    assert score(verifier, "2", "\\boxed{2 \\lor 3}").value == 0.0


def test_several_answers_fine_when_gold_is_a_list(verifier):
    assert score(verifier, "2, 3", "\\boxed{2} and \\boxed{3}").value == 1.0
    assert score(verifier, "2, 3", "\\boxed{3 \\text{ or } 2}").value == 1.0


def test_partial_credit_for_lists():
    completion = "\\boxed{1, 2, 5}"
    assert score(MathVerifier(), "1, 2, 3", completion).value == 0.0
    partial = MathVerifier({"list_partial_credit": True})
    assert score(partial, "1, 2, 3", completion).value == pytest.approx(2 / 3)


def test_copying_the_problem_back_is_no_answer(verifier):
    prompt = "Simplify $\\frac{x^2-1}{x-1}$."
    copied = score(verifier, "x+1", "\\boxed{\\frac{x^2-1}{x-1}}", prompt=prompt)
    assert copied.value == 0.0 and "copied" in copied.details["reason"]
    assert score(verifier, "x+1", "\\boxed{x+1}", prompt=prompt).value == 1.0
    # a number that happens to appear in the prompt is fine
    assert score(verifier, "12", "\\boxed{12}", prompt="A box holds 12 eggs. How many?").value == 1.0


# b18 (issue 14, written before the fix): a name or word the question offers is an answer, not a copy
RACE = "Alice, Bob and Evelyn ran a race. Who won?"
CAPITAL = "Which city, Paris or Rome, is the capital of Italy?"
PARITY = "Is the function even, odd, or neither?"
DAYS = "Which is later in the week, \\text{Monday} or \\text{Friday}? Answer with the day."
PROMPT_COPY_CASES = [
    (RACE, "\\text{Evelyn}", "Evelyn", True),
    (RACE, "Evelyn", "\\text{Evelyn}", True),
    (RACE, "Evelyn", "\\text{Bob}", False),
    (CAPITAL, "Rome", "\\text{Rome}", True),
    (CAPITAL, "Rome", "\\text{Paris}", False),
    (PARITY, "\\text{odd}", "odd", True),
    (PARITY, "\\text{odd}", "\\text{neither}", False),
    ("Compute \\frac{3}{4}+\\frac{1}{8}.", "\\frac{7}{8}", "\\frac{3}{4}+\\frac{1}{8}", False),
    ("Simplify \\sqrt{x^2} for x<0.", "-x", "\\sqrt{x^2}", False),
    (DAYS, "Friday", "\\text{Friday}", True),
    ("Expand (x+1)(x+2).", "x^2+3x+2", "(x+1)(x+2)", False),
    (
        "Name the polygon with five sides: square, pentagon, hexagon?",
        "\\text{pentagon}",
        "\\text{Pentagon}",
        True,
    ),
]


@pytest.mark.parametrize(("prompt", "gold", "pred", "equivalent"), PROMPT_COPY_CASES)
def test_prompt_copy_guard_spares_names_the_question_offers(verifier, prompt, gold, pred, equivalent):
    assert (score(verifier, gold, boxed(pred), prompt=prompt).value == 1.0) is equivalent


@pytest.mark.parametrize("completion", ["", "   ", "\\boxed{}", "asdkjh qwe zzz", "\\boxed{\\frac{}{}}"])
def test_empty_or_garbage_scores_zero(verifier, completion):
    result = score(verifier, "5", completion)
    assert result.status is Status.OK and result.value == 0.0


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        ("$\\frac{1}{2}$", "0.5", True),
        ("\\boxed{\\frac{1}{2}}", "0.5", True),
        ("The answer is $\\frac{1}{2}$.", "0.5", True),
        ("Therefore the answer is 12 apples.", "12", True),
        ("Therefore the answer is 12 apples.", "13", False),
        ("We compute $3+4=7$, so the answer is $\\boxed{7}$. Done.", "7", True),
        ("1,000,000", "10^6", True),
        ("\\$1,000", "1000", True),
        ("3:1", "3:1", True),
        ("x = 3 \\text{ or } x = -3", "-3, 3", True),
        ("x = 3 \\text{ or } x = -3", "3", False),
        (
            "\\text{The midpoints form a regular hexagon}",
            "\\text{the midpoints form a regular hexagon}",
            True,
        ),
    ],
)
def test_gold_forms(verifier, gold, pred, expected):
    result = score(verifier, gold, boxed(pred))
    assert result.status is Status.OK and (result.value == 1.0) is expected, dict(result.details)


@pytest.mark.parametrize("gold", ["", "   ", "\\frac{", "\\boxed{5^{5^{5^{5^5}}}}"])
def test_unparseable_gold_is_invalid_input(verifier, gold):
    result = score(verifier, gold, "\\boxed{5}")
    assert result.status is Status.INVALID_INPUT and result.value is None


# -- cache key -----------------------------------------------------------------------------------------
def test_cache_key_groups_identical_answers(verifier):
    a = Sample({"completion": "long reasoning A ... \\boxed{\\dfrac{1}{2}}", "answer": "1/2"})
    b = Sample({"completion": "other words B ... $\\boxed{ \\frac{1}{2} }$.", "answer": "1/2"})
    c = Sample({"completion": "\\boxed{\\frac{1}{3}}", "answer": "1/2"})
    d = Sample({"completion": "\\boxed{\\frac{1}{2}}", "answer": "1/3"})
    assert verifier.cache_key(a) == verifier.cache_key(b)
    assert len({verifier.cache_key(a), verifier.cache_key(c), verifier.cache_key(d)}) == 3
    # separators that change the meaning are kept apart
    e = Sample({"completion": "\\boxed{32,\\! 349}", "answer": "32349"})
    f = Sample({"completion": "\\boxed{32, 349}", "answer": "32349"})
    assert verifier.cache_key(e) != verifier.cache_key(f)
    assert score(verifier, "32349", e["completion"]).value == 1.0
    assert score(verifier, "32349", f["completion"]).value == 0.0


def test_verifier_metadata():
    assert MathVerifier.name == "math"
    assert MathVerifier.columns == ("answer",)
    assert MathVerifier.isolation.value == "process"
    with pytest.raises(ValidationError):
        MathVerifier({"missing_answer": "maybe"})
    with pytest.raises(ValidationError):
        MathVerifier({"no_such_option": 1})


def test_tolerance_option_bounds_irrational_approximations():
    # sqrt(2) = 1.41421356...: "1.414" is correctly rounded, relative error 1.5e-4
    assert score(MathVerifier(), "\\sqrt{2}", boxed("1.414")).value == 0.0
    assert score(MathVerifier(), "\\sqrt{2}", boxed("1.4142135624")).value == 1.0
    assert score(MathVerifier({"tolerance": 1e-3}), "\\sqrt{2}", boxed("1.414")).value == 1.0
    assert score(MathVerifier({"tolerance": 1e-5}), "\\sqrt{2}", boxed("1.414")).value == 0.0
    assert score(MathVerifier({"tolerance": 1e-3}), "\\sqrt{2}", boxed("1.415")).value == 0.0
    # exact integers and rationals never pass on tolerance, whatever it is
    assert score(MathVerifier({"tolerance": 0.1}), "3", boxed("3.01")).value == 0.0
    assert score(MathVerifier({"tolerance": 0.1}), "\\frac{2}{3}", boxed("0.667")).value == 0.0
