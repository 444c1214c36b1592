"""The ``math`` verifier through the real Engine (process isolation) and the ``grpo`` CLI.

Adversarial inputs must each come back within the per-sample timeout plus one second, and the run
must go on scoring the ordinary samples around them correctly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from grpo_reward_math.adversarial import ADVERSARIAL_COMPLETIONS as ADVERSARIAL
from grpo_reward_math.adversarial import MUST_FINISH

from grpo_core.engine import Engine

TIMEOUT = 3.0
ROOT = Path(__file__).resolve().parents[3]
DEV = ROOT.parent / "shared" / "data" / "math_equivalence_dev.jsonl"
if not DEV.exists():  # the copy kept beside the tests
    DEV = Path(__file__).parent / "data" / "math_equivalence_dev.jsonl"


@pytest.fixture(scope="module")
def engine():
    with Engine([{"verifier": "math", "timeout": TIMEOUT}], workers=2) as eng:
        eng.score([{"prompt": "", "completion": "\\boxed{1}", "answer": "1"}])  # start the workers
        yield eng


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_input_returns_within_timeout(engine, name):
    row = {"prompt": "", "completion": ADVERSARIAL[name], "answer": "2"}
    started = time.perf_counter()
    result = engine.score([row])
    elapsed = time.perf_counter() - started
    score = result.scores["math"][0]
    assert elapsed <= TIMEOUT + 1.0, f"{name}: {elapsed:.2f}s"
    # never a reward, whatever happened
    assert score.value in (0.0, None), (name, score)
    assert score.status.value in ("ok", "timeout"), (name, score)


@pytest.mark.parametrize("name", MUST_FINISH)
def test_long_digit_runs_are_scored_not_killed(engine, name):
    score = engine.score([{"prompt": "", "completion": ADVERSARIAL[name], "answer": "2"}]).scores["math"][0]
    assert score.status.value == "ok" and score.value == 0.0, (name, score)


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_cache_key_is_cheap_on_adversarial_input(name):
    """cache_key runs in the engine's own process, where no wall-clock kill protects it."""
    from grpo_reward_math import MathVerifier

    from grpo_core.sample import Sample

    verifier = MathVerifier()
    sample = Sample({"prompt": ADVERSARIAL[name], "completion": ADVERSARIAL[name], "answer": "2"})
    started = time.perf_counter()
    key = verifier.cache_key(sample)
    assert time.perf_counter() - started <= TIMEOUT + 1.0
    hash(key)
    assert len(repr(key)) < 5000


def test_batch_with_adversarial_rows_goes_on(engine):
    good = [
        {"prompt": "", "completion": "so \\boxed{\\frac{1}{2}}", "answer": "0.5"},
        {"prompt": "", "completion": "so \\boxed{3}", "answer": "4"},
        {"prompt": "", "completion": "\\boxed{(1,2),(3,4)}", "answer": "(3,4),(1,2)"},
    ]
    bad = [{"prompt": "", "completion": c, "answer": "2"} for c in ADVERSARIAL.values()]
    rows = bad[:5] + good + bad[5:]
    started = time.perf_counter()
    result = engine.score(rows)
    elapsed = time.perf_counter() - started
    values = result.values("math")
    assert values[5:8] == [1.0, 0.0, 1.0]
    assert all(v in (0.0, None) for v in values[:5] + values[8:])
    # the whole batch is bounded too (two workers, every sample capped)
    assert elapsed <= len(rows) * (TIMEOUT + 1.0) / 2 + 5
    # and the engine still works afterwards
    again = engine.score([{"prompt": "", "completion": "\\boxed{7}", "answer": "7"}])
    assert again.values("math") == [1.0]


def test_group_repeats_are_scored_once(engine):
    rows = [
        {"prompt": "", "completion": f"attempt {i}: \\boxed{{\\frac{{{i % 2 + 1}}}{{3}}}}", "answer": "1/3"}
        for i in range(16)
    ]
    result = engine.score(rows)
    assert result.values("math") == [1.0 if i % 2 == 0 else 0.0 for i in range(16)]
    metrics = result.metrics["math"].summary()
    assert metrics["cache_hits"] >= 14


def _grpo() -> str:
    return str(Path(sys.executable).with_name("grpo"))


def test_plugin_is_listed():
    out = subprocess.run([_grpo(), "plugins", "--json"], capture_output=True, text=True, check=True).stdout
    plugins = json.loads(out)
    entries = plugins if isinstance(plugins, list) else plugins.get("plugins", [])
    math = [p for p in entries if p.get("name") == "math"]
    assert math, out[:500]
    assert math[0]["distribution"] == "grpo-reward-math"
    assert "math" in json.dumps(math[0]["verifiers"])


@pytest.mark.skipif(not DEV.exists(), reason="shared dev set not present")
def test_dev_set_through_grpo_score(tmp_path):
    rows = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    src = tmp_path / "dev.jsonl"
    src.write_text(
        "".join(json.dumps({"completion": r["prediction"], "answer": r["answer"]}) + "\n" for r in rows)
    )
    out = tmp_path / "scored.jsonl"
    subprocess.run(
        [_grpo(), "score", str(src), "--reward", "math", "-o", str(out), "--timeout", "10"],
        check=True,
        capture_output=True,
    )
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    wrong = [
        (r["answer"][:40], r["prediction"][-60:])
        for r, s in zip(rows, scored)
        if (s["rewards"]["math"] == 1.0) != r["equivalent"]
    ]
    assert len(scored) == len(rows) == 248
    assert not wrong, wrong


def test_registering_the_plugin_imports_no_sympy():
    code = (
        "import sys, grpo_reward_math; from grpo_core.plugins import get_registry; get_registry(); "
        "print(sorted(m for m in ('sympy', 'math_verify', 'latex2sympy2_extended') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unparseable_gold_is_invalid_input_said_once(engine):
    score = engine.score([{"prompt": "", "completion": "\\boxed{1}", "answer": "\\frac{"}]).scores["math"][0]
    assert score.status.value == "invalid_input"
    assert score.details["reason"].count("could not be parsed") == 1, score.details
