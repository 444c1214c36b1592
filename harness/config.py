"""The run config: one YAML (or TOML) file validated with pydantic, plus ``--set key.path=value``.

Sections: ``model``, ``data``, ``rewards``, ``trainer`` (passed to TRL's ``GRPOConfig``, checked
against its fields), ``vllm`` and ``launch``. Every error is a :class:`ConfigError` naming the key
path and what is allowed there; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from grpo_core.checks import duplicate_names, duplicate_rewards_message
from grpo_core.engine import RewardSpec
from grpo_core.errors import ConfigError
from grpo_core.values import parse_value

# R1-Zero's system prompt (DeepSeek-R1 paper, table 1), used when ``data.template: r1``.
R1_SYSTEM_PROMPT = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and "
    "<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> "
    "<answer> answer here </answer>."
)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSettings(Section):
    r: PositiveInt = 16
    alpha: PositiveInt = 32
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class TinyModelSettings(Section):
    """Size of the embedded default model (``model: tiny``); random init, Qwen2 architecture."""

    hidden_size: PositiveInt = 64
    intermediate_size: PositiveInt = 128
    num_hidden_layers: PositiveInt = 2
    num_attention_heads: PositiveInt = 4
    num_key_value_heads: PositiveInt = 2
    seed: int = 0


class ModelConfig(Section):
    name_or_path: str = Field("tiny", description="local path, hub name, or 'tiny' (embedded default)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2", "flash_attention_3"] | None = None
    trust_remote_code: bool = False
    chat_template: str | None = Field(None, description="a Jinja chat template, or a path to one")
    think_prefilled: bool = Field(
        False, description="the chat template's generation prompt opens <think> (R1-Zero style)"
    )
    tiny: TinyModelSettings = Field(default_factory=TinyModelSettings)
    lora: LoraSettings | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"name_or_path": value} if isinstance(value, str) else value

    @property
    def is_tiny(self) -> bool:
        return self.name_or_path == "tiny"


class ArithmeticSettings(Section):
    """The built-in generator: ``a op b`` questions with integer answers."""

    min_operand: int = 0
    max_operand: int = 4
    operations: list[Literal["+", "-", "*"]] = Field(default_factory=lambda: ["+"])
    second_operands: list[int] | None = Field(
        None, description="the values b is drawn from (default: min_operand..max_operand, like a)"
    )


class EvalSplit(Section):
    """The held-out split: a fraction or a count of the source rows, or its own file."""

    size: float = Field(0.1, gt=0, description="a fraction (< 1) or a number of rows (>= 1)")
    path: str | None = None
    seed: int = 0


class DataConfig(Section):
    source: Literal["arithmetic", "jsonl", "parquet", "hf", "reasoning_gym"] = "arithmetic"
    path: str | None = Field(None, description="file (jsonl/parquet), saved dataset dir or hub name (hf)")
    split: str = "train"
    task: str | None = Field(None, description="reasoning_gym task name, e.g. 'basic_arithmetic'")
    size: PositiveInt = 2000
    seed: int = 0
    arithmetic: ArithmeticSettings = Field(default_factory=ArithmeticSettings)
    columns: dict[str, str] = Field(
        default_factory=dict, description="dataset column renames: {prompt: question, answer: solution}"
    )
    template: Literal["r1", "none"] = "r1"
    system_prompt: str | None = Field(None, description="overrides the template's system prompt")
    prompt_format: Literal["chat", "text"] = "chat"
    limit: PositiveInt | None = None
    eval: EvalSplit | None = Field(default_factory=EvalSplit)

    @model_validator(mode="after")
    def _needs(self) -> DataConfig:
        if self.source in ("jsonl", "parquet", "hf") and not self.path:
            raise ValueError(f"source {self.source!r} needs data.path")
        if self.source == "reasoning_gym" and not self.task:
            raise ValueError("source 'reasoning_gym' needs data.task (e.g. basic_arithmetic)")
        return self


class VllmConfig(Section):
    mode: Literal["off", "colocate", "server"] = "off"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    gpus: list[int] | None = Field(None, description="server mode: GPU ids for vLLM; the rest train")
    tensor_parallel_size: PositiveInt = 1
    data_parallel_size: PositiveInt = 1
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    max_model_len: PositiveInt | None = None
    health_timeout_s: float = Field(600, gt=0)
    server_command: list[str] | None = Field(None, description="replaces `vllm serve ...` (tests)")
    weight_sync: Literal["auto", "trl", "reload"] = Field(
        "auto",
        description="how trained weights reach vLLM: trl (TRL's own: NCCL transfer in server mode, "
        "in-place load in colocate; CUDA), reload (vLLM's reload_weights: the CPU/debug path); "
        "auto: trl with CUDA, reload without",
    )


class LaunchConfig(Section):
    """How ``grpo train`` starts the trainer: in-process, or under ``accelerate launch``."""

    accelerate_config: str | None = Field(None, description="e.g. examples/accelerate/zero2.yaml")
    num_processes: PositiveInt | None = None
    gpus: list[int] | None = Field(None, description="GPU ids for training (default: all not used by vLLM)")
    train_command: list[str] | None = Field(None, description="replaces `accelerate launch ...` (tests)")


class ColdStartConfig(Section):
    """A short SFT stage on template demonstrations with *random* answers, before RL.

    It teaches the ``<think>…</think><answer>…</answer>`` layout only; see harness/cold_start.py.
    It runs for ``model: tiny`` (built in this process); with another model ``grpo train`` says it
    is skipped.
    """

    steps: int = Field(0, ge=0, description="0: no cold start")
    batch_size: PositiveInt = 64
    learning_rate: float = Field(3e-3, gt=0)


class RunConfig(Section):
    name: str = "tiny"
    output_dir: str | None = Field(None, description="default: runs/<name>")
    seed: int = 0
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    rewards: list[RewardSpec] = Field(default_factory=list)
    trainer: dict[str, Any] = Field(default_factory=dict)
    vllm: VllmConfig = Field(default_factory=VllmConfig)
    launch: LaunchConfig = Field(default_factory=LaunchConfig)
    cold_start: ColdStartConfig = Field(default_factory=ColdStartConfig)
    truncated_completions: Literal["zero", "score"] = Field(
        "zero",
        description="zero: a completion cut at max_completion_length earns 0 from every verifier",
    )
    final_eval: bool = Field(True, description="evaluate on data.eval before and after RL, print a table")
    eval_samples: PositiveInt = Field(4, description="completions per held-out problem in that table")
    max_error_frac: float = Field(
        0.5, ge=0, le=1, description="default of rewards[].max_error_frac: stop when a verifier fails more"
    )
    error_window: PositiveInt = Field(10, description="reward batches over which that share is measured")

    @field_validator("rewards")
    @classmethod
    def _some_rewards(cls, value: list[RewardSpec]) -> list[RewardSpec]:
        if not value:
            raise ValueError("choose at least one verifier: - verifier: format")
        twice = duplicate_names(spec.reward_name for spec in value)
        if twice:
            raise ValueError(duplicate_rewards_message(twice))
        return value

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir or f"runs/{self.name}")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=False)


# -- errors ------------------------------------------------------------------------------------
def _allowed_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Field names of the model reached by ``loc`` (the container of an unknown key)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = _model_type(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None


def _model_type(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_type(arg)
        if found is not None:
            return found
    return None


def format_errors(exc: ValidationError, model: type[BaseModel] = RunConfig, prefix: str = "") -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        # pydantic appends the union member tried ("function-before[...]"); not a key.
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function"))))
        path = ".".join(str(p) for p in (prefix, *loc) if p != "")
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            allowed = _allowed_at(model, loc[:-1])
            message = "unknown key"
            if allowed:
                close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
                message += f" (did you mean {close[0]!r}?)" if close else ""
                message += f"; allowed keys: {', '.join(allowed)}"
        lines.append(f"{path or '<config>'}: {message}")
    return "\n".join(lines)


# -- loading -----------------------------------------------------------------------------------
def read_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (model, data, rewards, ...)")
    return data


def default_config_text() -> str:
    from harness.defaults import TINY_CONFIG

    return TINY_CONFIG


def default_config_dict() -> dict[str, Any]:
    return yaml.safe_load(default_config_text())


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """``key.path=value``; the value is YAML (numbers, true, [lists], {maps}), else a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: expected key.path=value (e.g. trainer.learning_rate=1e-5)")
    value = parse_value(raw, f"--set {text!r}")
    path: list[str | int] = [int(part) if part.isdigit() else part for part in key.split(".")]
    if any(part == "" for part in path):
        raise ConfigError(f"--set {text!r}: empty component in key path {key!r}")
    return path, value


def apply_override(data: dict[str, Any], path: list[str | int], value: Any, text: str = "") -> None:
    node: Any = data
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                raise ConfigError(f"--set {text}: {'.'.join(map(str, path[: i + 1]))}: no such list item")
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"--set {text}: {'.'.join(map(str, path[:i]))} is not a section")
        if part not in node or node[part] is None:
            node[part] = [] if isinstance(nxt, int) else {}
        node = node[part]
    last = path[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last > len(node):
            raise ConfigError(f"--set {text}: {'.'.join(map(str, path))}: no such list item")
        if last == len(node):
            node.append(value)
        else:
            node[last] = value
    elif isinstance(node, dict):
        node[str(last)] = value
    else:
        raise ConfigError(f"--set {text}: {'.'.join(map(str, path[:-1]))} is not a section")


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> RunConfig:
    """Read the file (or the embedded default when ``path`` is None), apply ``--set``s, validate."""
    data = default_config_dict() if path is None else read_file(path)
    data = copy.deepcopy(data)
    if isinstance(data.get("model"), str):
        data["model"] = {"name_or_path": data["model"]}
    for text in overrides:
        key_path, value = parse_override(text)
        apply_override(data, key_path, value, text)
    return validate_config(data)


def validate_config(data: dict[str, Any]) -> RunConfig:
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("invalid run config:\n" + format_errors(exc)) from None
    check_trainer_keys(config.trainer)
    return config


# -- the trainer section: TRL's GRPOConfig -------------------------------------------------------
# Set by the harness from other sections; a user setting them in `trainer` would be overwritten.
MANAGED_KEYS = {
    "output_dir": "output_dir (top level)",
    "reward_weights": "rewards[].weight",
    "use_vllm": "vllm.mode",
    "vllm_mode": "vllm.mode",
    "vllm_server_host": "vllm.host",
    "vllm_server_port": "vllm.port",
}


def grpo_config_fields() -> dict[str, dataclasses.Field]:
    from trl import GRPOConfig

    return {f.name: f for f in dataclasses.fields(GRPOConfig) if f.init}


def check_trainer_keys(trainer: dict[str, Any]) -> None:
    fields = grpo_config_fields()
    problems = []
    for key in trainer:
        if key in MANAGED_KEYS:
            problems.append(f"trainer.{key}: set by the harness; use {MANAGED_KEYS[key]} instead")
        elif key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            problems.append(f"trainer.{key}: not a field of TRL's GRPOConfig{hint}")
    if problems:
        raise ConfigError("invalid run config:\n" + "\n".join(problems))
