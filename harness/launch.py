"""Multi-process launches: ``vllm serve`` beside ``accelerate launch``, on GPUs or on a CPU.

``vllm.mode: server``: start the vLLM server (the command TRL 1.16 recommends, built in
:mod:`harness.vllm_server`) with ``CUDA_VISIBLE_DEVICES`` set to its GPUs, wait for its health
endpoint, then ``accelerate launch -m harness train`` on the remaining GPUs (or on the CPU when the
machine has none); both logs are streamed with a prefix and written to ``<run dir>/logs/``. When the
trainer exits, on an error, or on Ctrl-C or SIGTERM, every process group started here is terminated
(SIGTERM, then SIGKILL after a grace period) so no process is left behind. A server that exits before
it is healthy or while the trainer runs ends the run with exit 1 and a message naming its log.
``colocate`` mode and plain multi-process runs (``launch.num_processes: 2`` runs two CPU ranks over
gloo on a machine without GPUs) are one ``accelerate launch``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from grpo_core.errors import ConfigError
from harness.config import RunConfig

CHILD_ENV = "GRPO_HARNESS_CHILD"
GRACE_S = 10.0


class LaunchError(RuntimeError):
    """A launched process failed to come up (the server never became healthy, exited early)."""


def needs_launcher(config: RunConfig) -> bool:
    return (
        config.vllm.mode == "server"
        or config.launch.accelerate_config is not None
        or (config.launch.num_processes or 1) > 1
        or config.launch.train_command is not None
    )


def visible_gpus() -> list[int]:
    """GPU ids this machine has (respecting an outer CUDA_VISIBLE_DEVICES), without initialising CUDA here."""
    outer = os.environ.get("CUDA_VISIBLE_DEVICES")
    if outer is not None:
        return [int(x) for x in outer.split(",") if x.strip().isdigit()]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [i for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def split_gpus(config: RunConfig, available: Sequence[int] | None = None) -> tuple[list[int], list[int]]:
    """(vLLM server GPUs, training GPUs). Explicit lists win; otherwise the first TP*DP GPUs serve."""
    available = list(visible_gpus() if available is None else available)
    vllm_gpus: list[int] = []
    if not available and config.vllm.gpus is None and config.launch.gpus is None:
        return [], []  # a CPU machine: the server and the trainer share the CPU
    if config.vllm.mode == "server":
        need = config.vllm.tensor_parallel_size * config.vllm.data_parallel_size
        vllm_gpus = list(config.vllm.gpus) if config.vllm.gpus is not None else available[:need]
        if len(vllm_gpus) != need:
            raise ConfigError(
                f"vllm: server mode needs tensor_parallel_size x data_parallel_size = {need} GPU(s), "
                f"got {vllm_gpus or 'none'} (GPUs visible: {available or 'none'}); set vllm.gpus"
            )
    if config.launch.gpus is not None:
        train_gpus = list(config.launch.gpus)
    else:
        train_gpus = [g for g in available if g not in vllm_gpus]
    overlap = sorted(set(vllm_gpus) & set(train_gpus))
    if overlap:
        raise ConfigError(f"launch.gpus and vllm.gpus overlap on {overlap}; give the server its own GPUs")
    if config.vllm.mode == "server" and not train_gpus:
        raise ConfigError("vllm server mode: no GPU left for training; set launch.gpus")
    return vllm_gpus, train_gpus


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def server_command(config: RunConfig, cuda: bool | None = None) -> list[str]:
    """``vllm serve ...`` with the weight-transfer flags of the sync the run will use."""
    from harness.vllm_server import resolve_weight_sync
    from harness.vllm_server import server_command as build

    cuda = bool(visible_gpus()) if cuda is None else cuda
    return build(config, resolve_weight_sync(config.vllm.weight_sync, cuda), cuda)


def train_command(config: RunConfig, config_file: Path, train_gpus: Sequence[int], resume: bool) -> list[str]:
    if config.launch.train_command:
        return [str(part) for part in config.launch.train_command]
    launch = config.launch
    command = [_tool("accelerate"), "launch"]
    if launch.accelerate_config:
        command += ["--config_file", launch.accelerate_config]
    processes = launch.num_processes or max(1, len(train_gpus))
    if processes > 1 and not launch.accelerate_config:
        # Not torchrun's fixed default 29500, which concurrent runs on one machine would share.
        from harness.vllm_server import free_port

        command += ["--main_process_port", str(free_port())]
        if not train_gpus:
            # Without GPUs, `--multi_gpu` is accelerate's torchrun launcher; the ranks then join over
            # gloo on the CPU (`--cpu` would run one process only).
            command.append("--multi_gpu")
    command += ["--num_processes", str(processes), "-m", "harness", "train", str(config_file)]
    if resume:
        command.append("--resume")
    return command


def health_url(config: RunConfig) -> str:
    from harness.vllm_server import health_url as url

    return url(config)


class Orchestrator:
    """Starts process groups, streams their output with a prefix, and always tears them down."""

    def __init__(self, console: Any = None, log_dir: Path | None = None) -> None:
        self.console = console
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self._threads: list[threading.Thread] = []

    def _emit(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text, highlight=False, markup=False, soft_wrap=True)
        else:
            print(text, flush=True)

    def start(self, name: str, command: Sequence[str], env: dict[str, str]) -> subprocess.Popen:
        self._emit(f"[{name}] $ {' '.join(command)}")
        proc = subprocess.Popen(
            list(command),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own process group: teardown reaches its children too
        )
        self.procs.append((name, proc))
        log: TextIO | None = None
        path = self.log_path(name)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            log = open(path, "a", encoding="utf-8")  # noqa: SIM115

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self._emit(f"[{name}] {line.rstrip()}")
                if log is not None:
                    log.write(line)
                    log.flush()
            if log is not None:
                log.close()

        thread = threading.Thread(target=pump, name=f"log-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return proc

    def log_path(self, name: str) -> Path | None:
        return None if self.log_dir is None else self.log_dir / f"{name}.log"

    def log_hint(self, name: str) -> str:
        path = self.log_path(name)
        return f" (its log: {path})" if path is not None else ""

    def wait_healthy(self, url: str, proc: subprocess.Popen, timeout_s: float, name: str = "vllm") -> float:
        """Poll ``url`` until it answers 200; fail if ``proc`` exits first or time runs out."""
        started = time.monotonic()
        while True:
            if proc.poll() is not None:
                raise LaunchError(
                    f"the {name} server exited with code {proc.returncode} during start-up, before {url} "
                    f"answered{self.log_hint(name)}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() - started > timeout_s:
                raise LaunchError(
                    f"the {name} server: {url} not healthy after {timeout_s:g}s{self.log_hint(name)}; "
                    "raise vllm.health_timeout_s if it is still loading"
                )
            time.sleep(0.5)

    def teardown(self) -> None:
        """SIGTERM every process group still running, then SIGKILL what outlives the grace period."""
        alive = [(name, p) for name, p in self.procs if p.poll() is None]
        for _, proc in alive:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_S
        for name, proc in alive:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._emit(f"[{name}] did not stop on SIGTERM; killing")
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5)
        # The group may hold children that outlived their parent.
        for _, proc in self.procs:
            _signal_group(proc, signal.SIGKILL)
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def launch(config: RunConfig, *, resume: bool = False, console: Any = None) -> int:
    """Run the launch plan; returns the trainer's exit code (1 when the server fails, 130 on Ctrl-C).

    Bad settings (GPU split, a taken port, ``weight_sync: trl`` without CUDA) raise ConfigError
    before anything is started or written.
    """
    from harness.vllm_server import check_port_free, resolve_weight_sync, server_env

    vllm_gpus, train_gpus = split_gpus(config)
    cuda = bool(vllm_gpus or train_gpus)
    server_mode = config.vllm.mode == "server"
    if config.vllm.mode != "off":
        # The ranks run with the sync resolved here, so launcher and trainer agree on it.
        sync = resolve_weight_sync(config.vllm.weight_sync, cuda)
        config = config.model_copy(update={"vllm": config.vllm.model_copy(update={"weight_sync": sync})})
    if server_mode:
        command = server_command(config, cuda)
        check_port_free(config)
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    config_file = run_dir / "launch_config.yaml"
    with open(config_file, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config.dump(), handle, sort_keys=False)
    base_env = dict(os.environ)
    base_env[CHILD_ENV] = "1"
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    orchestrator = Orchestrator(console, run_dir / "logs")
    try:
        with orchestrator:
            server = None
            if server_mode:
                env = server_env(base_env, cuda)
                if cuda:
                    env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, vllm_gpus))
                server = orchestrator.start("vllm", command, env)
                waited = orchestrator.wait_healthy(health_url(config), server, config.vllm.health_timeout_s)
                where = f"GPUs {vllm_gpus}" if vllm_gpus else "the CPU"
                orchestrator._emit(f"[launch] vLLM server healthy after {waited:.1f}s on {where}")
            env = dict(base_env)
            if train_gpus:
                env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, train_gpus))
            trainer = orchestrator.start("train", train_command(config, config_file, train_gpus, resume), env)
            while trainer.poll() is None:
                if server is not None and server.poll() is not None:
                    raise LaunchError(
                        f"the vLLM server exited with code {server.returncode} while training"
                        f"{orchestrator.log_hint('vllm')}; stopping the trainer"
                    )
                time.sleep(0.5)
            return trainer.returncode
    except LaunchError as exc:
        orchestrator._emit(f"[launch] error: {exc}")
        return 1
    except KeyboardInterrupt:
        orchestrator._emit("[launch] interrupted: stopping all processes")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
