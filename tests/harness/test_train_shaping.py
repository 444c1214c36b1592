"""A short real `grpo train` run with the shaping rewards beside `math` and `format`.

`length` reads `math`'s result for each completion through the engine's verifier dependencies, and
`overlong`/`length` count tokens from the trainer's `completion_ids`: a run where they could not
would log error or invalid_input fractions above zero.
"""

from __future__ import annotations

import json
import os

import pytest
from rich.console import Console

from harness.config import load_config
from harness.train import read_metrics, train

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHAPING = ("overlong", "repetition", "length", "reasoning_steps")
REWARDS = (
    "rewards=["
    "{verifier: math, weight: 2.0, options: {extraction_priority: [answer_tag]}, timeout: 30},"
    "{verifier: format, weight: 1.0, options: {mode: soft, think_prefilled: true}},"
    "{verifier: overlong, weight: 0.5, options: {max_length: 8, buffer: 4}},"
    "{verifier: repetition, weight: 0.5, options: {ngram_size: 2, unit: tokens}},"
    "{verifier: length, weight: 0.5, options: {correctness: math, max_length: 8}},"
    "{verifier: reasoning_steps, weight: 0.1, options: {pattern: '[+=]', target_steps: 2}}"
    "]"
)


def test_shaping_rewards_train_beside_math(tmp_path):
    config = load_config(
        None,
        [
            REWARDS,
            f"output_dir={tmp_path / 'run'}",
            "data.size=200",
            "trainer.max_steps=4",
            "trainer.logging_steps=1",
            "trainer.per_device_train_batch_size=32",
            "trainer.num_generations=8",
        ],
    )
    summary = train(config, console=Console(file=open(os.devnull, "w"), width=120))  # noqa: SIM115
    assert summary["steps"] == 4
    run_dir = tmp_path / "run"
    rows = [r for r in read_metrics(run_dir / "metrics.jsonl") if "reward" in r]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for row in rows:
        for name in ("math", "format", *SHAPING):
            assert f"rewards/{name}/mean" in row, (name, sorted(row))
        for name in ("overlong", "repetition", "reasoning_steps"):
            assert row[f"verifiers/{name}/ok_frac"] == 1.0, (name, row)  # ids reached them
        # `length` has a value exactly where `math` has one (its status follows math's).
        m = {
            k: row[f"verifiers/math/{k}_frac"]
            for k in ("ok", "timeout", "error", "not_applicable", "invalid_input")
        }
        assert row["verifiers/length/ok_frac"] == m["ok"]
        assert row["verifiers/length/error_frac"] == pytest.approx(m["timeout"] + m["error"])
        assert row["verifiers/length/not_applicable_frac"] == pytest.approx(
            m["not_applicable"] + m["invalid_input"]
        )
        assert row["verifiers/length/invalid_input_frac"] == 0.0
        assert -1.0 <= row["rewards/overlong/mean"] <= 0.0
        assert -1.0 <= row["rewards/repetition/mean"] <= 0.0
        assert -1.0 <= row["rewards/length/mean"] <= 1.0
        assert 0.0 <= row["rewards/reasoning_steps/mean"] <= 1.0
    weights = json.loads((run_dir / "grpo_config.json").read_text())["reward_weights"]
    assert weights == [2.0, 1.0, 0.5, 0.5, 0.5, 0.1]
