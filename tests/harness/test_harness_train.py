"""Real tiny GRPOTrainer runs on CPU with the math and format plugins: learning, outputs, resume."""

from __future__ import annotations

import json
import os

import pytest
from rich.console import Console

from grpo_core.errors import ConfigError
from harness.config import load_config
from harness.train import last_checkpoint, preflight, read_metrics, run_training, train

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def quiet_console():
    return Console(file=open(os.devnull, "w"), width=120)  # noqa: SIM115


def test_preflight_fails_before_any_model_on_missing_column(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"question": "1+1"}) + "\n")
    config = load_config(None, ["data.source=jsonl", f"data.path={path}", f"output_dir={tmp_path / 'run'}"])
    with pytest.raises(Exception, match="lacks column 'answer', which verifier 'math' needs"):
        preflight(config)
    assert not (tmp_path / "run").exists()


def test_preflight_reports_bad_verifier_options_and_batch_sizes(tmp_path):
    with pytest.raises(ConfigError, match="format.mode"):
        preflight(load_config(None, ["rewards.1.options.mode=loose"]))
    with pytest.raises(ConfigError, match="divisible by num_generations"):
        preflight(load_config(None, ["trainer.num_generations=7"]))
    with pytest.raises(ConfigError, match=r"1 training row\(s\), but one generation batch needs 4 prompts"):
        preflight(load_config(None, ["data.size=65"]))


def test_tiny_run_learns_with_math_and_format(tmp_path):
    """The embedded default, shortened: the weighted reward must clearly rise (fixed seed)."""
    config = load_config(
        None,
        [f"output_dir={tmp_path / 'run'}", "trainer.max_steps=120", "trainer.logging_steps=10"],
    )
    summary = train(config, console=quiet_console())
    run_dir = tmp_path / "run"
    rows = [r for r in read_metrics(run_dir / "metrics.jsonl") if "reward" in r]
    assert [r["step"] for r in rows] == list(range(10, 121, 10))
    assert {"rewards/math/mean", "rewards/format/mean", "verifiers/math/ok_frac"} <= set(rows[0])
    first = sum(r["reward"] for r in rows[:2]) / 2
    last = sum(r["reward"] for r in rows[-2:]) / 2
    assert last > first + 0.5, (first, last)
    for name in ("math", "format"):  # both verifiers contribute to the rise
        early = sum(r[f"rewards/{name}/mean"] for r in rows[:2]) / 2
        late = sum(r[f"rewards/{name}/mean"] for r in rows[-2:]) / 2
        assert late > early + 0.05, (name, early, late)
    assert summary["last"]["reward"] > summary["first"]["reward"]
    assert (run_dir / "final" / "model.safetensors").is_file()
    assert (run_dir / "final" / "tokenizer.json").is_file()
    assert (run_dir / "reward_curves.png").read_bytes()[:4] == b"\x89PNG"
    used = (run_dir / "config.yaml").read_text()
    assert "max_steps: 120" in used and "verifier: math" in used
    assert json.loads((run_dir / "grpo_config.json").read_text())["reward_weights"] == [2.0, 1.0]


def test_resume_continues_from_the_last_checkpoint(tmp_path):
    common = [
        f"output_dir={tmp_path / 'run'}",
        "data.size=200",
        "trainer.logging_steps=1",
        "trainer.save_strategy=steps",
        "trainer.save_steps=2",
    ]
    with pytest.raises(ConfigError, match="no checkpoint"):
        train(load_config(None, [*common, "trainer.max_steps=2"]), resume=True, console=quiet_console())
    train(load_config(None, [*common, "trainer.max_steps=4"]), console=quiet_console())
    assert last_checkpoint(tmp_path / "run").name == "checkpoint-4"
    prepared = preflight(load_config(None, [*common, "trainer.max_steps=6"]))
    run_training(prepared, resume=True, console=quiet_console())
    steps = [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "reward" in r]
    assert steps == [1, 2, 3, 4, 5, 6]  # a restart would have logged 1..6 again
    state = json.loads((tmp_path / "run" / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6


def test_lora_run_saves_an_adapter(tmp_path):
    config = load_config(
        None,
        [
            f"output_dir={tmp_path / 'run'}",
            "trainer.max_steps=2",
            "data.size=200",
            "model.lora={r: 4, alpha: 8, dropout: 0.0}",
        ],
    )
    summary = train(config, console=quiet_console())
    assert summary["steps"] == 2
    assert (tmp_path / "run" / "final" / "adapter_config.json").is_file()
