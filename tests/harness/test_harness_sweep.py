"""grpo sweep: the grid plan, --dry-run, and a real sweep of 2 tiny runs with a summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from grpo_core.errors import ConfigError
from harness.sweep import parse_grid, plan

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TINY = ["trainer.max_steps=3", "trainer.logging_steps=1", "data.size=64", "data.eval.size=8"]


def test_parse_grid_and_plan_is_a_cartesian_product(tmp_path):
    assert parse_grid(["trainer.beta=0,0.04"]) == [("trainer.beta", [0, 0.04])]
    name, root, runs = plan(
        None, ["trainer.beta=0,0.04", "trainer.temperature=0.7,1.0"], [f"output_dir={tmp_path}/base"], "s"
    )
    assert name == "s" and root == tmp_path / "s"
    assert [r.name for r in runs] == [
        "beta0-temperature0.7",
        "beta0-temperature1.0",
        "beta0.04-temperature0.7",
        "beta0.04-temperature1.0",
    ]
    assert runs[1].overrides == ["trainer.beta=0", "trainer.temperature=1.0"]
    assert runs[1].run_dir == tmp_path / "s" / "beta0-temperature1.0"


def test_grid_errors_fail_before_running():
    with pytest.raises(ConfigError, match="expected key.path=value1,value2"):
        parse_grid(["trainer.beta"])
    with pytest.raises(ConfigError, match="not a field of TRL's GRPOConfig"):
        plan(None, ["trainer.bta=0,1"])
    with pytest.raises(ConfigError, match="vllm.mode"):
        plan(None, ["vllm.mode=off,remote"])


def test_dry_run_prints_one_command_per_run(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "sweep",
            "--grid",
            "trainer.beta=0,0.04",
            "--dry-run",
            "--set",
            f"output_dir={tmp_path}/x",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 2
    assert "--set trainer.beta=0 " in lines[0] and "--set trainer.beta=0.04 " in lines[1]
    assert not (tmp_path / "tiny-sweep").exists()


def test_sweep_of_two_real_runs(tmp_path):
    sets = [arg for s in TINY for arg in ("--set", s)]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "sweep",
            "--grid",
            "trainer.learning_rate=1e-3,3e-3",
            *sets,
            "--name",
            "lr",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    root = tmp_path / "runs" / "lr"
    summary = json.loads((root / "sweep_summary.json").read_text())
    assert [r["name"] for r in summary["runs"]] == ["learning_rate0.001", "learning_rate0.003"]
    for run in summary["runs"]:
        assert run["exit_code"] == 0 and run["steps"] == 3 and run["final_reward"] is not None
        assert (tmp_path / run["run_dir"] / "final" / "model.safetensors").is_file()
    assert (root / "sweep_rewards.png").read_bytes()[:4] == b"\x89PNG"
    assert "final reward" in proc.stdout
