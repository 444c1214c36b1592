"""The language-consistency verifier: the labelled set's acceptance criteria, units, extraction,
options, hostile inputs, threads, no network, and `grpo score` as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from grpo_reward_language import LanguageVerifier
from grpo_reward_language.text import chain_of_thought, strip_non_linguistic
from grpo_reward_language.units import CHARS_PER_UNIT, HAN, HANGUL, KANA, words_of
from pydantic import ValidationError

from grpo_core import ConfigError, Engine, Sample, Status

DATA = Path(__file__).parent / "data"
LABELLED = [json.loads(line) for line in (DATA / "labelled.jsonl").read_text(encoding="utf-8").splitlines()]
PARALLEL = json.loads((DATA / "parallel.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def verifier():
    v = LanguageVerifier()
    v.setup()
    return v


def value(verifier, completion, target="en", **columns):
    return verifier.score(Sample(prompt="p", completion=completion, target_language=target, **columns)).value


def test_labelled_set_is_large_and_covers_every_category():
    categories = {row["category"] for row in LABELLED}
    assert len(LABELLED) >= 60
    assert categories == {
        "monolingual",
        "other_language",
        "latin_mix",
        "cjk_mix",
        "code_math",
        "short",
        "no_words",
    }
    assert {row["target_language"] for row in LABELLED if row["category"] == "monolingual"} == {
        "en", "zh", "ja", "ko", "fr", "de", "ru", "es",
    }  # fmt: skip


@pytest.mark.parametrize("row", LABELLED, ids=lambda r: f"{r['id']}-{r['category']}-{r['target_language']}")
def test_labelled_row_meets_its_criterion(verifier, row):
    result = verifier.score(Sample(row))
    got, expected = result.value, row["expected"]
    category = row["category"]
    if category == "no_words":
        assert result.status is Status.NOT_APPLICABLE and got is None
        return
    assert result.status is Status.OK, result.details
    if category in ("monolingual", "code_math"):
        assert got >= 0.9, result.details
    elif category == "other_language":
        assert got <= 0.1, result.details
    elif category == "latin_mix":
        assert abs(got - expected) <= 0.15, (got, expected, result.details)
    elif category == "short":
        assert abs(got - expected) <= 0.1, (got, expected, result.details)
    elif category == "cjk_mix":
        assert abs(got - expected) <= 0.15, (got, expected, result.details)


def test_cjk_latin_mixes_rise_steadily_with_the_targets_share(verifier):
    series: dict[str, list[tuple[float, float]]] = {}
    for row in LABELLED:
        if row["category"] == "cjk_mix":
            series.setdefault(row["series"], []).append((row["share"], verifier.score(Sample(row)).value))
    assert set(series) == {"en_zh", "zh_en", "ja_en"}
    for name, points in series.items():
        values = [v for _, v in sorted(points)]
        assert values[0] <= 0.1 and values[-1] >= 0.9, (name, values)
        assert all(b > a for a, b in zip(values, values[1:])), (name, values)


def test_cjk_weights_match_the_parallel_sentences():
    """A CJK sentence weighs about what its English translation does (within 10%)."""
    english = sum(len(words_of(s)) for s in PARALLEL["en"])
    for lang, scripts in (("zh", [HAN]), ("ja", [HAN, KANA]), ("ko", [HANGUL, HAN])):
        chars = sum(len(re.findall(f"[{letters}]", s)) for s in PARALLEL[lang] for letters in scripts)
        assert chars / CHARS_PER_UNIT[lang] == pytest.approx(english, rel=0.1), lang


def test_cjk_language_comes_from_the_sentences_script(verifier):
    assert (
        value(verifier, "これは漢字と仮名の文です。", "ja") == 1.0
    )  # Han inside a kana sentence is Japanese
    assert value(verifier, "这是一个只有汉字的句子。", "ja") == 0.0
    assert value(verifier, "이것은 한국어 문장입니다.", "ko") == 1.0
    assert value(verifier, "这是一个只有汉字的句子。", "zh") == 1.0


def test_chain_of_thought_extraction():
    assert chain_of_thought("<think>a</think><answer>b</answer>") == ("a", "think")
    assert chain_of_thought("<think>a</think>x<think>c</think>") == ("a\nc", "think")
    assert chain_of_thought("<think>truncated") == ("truncated", "think")
    assert chain_of_thought("prefilled</think><answer>b</answer>") == ("prefilled", "think")
    assert chain_of_thought("no tags") == ("no tags", "completion")
    assert chain_of_thought("<reason>r</reason>", tag="reason") == ("r", "think")


def test_answer_section_is_outside_the_cot_unless_scope_is_completion(verifier):
    answer = "<answer>答案是七，我们已经检查过了。</answer>"
    text = f"<think>We add the two numbers and check the result.</think>{answer}"
    assert value(verifier, text) == 1.0
    whole = LanguageVerifier({"scope": "completion"})
    assert 0.3 < value(whole, text) < 0.7


def test_code_math_urls_and_identifiers_are_not_words():
    cleaned = strip_non_linguistic(
        "See https://example.com/path and `np.array` or $\\frac{a}{b}$ then\n```\nprint('hello world')\n```\n"
        "\\[ x^2 \\] <b>bold</b> \\begin{align} y &= 2 \\end{align}\nresult = compute(x)\nend"
    )
    assert words_of(cleaned) == ["See", "and", "or", "then", "bold", "end"]
    assert words_of("x y_1 a1 getValue total_sum 42 3.5 well-known l'équation") == [
        "well-known",
        "l'équation",
    ]


def test_chat_messages_and_row_targets(verifier):
    messages = [{"role": "assistant", "content": "<think>Nous vérifions le calcul encore une fois.</think>"}]
    assert value(verifier, messages, "fr") == 1.0
    assert value(verifier, messages, "en") == 0.0
    no_column = LanguageVerifier({"target_language": "fr"}).score(Sample(prompt="p", completion=messages))
    assert no_column.value == 1.0 and no_column.details["target"] == "fr"


def test_bad_row_targets_are_invalid_input(verifier):
    for bad in ("xx", "english", 7, ["en"], ""):
        result = verifier.score(Sample(prompt="p", completion="Some words here.", target_language=bad))
        assert result.status is Status.INVALID_INPUT, bad
    assert value(verifier, "Some words in English here.", " EN ") == 1.0  # normalised


def test_options_are_validated_with_clear_messages():
    with pytest.raises(ValidationError, match="'xx' is not an ISO 639-1 code"):
        LanguageVerifier({"target_language": "xx"})
    for bad in ({"think_tag": "<think>"}, {"scope": "answer"}, {"min_words": 0}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            LanguageVerifier(bad)
    with pytest.raises(ConfigError, match=r"language.target_language: .*'klingon'"):
        Engine([{"verifier": "language", "options": {"target_language": "klingon"}}])


def test_hostile_texts_earn_nothing_they_should_not(verifier):
    chinese = "首先我们需要计算总数。然后检查结果是否正确。"
    # English in code blocks, URLs or markup does not count as English words ...
    hidden = f"<think>{chinese}```\nthe answer is clearly right\n```https://we.are/done/here</think>"
    assert value(verifier, hidden) == 0.0
    # ... but prose cannot hide from the target in math: \text{} arguments are words.
    prose = "we first add all the numbers and then we check every step again carefully"
    in_math = f"<think>好的。$\\text{{{prose}}}$ \\[ x = 1 \\text{{{prose}}} \\]</think>"
    assert value(verifier, in_math, "zh") < 0.1
    assert value(verifier, in_math, "en") > 0.9
    # Numbers, symbols and single letters alone are no language: not applicable, not a 1.0.
    for text in ("1 2 3 4 5 6 7 8 9", "x y z = a + b", "!!! ??? ...", "\u200b\u200b", "<think></think>"):
        assert verifier.score(Sample(prompt="p", completion=text, target_language="en")).value is None, text
    # Zero-width characters or soft hyphens inside words do not make them vanish.
    zero_width = "\u200b".join("we first add all the numbers and then check every step again")
    assert value(verifier, f"<think>好的。{zero_width}</think>", "zh") < 0.2
    soft = "we\u00adfirst add\u00adall the numbers and then check every step again"
    assert value(verifier, f"<think>好的。{soft}</think>", "zh") < 0.2
    # A long flood of non-target text with one target word stays near 0.
    flood = ("Это очень длинное рассуждение на русском языке. " * 200) + "Answer."
    assert value(verifier, flood) < 0.01
    # Large, unbalanced inputs stay linear-time and well-formed.
    for text in ("$" * 50_000, "```" + "a" * 50_000, "\\begin{x}" * 10_000, "`" * 50_001, "<" * 50_000):
        result = verifier.score(Sample(prompt="p", completion=text + " We check the sum again."))
        assert result.status in (Status.OK, Status.NOT_APPLICABLE)


def test_threads_give_the_sequential_results(verifier):
    samples = [Sample(row) for row in LABELLED] * 4
    sequential = [verifier.score(s).value for s in samples]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda s: LanguageVerifier().score(s).value, samples))
    assert threaded == sequential


def test_scores_without_any_network_access(tmp_path):
    """A fresh process with sockets disabled loads the bundled model and scores."""
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n    raise OSError('network used')\n"
        "socket.socket.connect = refuse\nsocket.create_connection = refuse\nsocket.getaddrinfo = refuse\n"
        "from grpo_reward_language import LanguageVerifier\nfrom grpo_core import Sample\n"
        "v = LanguageVerifier(); v.setup()\n"
        "row = Sample(completion='Wir prüfen das Ergebnis noch einmal.', target_language='de')\n"
        "print(v.score(row).value)\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1.0"
    assert list(tmp_path.iterdir()) == []  # nothing downloaded or cached


def test_grpo_score_on_the_labelled_set(tmp_path):
    grpo = Path(sys.executable).parent / "grpo"
    out = tmp_path / "scored.jsonl"
    summary = tmp_path / "summary.json"
    run = subprocess.run(
        [str(grpo), "score", str(DATA / "labelled.jsonl"), "--reward", "language", "-o", str(out),
         "--summary-json", str(summary)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    scored = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(scored) == len(LABELLED)
    by_status = {}
    for row in scored:
        by_status[row["status"]["language"]] = by_status.get(row["status"]["language"], 0) + 1
    assert by_status == {"ok": len(LABELLED) - 5, "not_applicable": 5}
    monolingual = [r["rewards"]["language"] for r in scored if r["category"] == "monolingual"]
    assert min(monolingual) >= 0.9
