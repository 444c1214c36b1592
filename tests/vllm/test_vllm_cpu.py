"""vLLM for real on the CPU, through ``grpo train``: colocate, server, and the server's failure modes.

What each run proves, from the probe (``probe/sitecustomize.py``) and the recorder verifier:
- weights reach vLLM: after every sync, vLLM's log-probabilities of fixed sequences equal the
  training model's (HF) within bf16 noise, while the training model itself moved far more than that
  (so a stale vLLM would fail the check);
- the reward adapter sees vLLM's completions: the recorder scored exactly what vLLM generated.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

# Each test starts vLLM (import, engine or server start-up) on a shared 2-core machine.
pytestmark = pytest.mark.timeout(900)

# vLLM runs the float32 checkpoint in bfloat16 on CPU: its log-probabilities differ from HF's by
# up to a few 1e-2 on this model. The model must move by far more than that between syncs.
LOGP_TOL = 0.1
MIN_MOVE = 0.5
STEPS = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_config(tmp_path: Path, model: Path, mode: str, steps: int = STEPS, **vllm) -> dict:
    """A short run whose rewards vary within each group (the recorder), so the weights move every step."""
    return {
        "name": f"vllm-{mode}",
        "output_dir": str(tmp_path / "run"),
        "truncated_completions": "score",  # the recorder must see every completion vLLM generated
        "model": {"name_or_path": str(model), "think_prefilled": True},
        "data": {"source": "arithmetic", "size": 64, "arithmetic": {"max_operand": 2}, "eval": None},
        "rewards": [{"verifier": "recorder", "options": {"path": str(tmp_path / "records.jsonl")}}],
        "trainer": {
            "max_steps": steps,
            "learning_rate": 3.0e-2,
            "per_device_train_batch_size": 8,
            "num_generations": 4,
            "max_completion_length": 8,
            "logging_steps": 1,
        },
        "vllm": {"mode": mode, "gpu_memory_utilization": 0.3, **vllm},
    }


def start_train(tmp_path: Path, config: dict, env: dict[str, str]) -> subprocess.Popen:
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = {**env, "GRPO_VLLM_PROBE": str(tmp_path / "probe.jsonl")}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "train", str(config_file)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM first: the launcher then tears down the server's and trainer's own process groups."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str]:
    """Wait for ``grpo train``; on a time-out (or any interruption) it is stopped with its children."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        out, _ = proc.communicate()
        raise AssertionError(f"grpo train did not finish in {timeout}s:\n{out[-6000:]}") from None
    finally:
        stop(proc)
    return proc.returncode, out


def read_jsonl(path: Path) -> list[dict]:
    return (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )


def check_trained_and_synced(tmp_path: Path, out: str, steps: int = STEPS) -> None:
    run = tmp_path / "run"
    metrics = [m for m in read_jsonl(run / "metrics.jsonl") if "reward" in m]
    assert [m["step"] for m in metrics] == list(range(1, steps + 1)), out[-4000:]
    assert (run / "final" / "model.safetensors").is_file()
    probe = read_jsonl(tmp_path / "probe.jsonl")
    syncs = [p for p in probe if p["event"] == "sync"]
    assert len(syncs) == steps, f"{len(syncs)} weight syncs for {steps} steps"
    first = syncs[0]["hf"]
    moved = 0.0
    for k, sync in enumerate(syncs):
        gap = max(abs(a - b) for hf, vl in zip(sync["hf"], sync["vllm"]) for a, b in zip(hf, vl))
        assert gap < LOGP_TOL, f"sync {k + 1}: vLLM's log-probs differ from the trained model's by {gap:.3f}"
        moved = max(moved, max(abs(a - b) for s0, sk in zip(first, sync["hf"]) for a, b in zip(s0, sk)))
    assert moved > MIN_MOVE, f"the model moved by {moved:.3f} only: the sync check would not catch staleness"
    # TRL's own comparison of vLLM's sampling log-probs with the trainer's agrees.
    assert max(m["sampling/sampling_logp_difference/max"] for m in metrics) < LOGP_TOL
    generated = Counter(t for p in probe if p["event"] == "generate" for t in p["completions"])
    scored = Counter(r["completion"] for r in read_jsonl(tmp_path / "records.jsonl"))
    assert sum(generated.values()) == steps * 8
    assert scored == generated, "the reward adapter did not score vLLM's completions"


def test_colocate_trains_and_weights_reach_vllm(tmp_path, model_dir, vllm_env):
    proc = start_train(tmp_path, run_config(tmp_path, model_dir, "colocate"), vllm_env)
    code, out = finish(proc, timeout=400)
    assert code == 0, out[-6000:]
    assert all(p["mode"] == "colocate" for p in read_jsonl(tmp_path / "probe.jsonl") if p["event"] == "sync")
    check_trained_and_synced(tmp_path, out)


def server_processes(port: int) -> list[int]:
    """Pids whose command line is a vLLM server on ``port`` (the server and its engine processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmdline and str(port).encode() in cmdline:
            found.append(int(entry.name))
    return found


def wait_port_closed(port: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0 and not server_processes(port):
                return True
        time.sleep(0.5)
    return False


def server_run(tmp_path: Path, model: Path, steps: int = STEPS) -> tuple[dict, int]:
    port = free_port()
    return run_config(tmp_path, model, "server", steps, port=port, health_timeout_s=300), port


def test_server_mode_starts_vllm_serve_trains_syncs_by_reload_and_tears_down(tmp_path, model_dir, vllm_env):
    config, port = server_run(tmp_path, model_dir)
    code, out = finish(start_train(tmp_path, config, vllm_env), timeout=500)
    assert code == 0, out[-6000:]
    command = next(line for line in out.splitlines() if line.startswith("[vllm] $ "))
    assert "/vllm serve " in command and "--logprobs-mode processed_logprobs" in command
    assert "--weight-transfer-config" not in command  # CPU: no transfer engine, the reload path
    assert "vLLM server healthy after" in out
    launched = yaml.safe_load((tmp_path / "run" / "launch_config.yaml").read_text())
    assert launched["vllm"]["weight_sync"] == "reload"
    assert all(p["mode"] == "server" for p in read_jsonl(tmp_path / "probe.jsonl") if p["event"] == "sync")
    check_trained_and_synced(tmp_path, out)
    assert "POST /collective_rpc" in (tmp_path / "run" / "logs" / "vllm.log").read_text()
    assert wait_port_closed(port), f"vLLM server processes left after the run: {server_processes(port)}"


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def test_ctrl_c_stops_the_real_server_and_its_engine_processes(tmp_path, model_dir, vllm_env):
    """Ctrl-C while vLLM starts its engine: the API server and every engine process are stopped.

    (Ctrl-C while training, with the trainer's process group too, is tested with stand-ins in
    tests/harness/test_harness_launch.py; here the real server's process tree is the point.)
    """
    config, port = server_run(tmp_path, model_dir, steps=200)
    proc = start_train(tmp_path, config, vllm_env)
    deadline = time.monotonic() + 400
    members: list[int] = []
    pgid = 0
    try:
        while len(members) < 2:  # the API server and its engine-core process
            assert proc.poll() is None, proc.stdout.read()[-6000:]
            assert time.monotonic() < deadline, "vLLM never started its engine process"
            time.sleep(0.5)
            servers = server_processes(port)
            pgid = os.getpgid(servers[0]) if servers else 0
            members = group_members(pgid) if pgid else []
        proc.send_signal(signal.SIGINT)
        code, out = finish(proc, timeout=120)
    finally:
        stop(proc)
    assert code == 130, out[-4000:]
    assert "interrupted: stopping all processes" in out
    deadline = time.monotonic() + 30
    while group_members(pgid):
        assert time.monotonic() < deadline, f"vLLM processes left after Ctrl-C: {group_members(pgid)}"
        time.sleep(0.5)
    assert wait_port_closed(port)


def test_server_failing_at_start_up_names_its_log_and_keeps_the_run_dir(tmp_path, vllm_env):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "no-such-architecture"}')
    config, port = server_run(tmp_path, broken, steps=1)
    run = tmp_path / "run"
    run.mkdir()
    (run / "earlier.txt").write_text("kept")
    code, out = finish(start_train(tmp_path, config, vllm_env), timeout=300)
    assert code == 1, out[-4000:]
    log = run / "logs" / "vllm.log"
    assert "during start-up" in out and str(log) in out
    assert log.read_text().strip(), "the server's output was not kept"
    assert (run / "earlier.txt").read_text() == "kept"
    assert not (run / "metrics.jsonl").exists() and not read_jsonl(tmp_path / "records.jsonl")
    assert wait_port_closed(port)
