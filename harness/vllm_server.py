"""The vLLM server of ``vllm.mode: server``: its command, its environment and the weight-sync choice.

The command is the one TRL 1.16 recommends (``trl vllm-serve`` is deprecated and only runs it):
``VLLM_SERVER_DEV_MODE=1 vllm serve MODEL --logprobs-mode processed_logprobs --max-logprobs -1`` plus
the weight-transfer engine for the sync the run uses:

- ``trl`` (CUDA): ``--weight-transfer-config '{"backend": "nccl"}'``; TRL's client streams each
  updated tensor over NCCL. Every vLLM weight-transfer backend needs CUDA.
- ``reload`` (CPU, or to debug): no transfer engine; after each optimizer step the trainer writes its
  weights to a safetensors folder and asks the server to re-read them (``/collective_rpc``
  ``reload_weights``, a dev-mode endpoint). It costs a disk round trip per sync and needs the server
  on the same machine: a CPU/debug path, not a GPU one (see ``harness.vllm_sync``).

Only the standard library here: the launcher imports this module before any heavy package.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from pathlib import Path

from grpo_core.errors import ConfigError
from harness.config import RunConfig

# vLLM's CPU back end sizes its KV cache from this (GiB); unset, a second engine in one process
# computes a negative size and fails.
CPU_ENV_DEFAULTS = {"VLLM_CPU_KVCACHE_SPACE": "1"}


def resolve_weight_sync(setting: str, cuda: bool) -> str:
    """``auto`` is TRL's own sync with CUDA, vLLM's reload path without; ``trl`` on a CPU is refused."""
    if setting == "auto":
        return "trl" if cuda else "reload"
    if setting == "trl" and not cuda:
        raise ConfigError(
            "vllm.weight_sync: trl needs CUDA (TRL's server sync is an NCCL transfer, and vLLM's CPU "
            "layers drop the weights TRL's colocate sync writes into); on CPU use reload (or auto)"
        )
    return setting


def check_model_for_vllm(config: RunConfig) -> None:
    """vLLM loads the model from a folder or hub id; the in-process ``tiny`` model has neither."""
    if config.vllm.mode != "off" and config.model.is_tiny:
        raise ConfigError(
            f"vllm.mode: {config.vllm.mode} needs a model folder or hub id in model.name_or_path; the "
            "in-process 'tiny' model has none: save one with harness.tiny.save_tiny (hidden_size / "
            "num_attention_heads >= 32 for vLLM's CPU attention) or use vllm.mode: off"
        )


def vllm_executable() -> str:
    beside = Path(sys.executable).parent / "vllm"
    return str(beside) if beside.exists() else (shutil.which("vllm") or "vllm")


def server_command(config: RunConfig, sync: str, cuda: bool) -> list[str]:
    """``vllm serve MODEL ...`` for this run (or ``vllm.server_command`` as given)."""
    vllm = config.vllm
    if vllm.server_command:
        return [str(part) for part in vllm.server_command]
    check_model_for_vllm(config)
    command = [vllm_executable(), "serve", config.model.name_or_path]
    command += ["--host", vllm.host, "--port", str(vllm.port)]
    command += ["--tensor-parallel-size", str(vllm.tensor_parallel_size)]
    command += ["--data-parallel-size", str(vllm.data_parallel_size)]
    # The importance-sampling correction needs the logprobs after temperature and processors.
    command += ["--logprobs-mode", "processed_logprobs", "--max-logprobs", "-1"]
    if cuda:
        command += ["--gpu-memory-utilization", str(vllm.gpu_memory_utilization)]
    if vllm.max_model_len:
        command += ["--max-model-len", str(vllm.max_model_len)]
    if config.model.dtype != "auto":
        command += ["--dtype", config.model.dtype]
    if config.model.trust_remote_code:
        command.append("--trust-remote-code")
    if sync == "trl":
        command += ["--weight-transfer-config", json.dumps({"backend": "nccl"})]
    return command


def server_env(base: dict[str, str], cuda: bool) -> dict[str, str]:
    """The server's environment: dev mode (TRL's endpoints) and, on CPU, vLLM's CPU settings."""
    env = {**base, "VLLM_SERVER_DEV_MODE": "1"}
    if not cuda:
        for key, value in CPU_ENV_DEFAULTS.items():
            env.setdefault(key, value)
    return env


def health_url(config: RunConfig) -> str:
    # `/health/` answers 307 (a redirect); `/health` is the endpoint.
    return f"http://{config.vllm.host}:{config.vllm.port}/health"


def port_in_use(host: str, port: int) -> bool:
    """True when something already accepts connections (or holds the address) at host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        if probe.connect_ex((host, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bind:
        # As the server binds: a closed connection in TIME_WAIT does not count as taken.
        bind.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            bind.bind((host, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    """A port the OS just handed out (for rendezvous stores: not torch's shared default 29500)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_port_free(config: RunConfig) -> None:
    """Refuse to start a server on a taken port: TRL would otherwise train against whatever answers."""
    host, port = config.vllm.host, config.vllm.port
    if port_in_use(host, port):
        raise ConfigError(
            f"vllm.port: {host}:{port} is already in use (another vLLM server or program); stop it or "
            "choose a free port with --set vllm.port=PORT"
        )


def cpu_env_defaults() -> None:
    """In-process engines (colocate) on a CPU: the same vLLM settings the server gets."""
    for key, value in CPU_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
