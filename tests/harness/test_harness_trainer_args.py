"""How the config's sections become TRL GRPOConfig arguments."""

from __future__ import annotations

import pytest

from grpo_core.engine import Engine
from grpo_core.errors import ConfigError
from harness.config import load_config
from harness.train import preflight, trainer_arguments


def args_for(*overrides):
    config = load_config(None, ["rewards.0.verifier=tag_count", "rewards.0.options={}", *overrides])
    with Engine(config.rewards) as engine:
        return trainer_arguments(config, engine)


def test_weights_output_dir_and_cpu_defaults():
    kwargs = args_for("output_dir=/tmp/x", "rewards.0.weight=0.5", "rewards.0.name=tags")
    assert kwargs["reward_weights"] == [0.5, 1.0]
    assert kwargs["output_dir"] == "/tmp/x"
    assert kwargs["use_cpu"] is True and kwargs["bf16"] is False
    assert kwargs["max_steps"] == 400  # the trainer section passes through (the demo trains 400 steps)


def test_vllm_server_and_colocate_settings():
    server = args_for("vllm.mode=server", "vllm.host=10.0.0.5", "vllm.port=9000")
    assert server["use_vllm"] and server["vllm_mode"] == "server"
    assert (server["vllm_server_host"], server["vllm_server_port"]) == ("10.0.0.5", 9000)
    colocate = args_for(
        "vllm.mode=colocate", "vllm.gpu_memory_utilization=0.3", "vllm.tensor_parallel_size=2"
    )
    assert colocate["vllm_mode"] == "colocate"
    assert colocate["vllm_gpu_memory_utilization"] == 0.3 and colocate["vllm_tensor_parallel_size"] == 2
    assert "use_vllm" not in args_for()


def test_model_settings_become_model_init_kwargs():
    kwargs = args_for(
        "model.name_or_path=some/model",
        "model.dtype=bfloat16",
        "model.attn_implementation=sdpa",
        "cold_start.steps=0",  # the cold start is for the embedded tiny model only
    )
    assert kwargs["model_init_kwargs"] == {"dtype": "bfloat16", "attn_implementation": "sdpa"}


def test_vllm_mode_without_vllm_installed_is_a_config_error(tmp_path):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    with pytest.raises(ConfigError, match="needs vLLM"):
        preflight(load_config(None, ["vllm.mode=colocate", f"output_dir={tmp_path / 'run'}"]))
