"""`grpo train` with `prm` weighted beside `math`: a short real GRPOTrainer run on CPU."""

from __future__ import annotations

import json
import os

import yaml
from typer.testing import CliRunner

from harness.cli import app
from harness.defaults import TINY_CONFIG

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_grpo_train_with_prm_beside_math(tmp_path):
    from grpo_reward_prm.tiny import save_tiny_prm

    # The PRM's tokenizer knows the arithmetic task's words; its weights are random.
    corpus = ["what is 0 + 1 + 2 = 3 ? the answer is <answer> </answer> <think> </think>"]
    save_tiny_prm(tmp_path / "prm", corpus, "qwen_prm")
    config = yaml.safe_load(TINY_CONFIG)
    config["output_dir"] = str(tmp_path / "run")
    # 8 tokens cut most completions; the PRM must still score each one (no SFT stage, no final eval)
    config.update(truncated_completions="score", final_eval=False, cold_start={"steps": 0})
    config["data"]["size"] = 200
    config["rewards"] = [
        config["rewards"][0],  # math, weight 2
        {
            "verifier": "prm",
            "weight": 0.5,
            # the random policy rarely closes </think> in 8 tokens: score the whole completion
            "options": {"model": str(tmp_path / "prm"), "device": "cpu", "scope": "completion"},
        },
    ]
    config["trainer"].update(
        max_steps=3,
        per_device_train_batch_size=16,
        num_generations=4,
        logging_steps=1,
        max_completion_length=8,
    )
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))

    result = CliRunner().invoke(app, ["train", str(path)])
    assert result.exit_code == 0, result.output

    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "rewards/prm/mean" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    for row in steps:
        assert 0.0 <= row["rewards/prm/mean"] <= 1.0
        assert row["verifiers/prm/error_frac"] == 0.0 and row["verifiers/prm/timeout_frac"] == 0.0
        assert row["verifiers/prm/ok_frac"] > 0.5
        assert "rewards/math/mean" in row
    weights = json.loads((tmp_path / "run" / "grpo_config.json").read_text())["reward_weights"]
    assert weights == [2.0, 0.5]
