"""vLLM server orchestration with a stand-in server: health wait, GPU split, log streaming, teardown."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from grpo_core.errors import ConfigError
from harness.config import load_config
from harness.launch import launch, needs_launcher, server_command, split_gpus, train_command

FIXTURES = Path(__file__).parent / "fixtures"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pids, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def server_config(tmp_path, port, trainer_mode="0", die=False, server_args=(), health_timeout=30):
    server = [sys.executable, str(FIXTURES / "fake_vllm_server.py"), str(port), str(tmp_path / "server.pid")]
    if die:
        server.append("--die")
    server += list(server_args)
    url = f"http://127.0.0.1:{port}/health/"
    trainer = [
        sys.executable,
        str(FIXTURES / "fake_trainer.py"),
        url,
        str(tmp_path / "trainer.json"),
        trainer_mode,
    ]
    return [
        "vllm.mode=server",
        f"vllm.port={port}",
        "vllm.gpus=[0]",
        "launch.gpus=[1, 2]",
        f"vllm.health_timeout_s={health_timeout}",
        f"output_dir={tmp_path / 'run'}",
        f"vllm.server_command={json.dumps(server)}",
        f"launch.train_command={json.dumps(trainer)}",
    ]


def server_pids(tmp_path):
    server, child, devices = (tmp_path / "server.pid").read_text().split(" ")
    return int(server), int(child), devices.strip()


def test_server_mode_waits_for_health_splits_gpus_and_tears_down(tmp_path):
    config = load_config(None, server_config(tmp_path, free_port()))
    assert needs_launcher(config)
    assert launch(config) == 0
    record = json.loads((tmp_path / "trainer.json").read_text())
    assert record == {**record, "healthy": True, "cuda_visible_devices": "1,2", "child_env": "1"}
    server, child, devices = server_pids(tmp_path)
    assert devices == "0"
    assert wait_gone([server, child]), "vLLM stand-in (or its child) survived teardown"
    logs = tmp_path / "run" / "logs"
    assert "serving on" in (logs / "vllm.log").read_text()
    assert "fake trainer: step 1" in (logs / "train.log").read_text()


def test_trainer_failure_is_returned_and_server_is_stopped(tmp_path):
    config = load_config(None, server_config(tmp_path, free_port(), trainer_mode="3"))
    assert launch(config) == 3
    assert wait_gone(server_pids(tmp_path)[:2])


def test_server_dying_before_health_fails_without_starting_the_trainer(tmp_path):
    config = load_config(None, server_config(tmp_path, free_port(), die=True))
    assert launch(config) == 1
    assert not (tmp_path / "trainer.json").exists()
    assert wait_gone(server_pids(tmp_path)[:2])


def test_ctrl_c_tears_down_server_and_trainer(tmp_path):
    """`grpo train` in its own process; SIGINT while the trainer runs; nothing may be left."""
    config_file = tmp_path / "run.yaml"
    config = load_config(None, server_config(tmp_path, free_port(), trainer_mode="hang"))
    config_file.write_text(yaml.safe_dump(config.dump()))
    proc = subprocess.Popen([sys.executable, "-m", "harness", "train", str(config_file)], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "trainer.json").exists():
            assert proc.poll() is None, "grpo train exited early"
            assert time.monotonic() < deadline, "the stand-in trainer never started"
            time.sleep(0.2)
        trainer_pid = json.loads((tmp_path / "trainer.json").read_text())["pid"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    server, child, _ = server_pids(tmp_path)
    assert wait_gone([server, child, trainer_pid]), "orphaned processes after Ctrl-C"


def test_gpu_split_rules():
    config = load_config(
        None, ["vllm.mode=server", "model.name_or_path=some/model", "vllm.tensor_parallel_size=2"]
    )
    assert split_gpus(config, available=[0, 1, 2, 3]) == ([0, 1], [2, 3])
    with pytest.raises(ConfigError, match="needs tensor_parallel_size x data_parallel_size = 2"):
        split_gpus(config, available=[0])
    overlap = load_config(None, ["vllm.mode=server", "vllm.gpus=[0]", "launch.gpus=[0, 1]"])
    with pytest.raises(ConfigError, match="overlap"):
        split_gpus(overlap, available=[0, 1])


def test_default_commands(tmp_path):
    config = load_config(
        None,
        [
            "vllm.mode=server",
            "model.name_or_path=Qwen/Qwen2.5-0.5B",
            "vllm.port=8123",
            "launch.accelerate_config=examples/accelerate/zero2.yaml",
        ],
    )
    command = server_command(config, cuda=True)
    assert Path(command[0]).name == "vllm" and command[1:3] == ["serve", "Qwen/Qwen2.5-0.5B"]
    assert command[command.index("--port") + 1] == "8123"
    assert command[command.index("--weight-transfer-config") + 1] == '{"backend": "nccl"}'
    assert command[command.index("--logprobs-mode") + 1] == "processed_logprobs"
    # On a CPU there is no transfer engine (every backend needs CUDA): the reload path syncs instead.
    cpu = server_command(config, cuda=False)
    assert "--weight-transfer-config" not in cpu and "--gpu-memory-utilization" not in cpu
    train = train_command(config, tmp_path / "c.yaml", [1, 2, 3], resume=True)
    assert train[1:4] == ["launch", "--config_file", "examples/accelerate/zero2.yaml"]
    assert train[train.index("--num_processes") + 1] == "3"
    assert train[-5:] == ["-m", "harness", "train", str(tmp_path / "c.yaml"), "--resume"]
    with pytest.raises(ConfigError, match="the in-process 'tiny' model has none"):
        server_command(load_config(None, ["vllm.mode=server"]), cuda=True)


def _launch_output(config, capsys):
    code = launch(config)
    return code, capsys.readouterr().out


def test_server_crash_mid_run_stops_the_trainer_names_the_log_and_keeps_the_run_dir(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "earlier.txt").write_text("kept")
    overrides = server_config(tmp_path, free_port(), trainer_mode="hang", server_args=["--die-after", "3"])
    started = time.monotonic()
    code, out = _launch_output(load_config(None, overrides), capsys)
    assert code == 1
    assert time.monotonic() - started < 60, "the launcher waited for the hung trainer"
    log = run / "logs" / "vllm.log"
    assert "exited with code 9 while training" in out and str(log) in out
    assert "fake vllm: crashing" in log.read_text()
    assert (run / "earlier.txt").read_text() == "kept"
    trainer_pid = json.loads((tmp_path / "trainer.json").read_text())["pid"]
    assert wait_gone([*server_pids(tmp_path)[:2], trainer_pid]), "trainer left running after the crash"


def test_server_exit_during_start_up_names_the_log(tmp_path, capsys):
    code, out = _launch_output(load_config(None, server_config(tmp_path, free_port(), die=True)), capsys)
    assert code == 1
    assert "exited with code 7 during start-up" in out and str(tmp_path / "run" / "logs" / "vllm.log") in out


def test_health_timeout_fails_and_tears_down(tmp_path, capsys):
    overrides = server_config(tmp_path, free_port(), server_args=["--unhealthy"], health_timeout=3)
    code, out = _launch_output(load_config(None, overrides), capsys)
    assert code == 1
    assert "not healthy after 3s" in out and "vllm.health_timeout_s" in out
    assert not (tmp_path / "trainer.json").exists()
    assert wait_gone(server_pids(tmp_path)[:2])


def test_port_already_taken_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = load_config(None, server_config(tmp_path, port))
        with pytest.raises(ConfigError, match=f"vllm.port: 127.0.0.1:{port} is already in use"):
            launch(config)
    assert not (tmp_path / "server.pid").exists() and not (tmp_path / "run").exists()


def test_cpu_machine_runs_server_and_ranks_without_gpus(tmp_path):
    config = load_config(None, ["vllm.mode=server", "model.name_or_path=m", "launch.num_processes=2"])
    assert split_gpus(config, available=[]) == ([], [])
    command = train_command(config, tmp_path / "c.yaml", [], resume=False)
    # accelerate's --cpu runs a single process; its torchrun launcher starts the ranks (gloo on CPU).
    assert "--multi_gpu" in command and command[command.index("--num_processes") + 1] == "2"
    # Its own rendezvous port, not torchrun's 29500 that concurrent runs on the machine would share.
    assert int(command[command.index("--main_process_port") + 1]) != 29500
    with pytest.raises(ConfigError, match="weight_sync: trl needs CUDA"):
        server_command(
            load_config(None, ["vllm.mode=server", "model.name_or_path=m", "vllm.weight_sync=trl"]),
            cuda=False,
        )


def test_vllm_with_the_in_process_tiny_model_is_refused_in_preflight(monkeypatch):
    from harness import train

    monkeypatch.setattr(train, "check_vllm_installed", lambda mode: None)  # the refusal, not the install
    with pytest.raises(ConfigError, match="vllm.mode: colocate needs a model folder or hub id"):
        train.preflight(load_config(None, ["vllm.mode=colocate"]))
