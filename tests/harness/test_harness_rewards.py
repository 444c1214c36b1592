"""The reward adapter against TRL's real call convention (GRPOTrainer._calculate_rewards)."""

from __future__ import annotations

import asyncio
import math
import os

import pytest

from grpo_core.engine import Engine
from harness.rewards import build_samples, make_reward_functions, reward_weights

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_functions_are_async_and_named_after_rewards(registry):
    with Engine(
        [{"verifier": "format", "weight": 0.5}, {"verifier": "inline_echo", "name": "echo", "weight": 2}],
        registry=registry,
    ) as engine:
        funcs = make_reward_functions(engine)
        assert [f.__name__ for f in funcs] == ["format", "echo"]
        assert all(asyncio.iscoroutinefunction(f) for f in funcs)
        assert reward_weights(engine) == [0.5, 2.0]


def test_build_samples_spreads_columns():
    samples = build_samples(["p1", "p2"], ["c1", "c2"], {"answer": ["1", "2"]})
    assert samples == [
        {"prompt": "p1", "completion": "c1", "answer": "1"},
        {"prompt": "p2", "completion": "c2", "answer": "2"},
    ]


def test_direct_call_with_trl_kwargs_logs_metrics_and_details(registry):
    metrics, extra = {}, {}
    with Engine([{"verifier": "needs_answer"}], registry=registry) as engine:
        (func,) = make_reward_functions(engine)
        values = asyncio.run(
            func(
                prompts=["a", "b", "c"],
                completions=["1", "2", "x"],
                completion_ids=[[1], [2], [3]],
                trainer_state=None,
                log_extra=lambda column, vals: extra.setdefault(column, []).extend(vals),
                log_metric=lambda name, value: metrics.setdefault(name, value),
                answer=["1", "3", "x"],
            )
        )
    assert values == [1.0, 0.0, 1.0]
    assert extra["needs_answer/status"] == ["ok", "ok", "ok"]
    assert len(extra["needs_answer/details"]) == 3
    assert metrics["verifiers/needs_answer/ok_frac"] == 1.0
    assert "verifiers/needs_answer/cache_hit_rate" in metrics


@pytest.fixture(scope="module")
def tiny_trainer_factory():
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from harness.tiny import build_model, train_tokenizer

    tokenizer = train_tokenizer(["<think> </think> <answer> </answer> 0 1 2 3 4 5 6 7 8 9 + raise"])
    rows = [{"prompt": [{"role": "user", "content": "1+1"}], "answer": "2"}] * 4

    def make(engine, tmp_path):
        args = GRPOConfig(
            output_dir=str(tmp_path),
            use_cpu=True,
            bf16=False,
            per_device_train_batch_size=4,
            num_generations=2,
            max_completion_length=4,
            report_to="none",
            max_steps=1,
            reward_weights=reward_weights(engine),
        )
        return GRPOTrainer(
            model=build_model(tokenizer),
            processing_class=tokenizer,
            args=args,
            reward_funcs=make_reward_functions(engine),
            train_dataset=Dataset.from_list(rows),
        )

    return make


def test_trl_calculate_rewards_calls_the_adapter(registry, tiny_trainer_factory, tmp_path):
    """TRL's own reward dispatch: dataset columns, None -> NaN, names, metrics and extra columns."""
    with Engine(
        [
            {"verifier": "format", "weight": 1.0},
            {"verifier": "misbehaving", "name": "echo", "weight": 0.5},
            {"verifier": "needs_answer"},
        ],
        registry=registry,
    ) as engine:
        trainer = tiny_trainer_factory(engine, tmp_path)
        assert trainer.reward_func_names == ["format", "echo", "needs_answer"]
        assert trainer.reward_weights.tolist() == [1.0, 0.5, 1.0]
        completions = [
            [{"role": "assistant", "content": "<think>x</think><answer>2</answer>"}],
            [{"role": "assistant", "content": "0.25"}],
            [{"role": "assistant", "content": "raise"}],
            [{"role": "assistant", "content": "2"}],
        ]
        prompts = [[{"role": "user", "content": "1+1"}]] * 4
        inputs = [{"prompt": p, "answer": "2"} for p in prompts]
        rewards = trainer._calculate_rewards(inputs, prompts, completions, [[1]] * 4)
        fmt, echo, needs = rewards[:, 0].tolist(), rewards[:, 1].tolist(), rewards[:, 2].tolist()
        assert fmt == [1.0, 0.0, 0.0, 0.0]
        assert math.isnan(echo[0]) and echo[1] == 0.25 and math.isnan(echo[2]) and echo[3] == 2.0
        assert needs == [0.0, 0.0, 0.0, 1.0]
        pending = trainer._pending_metrics
        assert pending["verifiers/echo/error_frac"] == [0.5]  # "raise" and the template text both fail
        assert "verifiers/format/ok_frac" in pending
        assert trainer._pending_extra_logs["echo/status"] == ["error", "ok", "error", "ok"]
        assert len(trainer._pending_extra_logs["format/details"]) == 4
