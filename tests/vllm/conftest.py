"""vLLM tests (``make test-vllm``): real vLLM on the CPU, through ``grpo train`` (and ``grpo score``
with the ``prm`` verifier served by a vLLM pooling server, test_vllm_prm.py).

Collected only with ``GRPO_VLLM_TESTS=1`` (set by ``make test-vllm``, which builds ``.venv-vllm``),
so the default ``pytest`` run needs no vLLM. The model is the harness's tiny Qwen2 at a size vLLM's
CPU attention accepts (head_dim 32) with untied embeddings, saved to a folder as a user's model is.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent
RECORDER = HERE.parent / "harness" / "fixtures" / "recorder"
PROBE = HERE / "probe"
# vLLM's CPU attention needs head_dim >= 32: hidden 128 over 4 heads.
MODEL_SHAPE = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}

if os.environ.get("GRPO_VLLM_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def vllm_env(tmp_path_factory) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        VLLM_CACHE_ROOT=str(tmp_path_factory.mktemp("vllm-cache")),
        VLLM_CPU_KVCACHE_SPACE="1",
        # vLLM's own CPU-CI switch: dynamo with the eager backend instead of inductor's C++ compile,
        # which takes minutes per engine on a busy 2-core machine and is not what these tests check.
        VLLM_CPU_CI_ENV="1",
        PYTHONPATH=os.pathsep.join([str(PROBE), str(RECORDER), *filter(None, [env.get("PYTHONPATH")])]),
    )
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """The tiny model and its tokenizer, saved as a normal HF folder (vLLM and the trainer load it)."""
    from harness.config import load_config
    from harness.data import load_rows, task_texts
    from harness.tiny import save_tiny

    path = tmp_path_factory.mktemp("model")
    train, held_out = load_rows(load_config(None, []).data)
    model, _ = save_tiny(path, task_texts(train + held_out), MODEL_SHAPE, seed=0)
    assert not model.config.tie_word_embeddings
    return path
