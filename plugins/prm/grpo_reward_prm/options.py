"""The ``prm`` verifier's options, checked when the run config is read (before any model loads)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator, model_validator

from grpo_core import VerifierOptions
from grpo_reward_prm.adapters import QWEN_SYSTEM_PROMPT

DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class PRMOptions(VerifierOptions):
    model: str = Field(description="model directory or hub id (local: the weights; served: the tokenizer)")
    adapter: Literal["qwen_prm", "math_shepherd", "token_classification"] = "qwen_prm"
    mode: Literal["local", "served"] = "local"
    aggregation: Literal["min", "product", "last", "mean"] = "min"
    # -- steps --
    scope: Literal["think", "completion"] = Field(
        "think", description="score the <think> block (none: not applicable) or the whole completion"
    )
    split: Literal["paragraphs", "lines", "regex"] = "paragraphs"
    split_regex: str | None = Field(None, description="split: regex: the separator pattern")
    max_steps: PositiveInt | None = Field(None, description="more steps are merged into the last one")
    question_column: str | None = Field(None, description="dataset column with the question; default: prompt")
    # -- adapters --
    step_token: str | None = Field(None, description="qwen_prm: <extra_0>; math_shepherd: ки")
    good_token: str = "+"
    bad_token: str = "-"
    step_separator: str = Field("\n", description="token_classification: text after each step")
    system_prompt: str | None = QWEN_SYSTEM_PROMPT
    positive_label: NonNegativeInt = Field(1, description="label index of a good step")
    max_length: PositiveInt | None = Field(
        None, description="longest input in tokens (default: the model's context); longer: not_applicable"
    )
    # -- local --
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    token_budget: PositiveInt | None = Field(
        None, description="padded tokens per forward pass; default 16384 on a GPU, 2048 on a CPU"
    )
    batch_size: PositiveInt = Field(256, description="samples per scoring call")
    trust_remote_code: bool = False
    # -- served --
    url: str | None = Field(None, description="served: base URL of the pooling server (or its /pooling URL)")
    served_model: str | None = Field(None, description="served: model name in requests; default: model")
    served_output: Literal["probabilities", "logits"] = "probabilities"
    request_timeout: PositiveFloat = 60.0
    retries: NonNegativeInt = 2
    concurrency: PositiveInt = 4
    request_size: PositiveInt = Field(32, description="served: inputs per HTTP request")
    api_key_env: str | None = Field(None, description="served: environment variable holding a bearer key")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not DEVICE.match(value):
            raise ValueError("use auto, cpu, mps, cuda or cuda:N")
        return value

    @field_validator("split_regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
            if re.fullmatch(value, ""):
                raise ValueError(
                    "the pattern matches the empty string; it would split between every character"
                )
        return value

    @field_validator("step_token", "good_token", "bad_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(ch.isspace() for ch in value)):
            raise ValueError("a marker token must be non-empty and hold no whitespace")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("give an http(s) URL such as http://127.0.0.1:8000")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PRMOptions:
        if self.split == "regex" and self.split_regex is None:
            raise ValueError("split: regex needs split_regex (the separator pattern)")
        if self.mode == "served" and self.url is None:
            raise ValueError("mode: served needs url (the pooling server, e.g. http://127.0.0.1:8000)")
        looks_local = self.model.startswith(("/", "./", "../", "~"))
        if looks_local and not Path(self.model).expanduser().is_dir():
            raise ValueError(f"model: no directory {self.model!r} (give a model directory or a hub id)")
        return self

    @property
    def pooling_url(self) -> str:
        assert self.url is not None
        url = self.url.rstrip("/")
        return url if url.endswith("/pooling") else url + "/pooling"
