"""The train/eval/sweep/doctor verbs: exit code 2 with a clear message for user errors."""

from __future__ import annotations

import json
import os

import yaml
from typer.testing import CliRunner

from harness.cli import app

os.environ.setdefault("HF_HUB_OFFLINE", "1")
runner = CliRunner()


def run(*args):
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def test_train_bad_trainer_key_exits_2():
    code, out = run("train", "--set", "trainer.lerning_rate=1")
    assert code == 2
    assert "trainer.lerning_rate" in out and "learning_rate" in out


def test_train_unknown_verifier_lists_installed(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"rewards": [{"verifier": "nope"}]}))
    code, out = run("train", str(path), "--check")
    assert code == 2
    assert "unknown verifier 'nope'" in out and "format" in out and "math" in out


def test_train_bad_option_value_exits_2():
    code, out = run("train", "--set", "rewards.1.options.mode=loose", "--check")
    assert code == 2 and "format.mode" in out


def test_train_check_and_show_config(tmp_path):
    code, out = run("train", "--check", "-o", str(tmp_path / "r"))
    assert code == 0, out
    assert "pre-flight ok" in out and "math" in out
    assert not (tmp_path / "r").exists()
    code, out = run("train", "--show-config", "--set", "trainer.max_steps=7")
    assert code == 0
    shown = yaml.safe_load(out)
    assert shown["trainer"]["max_steps"] == 7 and shown["rewards"][0]["verifier"] == "math"


def test_eval_and_sweep_usage_errors(tmp_path):
    code, out = run("eval", "--model", str(tmp_path), "--samples", "2", "--k", "5")
    assert code == 2 and "between 1 and --samples" in out
    code, out = run("sweep", "--grid", "trainer.beta", "--dry-run")
    assert code == 2 and "expected key.path=value1,value2" in out


def test_doctor_json():
    code, out = run("doctor", "--json")
    data = json.loads(out)
    names = {check["name"] for check in data["checks"]}
    assert {"python", "torch", "trl", "transformers", "accelerate", "vllm", "deepspeed", "cuda"} <= names
    assert any(name.startswith("plugin ") for name in names)
    assert code == (0 if data["ok"] else 1)
