"""Run config validation: unknown keys, bad values, --set overrides, the trainer section."""

from __future__ import annotations

import pytest

from grpo_core.errors import ConfigError
from harness.config import RunConfig, apply_override, load_config, parse_override, validate_config


def write(tmp_path, text, name="run.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_embedded_default_is_valid_and_uses_math_and_format():
    config = load_config(None)
    assert config.model.is_tiny
    assert [spec.verifier for spec in config.rewards] == ["math", "format"]
    assert config.data.source == "arithmetic"


def test_unknown_key_names_the_path_and_the_allowed_keys(tmp_path):
    path = write(tmp_path, "data:\n  sorce: jsonl\nrewards:\n  - verifier: format\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "data.sorce: unknown key" in message
    assert "did you mean 'source'" in message
    assert "allowed keys:" in message and "columns" in message


def test_bad_literal_lists_the_allowed_values(tmp_path):
    path = write(tmp_path, "vllm:\n  mode: remote\nrewards:\n  - verifier: format\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "vllm.mode" in str(info.value)
    assert "'off', 'colocate' or 'server'" in str(info.value)


def test_unknown_key_inside_a_reward_item(tmp_path):
    path = write(tmp_path, "rewards:\n  - verifier: format\n    wieght: 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "rewards.0.wieght: unknown key" in str(info.value)
    assert "weight" in str(info.value)


def test_trainer_keys_are_checked_against_grpo_config(tmp_path):
    path = write(tmp_path, "rewards:\n  - verifier: format\ntrainer:\n  learning_rat: 1.0e-5\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "trainer.learning_rat: not a field of TRL's GRPOConfig" in str(info.value)
    assert "learning_rate" in str(info.value)


def test_trainer_keys_managed_by_other_sections_are_refused():
    with pytest.raises(ConfigError, match="trainer.reward_weights: set by the harness; use rewards"):
        load_config(None, ["trainer.reward_weights=[1, 2]"])


def test_no_rewards_is_an_error(tmp_path):
    path = write(tmp_path, "rewards: []\n")
    with pytest.raises(ConfigError, match="rewards: .*at least one verifier"):
        load_config(path)


def test_source_needs_path():
    with pytest.raises(ConfigError, match="needs data.path"):
        load_config(None, ["data.source=jsonl"])


def test_set_overrides_nested_values_and_list_items():
    config = load_config(
        None,
        [
            "trainer.learning_rate=1e-5",
            "rewards.1.weight=0.5",
            "rewards.1.options.mode=strict",
            "model.tiny.hidden_size=32",
            "vllm.gpus=[0, 1]",
            "name=x",
        ],
    )
    assert config.trainer["learning_rate"] == 1e-5
    assert config.rewards[1].weight == 0.5
    assert config.rewards[1].options["mode"] == "strict"
    assert config.model.tiny.hidden_size == 32
    assert config.vllm.gpus == [0, 1]
    assert config.name == "x"


def test_set_can_append_a_reward():
    config = load_config(None, ["rewards.2={verifier: tag_count, weight: 0.25}"])
    assert [s.verifier for s in config.rewards] == ["math", "format", "tag_count"]


def test_bad_set_syntax():
    with pytest.raises(ConfigError, match="expected key.path=value"):
        parse_override("trainer.learning_rate")
    with pytest.raises(ConfigError, match="no such list item"):
        apply_override({"rewards": []}, ["rewards", 3, "weight"], 1, "rewards.3.weight=1")


def test_model_may_be_a_plain_string(tmp_path):
    path = write(tmp_path, "model: Qwen/Qwen2.5-0.5B\nrewards:\n  - verifier: format\n")
    config = load_config(path)
    assert config.model.name_or_path == "Qwen/Qwen2.5-0.5B"
    assert not config.model.is_tiny


def test_toml_config(tmp_path):
    path = write(tmp_path, '[model]\nname_or_path = "tiny"\n[[rewards]]\nverifier = "format"\n', "run.toml")
    assert load_config(path).rewards[0].verifier == "format"


def test_malformed_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid"):
        load_config(write(tmp_path, "rewards: [\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_duplicate_reward_names():
    with pytest.raises(ConfigError, match="chosen twice"):
        validate_config({"rewards": [{"verifier": "format"}, {"verifier": "format"}]})


def test_run_dir_default():
    assert str(RunConfig(rewards=[{"verifier": "format"}]).run_dir) == "runs/tiny"
