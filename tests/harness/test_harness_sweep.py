"""grpo sweep: the grid plan, --dry-run, and a real sweep of 2 tiny runs with a summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from grpo_core.errors import ConfigError
from harness.sweep import last_error_line, parse_grid, plan
from harness.sweep_devices import slot_environments

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
    assert [r.beta for r in runs] == [0, 0, 0.04, 0.04]


def test_existing_run_dirs_are_refused_without_overwrite(tmp_path):
    (tmp_path / "s" / "beta0").mkdir(parents=True)
    with pytest.raises(ConfigError, match="--overwrite"):
        plan(None, ["trainer.beta=0,0.04"], [f"output_dir={tmp_path}/base"], "s")
    _, _, runs = plan(None, ["trainer.beta=0,0.04"], [f"output_dir={tmp_path}/base"], "s", overwrite=True)
    assert all(r.command[-1] == "--overwrite" for r in runs)


def test_slots_get_disjoint_gpus_or_a_share_of_the_cores():
    slots = slot_environments(4, 2, gpus=[str(i) for i in range(8)])
    assert [s["CUDA_VISIBLE_DEVICES"] for s in slots] == ["0,1", "2,3", "4,5", "6,7"]
    assert [s["CUDA_VISIBLE_DEVICES"] for s in slot_environments(2, None, gpus=["3", "5", "7"])] == ["3", "5"]
    with pytest.raises(ConfigError, match="needs 6 GPUs, 4 visible"):
        slot_environments(3, 2, gpus=["0", "1", "2", "3"])
    with pytest.raises(ConfigError, match="runs would share GPUs"):
        slot_environments(4, None, gpus=["0", "1"])
    cpu = slot_environments(2, None, gpus=[], cores=8)
    assert cpu == [{"OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "4", "OPENBLAS_NUM_THREADS": "4"}] * 2
    assert slot_environments(3, 0, gpus=["0"], cores=2)[0] == {
        "CUDA_VISIBLE_DEVICES": "",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    assert slot_environments(1, None, gpus=[], cores=8) == [{}]
    with pytest.raises(ConfigError, match="--parallel 0"):
        slot_environments(0)


def test_last_error_line_names_the_failure(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("step 1\nTraceback (most recent call last):\n  File x\nOSError: no model at /x\n\n")
    assert last_error_line(log) == "OSError: no model at /x"
    log.write_text("\x1b[1;31merror:\x1b[0m model.name_or_path: no such directory\n")
    assert last_error_line(log) == "error: model.name_or_path: no such directory"
    assert last_error_line(tmp_path / "missing.log") is None


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


def _sweep(tmp_path, *args, timeout=900):
    sets = [arg for s in TINY for arg in ("--set", s)]
    return subprocess.run(
        [sys.executable, "-m", "harness", "sweep", *args, *sets],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=timeout,
    )


def test_parallel_sweep_logs_each_run_evaluates_and_names_a_failure(tmp_path):
    proc = _sweep(
        tmp_path,
        "--grid",
        f"model.name_or_path=tiny,{tmp_path}/no-such-model",
        "--parallel",
        "2",
        "--eval",
        "--eval-samples",
        "2",
        "--name",
        "m",
        "--set",
        "trainer.beta=0",
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    root = tmp_path / "runs" / "m"
    summary = json.loads((root / "sweep_summary.json").read_text())
    good, bad = summary["runs"]
    assert good["exit_code"] == 0 and good["steps"] == 3 and good["error"] is None
    assert good["final_reward"] is not None and good["final_entropy"] is not None
    assert good["final_grad_norm"] is not None and good["mean_grad_norm"] is not None
    assert 0.0 <= good["mean_zero_std_frac"] <= 1.0  # TRL's frac_reward_zero_std, averaged
    assert good["kl"].startswith("n/a") and good["final_kl"] is None  # beta = 0 (set above)
    assert 0.0 <= good["mean_group_reward_std"] <= 3.0  # rewards are in [0, 3]: math x2 + format
    assert 0.0 <= good["eval_pass_at_1"] <= 1.0 and set(good["eval_reward_means"]) == {"math", "format"}
    assert "grpo train" in (tmp_path / good["run_dir"] / "train.log").read_text()
    assert bad["exit_code"] not in (0, None) and "no-such-model" in bad["error"]
    assert bad["error"] in proc.stdout  # the table's footer names why it failed
    plan_file = (root / "sweep_plan.yaml").read_text()
    assert "OMP_NUM_THREADS" in plan_file  # two CPU slots share the cores
    assert (root / "sweep_rewards.png").read_bytes()[:4] == b"\x89PNG"
    assert "eval pass@1" in proc.stdout and "zero-std groups" in proc.stdout
    assert "group reward std" in proc.stdout


def _train_children(proc: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in proc.children(recursive=True):
        try:
            cmd = child.cmdline()
        except psutil.Error:
            continue
        if "harness" in cmd and "train" in cmd:
            found.append(child)
    return found


def test_ctrl_c_stops_every_parallel_run(tmp_path):
    sets = [arg for s in [*TINY[1:], "trainer.max_steps=100000"] for arg in ("--set", s)]
    sweep = subprocess.Popen(
        [sys.executable, "-m", "harness", "sweep", "--grid", "trainer.learning_rate=1e-3,2e-3"]
        + ["--parallel", "2", "--name", "c", *sets],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # a shell runs background jobs with SIGINT ignored, and Python keeps an inherited "ignore":
        # give the sweep the default a terminal's Ctrl-C meets, however the tests were started
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    parent = psutil.Process(sweep.pid)
    deadline = time.monotonic() + 300
    children: list[psutil.Process] = []
    while time.monotonic() < deadline and len(children) < 2:
        time.sleep(0.5)
        children = _train_children(parent)
    assert len(children) == 2, "both runs should be running at once"
    tree = [c for child in children for c in [child, *child.children(recursive=True)]]
    sweep.send_signal(signal.SIGINT)
    out, _ = sweep.communicate(timeout=60)
    assert sweep.returncode == 130, out[-3000:]
    gone, alive = psutil.wait_procs(tree, timeout=15)
    assert not alive, f"left running: {[p.pid for p in alive]}"
    assert "interrupted: stopping 2 active run(s)" in out
