"""`grpo train`'s one path: pre-flight catches bad values before any model, and --check only checks."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml
from typer.testing import CliRunner

import harness.train
from harness.cli import app

os.environ.setdefault("HF_HUB_OFFLINE", "1")
runner = CliRunner()


def run(*args):
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


@pytest.fixture
def no_processes(monkeypatch):
    """Any attempt to start a process (vLLM, accelerate, a trainer) fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"--check started a process: {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess, "Popen", refuse)


@pytest.mark.parametrize(
    "override, field",
    [
        ("trainer.max_steps=-5", "trainer.max_steps"),
        ("trainer.max_steps=0", "trainer.max_steps"),
        ("trainer.max_steps=abc", "trainer.max_steps"),
        ("trainer.per_device_train_batch_size=0", "trainer.per_device_train_batch_size"),
        ("trainer.learning_rate=fast", "trainer.learning_rate"),
        ("trainer.num_generations=1", "trainer.num_generations"),
        ("trainer.max_completion_length=0", "trainer.max_completion_length"),
        ("trainer.bf16=maybe", "trainer.bf16"),
    ],
)
def test_bad_trainer_values_exit_2_naming_the_field(override, field, tmp_path):
    code, out = run("train", "--check", "--set", override, "-o", str(tmp_path / "run"))
    assert code == 2, out
    assert field in out and "Traceback" not in out
    assert not (tmp_path / "run").exists()


def test_missing_model_dir_and_bad_hub_id(tmp_path):
    for value in (str(tmp_path / "no-such-model"), "./models/x", "a/b/c"):
        code, out = run("train", "--check", "--set", f"model={value}", "--set", "cold_start.steps=0")
        assert code == 2, out
        assert "model.name_or_path" in out and "no such directory" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = run("train", "--check", "--set", f"model={empty}", "--set", "cold_start.steps=0")
    assert code == 2 and "no config.json" in out


def test_reporter_without_its_package_exits_2(monkeypatch):
    real = harness.train._module_present
    monkeypatch.setattr(
        harness.train, "_module_present", lambda n: False if n.startswith("tensorboard") else real(n)
    )
    code, out = run("train", "--check", "--set", "trainer.report_to=tensorboard")
    assert code == 2 and "trainer.report_to" in out and "tensorboard" in out
    code, out = run("train", "--check", "--set", "trainer.report_to=[none]")
    assert code == 0, out


@pytest.mark.parametrize(
    "launch",
    [
        {"launch": {"num_processes": 2}},
        {"launch": {"accelerate_config": "examples/accelerate/zero2.yaml"}},
        {"vllm": {"mode": "server", "gpus": [0]}, "model": {"name_or_path": "Qwen/Qwen2.5-0.5B"}},
    ],
    ids=["num_processes", "accelerate_config", "vllm_server"],
)
def test_check_on_launcher_configs_starts_nothing(launch, tmp_path, monkeypatch, no_processes):
    monkeypatch.setattr(harness.train, "check_vllm_installed", lambda mode: None)  # as if vLLM were here
    data = yaml.safe_load((harness.train.Path("examples/tiny_cpu.yaml")).read_text())
    data.update(launch)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    earlier = tmp_path / "run"
    (earlier / "checkpoint-100").mkdir(parents=True)
    (earlier / "metrics.jsonl").write_text("{}\n")
    before = sorted(p.name for p in earlier.iterdir())
    code, out = run("train", str(path), "--check", "-o", str(earlier), "--resume")
    assert code == 0, out
    assert "pre-flight ok" in out and "launcher" in out
    assert sorted(p.name for p in earlier.iterdir()) == before  # nothing written, nothing deleted
    code, out = run("train", str(path), "--check", "-o", str(earlier))
    assert code == 2 and "--overwrite" in out  # a launcher config is refused like any other
    assert sorted(p.name for p in earlier.iterdir()) == before


def test_vllm_mode_without_vllm_exits_2(tmp_path, no_processes, monkeypatch):
    monkeypatch.setattr(harness.train, "_module_present", lambda n: n != "vllm")
    code, out = run("train", "--check", "--set", "vllm.mode=colocate", "-o", str(tmp_path / "r"))
    assert code == 2 and "vllm.mode" in out
    assert not (tmp_path / "r").exists()


def test_existing_run_dir_is_refused_unless_resume_or_overwrite(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("mine")
    code, out = run("train", "--check", "-o", str(run_dir))
    assert code == 0, out  # a directory without run outputs is fine
    (run_dir / "config.yaml").write_text("name: earlier\n")
    code, out = run("train", "--check", "-o", str(run_dir))
    assert code == 2
    for word in ("--output-dir", "--resume", "--overwrite", "config.yaml"):
        assert word in out, out
    code, out = run("train", "--check", "-o", str(run_dir), "--overwrite")
    assert code == 0, out
    assert (run_dir / "config.yaml").read_text() == "name: earlier\n"  # --check touched nothing
    code, out = run("train", "--check", "-o", str(run_dir), "--resume")
    assert code == 2 and "no checkpoint" in out
    code, out = run("train", "--check", "-o", str(run_dir), "--resume", "--overwrite")
    assert code == 2 and "contradict" in out


def test_clear_run_outputs_keeps_other_files(tmp_path):
    run_dir = tmp_path / "run"
    for name in ("final", "init", "checkpoint-2"):
        (run_dir / name).mkdir(parents=True)
    for name in ("metrics.jsonl", "errors.jsonl", "summary.json", "notes.txt"):
        (run_dir / name).write_text("x")
    harness.train.clear_run_outputs(run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["notes.txt"]
