"""``vllm.weight_sync: reload``: trained weights reach vLLM through its ``reload_weights``, not TRL's sync.

Why (vLLM 0.32 on CPU, TRL 1.16): TRL's server-mode sync is an NCCL transfer and needs CUDA; its
colocate sync calls ``model.load_weights`` per tensor, but vLLM's CPU linear layers repack their
weights into kernel buffers after loading and drop the original parameters, so that in-place load
fails. vLLM's ``reload_weights`` restores the layers, loads, and repacks again:

- colocate: the engine lives in this process; the trainer's tensors are passed in memory.
- server: the trainer (rank 0) writes a safetensors copy to a private temporary folder and asks the
  server to re-read it (``POST /collective_rpc``, a dev-mode endpoint the launcher turns on). The
  server must share this machine's file system: the CPU/debug path, ~tens of ms for a tiny model.

Tied embeddings are refused on the server path: vLLM's reload updates ``embed_tokens`` but leaves
the tied ``lm_head`` stale, silently. The swap into TRL is scoped to the trainer's construction
(:func:`generation_backend`); nothing else of TRL is changed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from typing import Any

from grpo_core.errors import ConfigError
from harness.config import RunConfig
from harness.vllm_server import cpu_env_defaults, free_port, resolve_weight_sync

WEIGHTS_FILE = "model.safetensors"


def _reload_generation_class() -> type:
    from trl.generation.vllm_client import VLLMClient
    from trl.generation.vllm_generation import VLLMGeneration

    class ReloadSyncGeneration(VLLMGeneration):
        """TRL's vLLM generation with every weight sync done by vLLM's ``reload_weights``."""

        def _init_vllm(self) -> None:
            if self.mode != "server":
                super()._init_vllm()
                return
            if getattr(self.model.config, "tie_word_embeddings", False):
                raise ConfigError(
                    "vllm.weight_sync: reload cannot update a model with tied embeddings (vLLM's reload "
                    "leaves the tied lm_head stale); use an untied model, or CUDA with weight_sync: trl"
                )
            self._weights_dir = None
            if self.accelerator.is_main_process:
                base_url = self.server_base_url or f"http://{self.server_host}:{self.server_port}"
                self.vllm_client = VLLMClient(
                    base_url=base_url, group_port=self.group_port, connection_timeout=self.server_timeout
                )
                # No init_communicator: no NCCL group on this path.
                self._weights_dir = tempfile.mkdtemp(prefix="grpo-vllm-weights-")
                weakref.finalize(self, shutil.rmtree, self._weights_dir, True)

        def _named_tensors(self) -> Iterator[tuple[str, Any]]:
            # Every rank walks the parameters (gathering is collective); TRL names them as vLLM does.
            for name, tensor in self._iter_named_params():
                yield name, tensor.detach()

        def sync_weights(self) -> None:
            if self.mode == "colocate":
                runner = self.llm.llm_engine.model_executor.driver_worker.model_runner
                runner.reload_weights(weights_iterator=[(n, t.clone()) for n, t in self._named_tensors()])
                self.llm.reset_prefix_cache()
                return
            tensors = {name: tensor.to("cpu").contiguous().clone() for name, tensor in self._named_tensors()}
            if not self.accelerator.is_main_process:
                return
            from safetensors.torch import save_file

            partial = os.path.join(self._weights_dir, WEIGHTS_FILE + ".partial")
            save_file(tensors, partial, metadata={"format": "pt"})
            os.replace(partial, os.path.join(self._weights_dir, WEIGHTS_FILE))
            self.vllm_client._post(
                f"{self.vllm_client.base_url}/collective_rpc",
                json={"method": "reload_weights", "kwargs": {"weights_path": self._weights_dir}},
            )
            self.vllm_client.reset_prefix_cache()

    return ReloadSyncGeneration


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@contextlib.contextmanager
def generation_backend(config: RunConfig) -> Iterator[str | None]:
    """Around ``GRPOTrainer(...)``: vLLM's CPU settings, and the reload sync when the run uses it.

    Yields the weight sync in use (``None`` without vLLM).
    """
    if config.vllm.mode == "off":
        yield None
        return
    cuda = cuda_available()
    if not cuda:
        cpu_env_defaults()
    if config.vllm.mode == "colocate" and not os.environ.get("MASTER_PORT"):
        # vLLM's in-process engine opens a torch.distributed store; TRL would pick 29500 first, the port
        # every torchrun on this machine defaults to. An OS-assigned port does not collide.
        os.environ["MASTER_PORT"] = str(free_port())
    sync = resolve_weight_sync(config.vllm.weight_sync, cuda)
    if sync != "reload":
        yield sync
        return
    import trl.trainer.grpo_trainer as grpo_trainer

    original = grpo_trainer.VLLMGeneration
    grpo_trainer.VLLMGeneration = _reload_generation_class()
    try:
        yield sync
    finally:
        grpo_trainer.VLLMGeneration = original


def with_vllm_backend(trainer_class: type, config: RunConfig) -> type:
    """``trainer_class`` itself without vLLM; else a subclass built inside :func:`generation_backend`."""
    if config.vllm.mode == "off":
        return trainer_class

    class VLLMBackendTrainer(trainer_class):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            with generation_backend(config):
                super().__init__(*args, **kwargs)

    VLLMBackendTrainer.__name__ = VLLMBackendTrainer.__qualname__ = trainer_class.__name__
    return VLLMBackendTrainer
