"""The shipped examples validate: run configs, accelerate configs, the Slurm script's syntax."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.config import load_config
from harness.defaults import TINY_CONFIG

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_run_configs_validate(path):
    config = load_config(path)
    assert config.rewards
    if config.launch.accelerate_config:
        assert (EXAMPLES.parent / config.launch.accelerate_config).is_file()


def test_tiny_example_is_the_embedded_default():
    assert (EXAMPLES / "tiny_cpu.yaml").read_text() == TINY_CONFIG


@pytest.mark.parametrize("name", ["zero2.yaml", "zero3.yaml", "fsdp2.yaml"])
def test_accelerate_configs_parse(name):
    data = yaml.safe_load((EXAMPLES / "accelerate" / name).read_text())
    assert data["distributed_type"] in {"DEEPSPEED", "FSDP"}
    if data["distributed_type"] == "DEEPSPEED":
        assert data["deepspeed_config"]["zero_stage"] in {2, 3}
    else:
        assert data["fsdp_config"]["fsdp_version"] == 2


def test_slurm_script_is_valid_bash():
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    script = EXAMPLES / "slurm" / "grpo_vllm_multinode.sbatch"
    subprocess.run([bash, "-n", str(script)], check=True)
