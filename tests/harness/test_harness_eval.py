"""grpo eval: the unbiased pass@k estimator, scoring of generated samples, real generation."""

from __future__ import annotations

import json
import math
import os
from itertools import combinations

import pytest

from grpo_core.errors import ConfigError
from harness import evaluate as evaluate_module
from harness.config import load_config
from harness.evaluate import evaluate, pass_at_k

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    """Fraction of k-subsets of n samples (c correct) containing at least one correct sample."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(combinations(range(n), k))
    return sum(any(samples[i] for i in subset) for subset in subsets) / len(subsets)


@pytest.mark.parametrize(
    "n,c,k", [(5, 0, 1), (5, 5, 3), (4, 1, 1), (4, 1, 2), (10, 3, 5), (8, 2, 8), (6, 4, 3)]
)
def test_pass_at_k_matches_the_combinatorial_definition(n, c, k):
    assert math.isclose(pass_at_k(n, c, k), brute_force_pass_at_k(n, c, k), abs_tol=1e-12)


def test_pass_at_k_rejects_bad_arguments():
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from harness.data import load_rows, task_texts
    from harness.tiny import save_tiny

    config = load_config(None)
    train, evaluation = load_rows(config.data)
    path = tmp_path_factory.mktemp("tiny-model")
    save_tiny(path, task_texts(train + evaluation))
    return path


def test_eval_scores_samples_and_computes_pass_at_k(tiny_model_dir, tmp_path, monkeypatch):
    """Row i gets i correct completions out of 4: pass@k must follow the estimator exactly."""

    def fake_generate(model_path, prompts, n, max_new_tokens, temperature, batch_size, seed=0):
        outputs = []
        for i, _ in enumerate(prompts):
            good = "1</think><answer>{}</answer>"
            outputs.append([good if j < i else "1</think><answer>x</answer>" for j in range(n)])
        return outputs

    config = load_config(None)
    rows = evaluate_module.load_rows(config.data)[1][:5]
    monkeypatch.setattr(
        evaluate_module,
        "generate_transformers",
        lambda p, prompts, *a: [
            [c.format(row["answer"]) for c in out] for row, out in zip(rows, fake_generate(p, prompts, *a))
        ],
    )
    out = tmp_path / "scored.jsonl"
    summary = evaluate(
        config, tiny_model_dir, samples=4, ks=[1, 2, 4], limit=5, output=out, backend="transformers"
    )
    counts = [0, 1, 2, 3, 4]
    for k in (1, 2, 4):
        expected = sum(pass_at_k(4, c, k) for c in counts) / 5
        assert math.isclose(summary["pass_at_k"][f"pass@{k}"], expected), k
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(scored) == 20
    assert sum(r["correct"] for r in scored) == sum(counts)
    assert {"rewards", "reward", "status", "details"} <= set(scored[0])
    assert summary["metric"] == "math"


def test_eval_with_real_generation_on_a_run_dir_layout(tiny_model_dir, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run_dir / "final")
    summary = evaluate(load_config(None), run_dir, samples=2, ks=[1, 2], limit=3, backend="transformers")
    assert summary["rows"] == 3 and summary["samples_per_row"] == 2
    assert 0.0 <= summary["pass_at_k"]["pass@1"] <= summary["pass_at_k"]["pass@2"] <= 1.0
    assert set(summary["reward_means"]) == {"math", "format"}


def test_eval_errors(tiny_model_dir, tmp_path):
    config = load_config(None)
    with pytest.raises(ConfigError, match="between 1 and --samples"):
        evaluate(config, tiny_model_dir, samples=2, ks=[3])
    with pytest.raises(ConfigError, match="no model here"):
        evaluate(config, tmp_path, samples=2)
    with pytest.raises(ConfigError, match="no held-out rows"):
        evaluate(load_config(None, ["data.eval=null"]), tiny_model_dir, samples=2)
