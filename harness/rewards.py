"""TRL reward functions backed by the grpo_core engine: one ``async def`` per chosen verifier.

TRL (>= 1.x) calls every reward function with ``prompts, completions, completion_ids,
trainer_state, log_extra, log_metric`` and each dataset column (one value per completion) as
keyword arguments, and runs ``async`` ones concurrently on its own event loop. Each function here is
named after its reward (``__name__``), so TRL logs ``rewards/<name>/mean|std``; it returns
``list[float | None]`` (``None``: no reward, which TRL ignores rather than counting as 0).

The engine's figures for the batch (status counts, latency, cache hits) go to ``log_metric`` under
``verifiers/<name>/...``; per-sample status and details go to ``log_extra`` (the completions table).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grpo_core.engine import Engine, RewardSpec, format_validation_error
from grpo_core.metrics import VerifierMetrics
from grpo_core.verifier import Score, Status
from harness.health import VerifierHealth

# Keyword arguments TRL passes that are not dataset columns.
TRL_KWARGS = ("trainer_state", "log_extra", "log_metric", "environments")
DETAILS_MAX_CHARS = 300


def build_samples(
    prompts: Sequence[Any], completions: Sequence[Any], columns: dict[str, Sequence[Any]]
) -> list[dict[str, Any]]:
    """One ``{prompt, completion, **columns}`` sample per completion (TRL repeats the columns)."""
    samples = []
    for i, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
        sample = {"prompt": prompt, "completion": completion}
        for key, values in columns.items():
            sample[key] = values[i]
        samples.append(sample)
    return samples


def batch_metrics(name: str, metrics: VerifierMetrics) -> dict[str, float]:
    """Scalar figures of one batch, as ``verifiers/<name>/<figure>``."""
    summary = metrics.summary()
    prefix = f"verifiers/{name}"
    figures: dict[str, float] = {}
    count = max(1, summary["count"])
    for status in Status:
        figures[f"{prefix}/{status.value}_frac"] = summary["status"][status.value] / count
    figures[f"{prefix}/cache_hit_rate"] = summary["cache_hit_rate"]
    for key in ("latency_p50_ms", "latency_p95_ms"):
        if summary[key] is not None:
            figures[f"{prefix}/{key}"] = summary[key]
    return figures


def _details_text(score: Score) -> str:
    text = json.dumps(dict(score.details), default=str, ensure_ascii=False)
    return text if len(text) <= DETAILS_MAX_CHARS else text[: DETAILS_MAX_CHARS - 1] + "…"


def is_truncated(ids: Sequence[int] | None, stop_ids: set[int]) -> bool:
    """Cut at the length limit: the completion did not end with EOS/pad (TRL's own test)."""
    return bool(ids) and int(ids[-1]) not in stop_ids


def make_reward_function(
    engine: Engine,
    name: str,
    *,
    log_details: bool = True,
    health: VerifierHealth | None = None,
    stop_ids: set[int] | None = None,
) -> Callable[..., Any]:
    """The async TRL reward function for the engine's reward ``name``.

    ``stop_ids`` (EOS/pad ids): a completion cut at the length limit unfinished earns 0.0 without
    being verified, so a model cannot farm reward from text it never finished. ``health`` records
    each batch's errors and timeouts (see :mod:`harness.health`).
    """
    if name not in engine.names:
        raise KeyError(f"no reward named {name!r}; the engine has {engine.names}")

    async def reward(prompts, completions, completion_ids=None, **kwargs) -> list[float | None]:
        log_metric = kwargs.get("log_metric")
        log_extra = kwargs.get("log_extra")
        columns = {k: v for k, v in kwargs.items() if k not in TRL_KWARGS}
        if completion_ids is not None:  # token lengths for the length/overlong rewards
            columns["completion_ids"] = completion_ids
        samples = build_samples(prompts, completions, columns)
        cut = [False] * len(samples)
        if stop_ids is not None and completion_ids is not None:
            cut = [is_truncated(ids, stop_ids) for ids in completion_ids]
        scored_index = [i for i, c in enumerate(cut) if not c]
        started = time.perf_counter()
        scores: list[Score] = [Score.ok(0.0, reason="cut at max_completion_length")] * len(samples)
        if scored_index:
            batch_scores, metrics = await engine.score_verifier(name, [samples[i] for i in scored_index])
            for i, score in zip(scored_index, batch_scores, strict=True):
                scores[i] = score
        elapsed_ms = (time.perf_counter() - started) * 1000
        if health is not None:
            health.record(name, [scores[i] for i in scored_index])
        if log_metric is not None:
            if scored_index:
                for key, value in batch_metrics(name, metrics).items():
                    log_metric(key, value)
            log_metric(f"verifiers/{name}/truncated_frac", sum(cut) / max(1, len(cut)))
            log_metric(f"verifiers/{name}/batch_ms", elapsed_ms)
        if log_extra is not None and log_details:
            statuses = ["truncated" if c else score.status.value for c, score in zip(cut, scores)]
            log_extra(f"{name}/status", statuses)
            log_extra(f"{name}/details", [_details_text(score) for score in scores])
        return [score.value for score in scores]

    reward.__name__ = name
    reward.__qualname__ = name
    reward.__doc__ = f"grpo_core reward {name!r} (TRL adapter)."
    return reward


def make_reward_functions(
    engine: Engine,
    *,
    log_details: bool = True,
    health: VerifierHealth | None = None,
    stop_ids: set[int] | None = None,
) -> list[Callable[..., Any]]:
    """One reward function per verifier, in the config's order (the order of ``reward_weights``)."""
    return [
        make_reward_function(engine, name, log_details=log_details, health=health, stop_ids=stop_ids)
        for name in engine.names
    ]


def reward_weights(engine: Engine) -> list[float]:
    return [engine.weights[name] for name in engine.names]


# -- the public entry point for a user's own TRL script ----------------------------------------------
@dataclass
class TrlRewards:
    """What :func:`trl_rewards` returns: unpacks as ``reward_funcs, reward_weights``.

    Pass ``reward_funcs`` to ``GRPOTrainer(reward_funcs=...)`` and ``reward_weights`` to
    ``GRPOConfig(reward_weights=...)`` (TRL would otherwise weigh every function 1.0). ``close()``
    (or ``with``) stops the engine's worker processes when training is done.
    """

    reward_funcs: list[Callable[..., Any]]
    reward_weights: list[float]
    engine: Engine

    def __iter__(self) -> Iterator[Any]:
        yield self.reward_funcs
        yield self.reward_weights

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> TrlRewards:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def trl_rewards(rewards: Sequence[Mapping[str, Any] | RewardSpec], *, registry: Any = None) -> TrlRewards:
    """Reward specs -> ``(reward_funcs, reward_weights)`` for TRL's ``GRPOTrainer``.

    Each spec is what a run config's ``rewards`` list holds: ``{verifier, weight, options, name,
    timeout, on_error, ...}``. Every spec must state its ``weight``: none is assumed, so a weight
    never silently becomes 1.0. Verifier names and options are checked here (``ConfigError`` naming
    ``rewards[i]...``), before any model loads::

        funcs, weights = trl_rewards([{"verifier": "math", "weight": 2.0},
                                      {"verifier": "format", "weight": 1.0}])
        args = GRPOConfig(..., reward_weights=weights)
        GRPOTrainer(model=..., reward_funcs=funcs, args=args, train_dataset=...)
    """
    from pydantic import ValidationError

    from grpo_core.errors import ConfigError

    if isinstance(rewards, (str, Mapping)) or not isinstance(rewards, Sequence):
        raise ConfigError("rewards: expected a list of specs, e.g. [{'verifier': 'math', 'weight': 1.0}]")
    if not rewards:
        raise ConfigError(
            "rewards: choose at least one verifier, e.g. [{'verifier': 'format', 'weight': 1.0}]"
        )
    specs = []
    for index, item in enumerate(rewards):
        where = f"rewards[{index}]"
        if isinstance(item, RewardSpec):
            spec, explicit = item, "weight" in item.model_fields_set
        elif isinstance(item, Mapping):
            try:
                spec = RewardSpec.model_validate(dict(item))
            except ValidationError as exc:
                raise ConfigError(format_validation_error(exc, where)) from None
            explicit = "weight" in item
        else:
            raise ConfigError(
                f"{where}: expected a mapping like {{'verifier': 'math', 'weight': 1.0}}, got {item!r}"
            )
        if not explicit:
            raise ConfigError(
                f"{where}.weight: state the weight of {spec.reward_name!r} (e.g. 1.0); none is assumed"
            )
        if not math.isfinite(spec.weight):
            raise ConfigError(f"{where}.weight: {spec.weight} is not a finite number")
        specs.append(spec)
    engine = Engine(specs, registry=registry)
    return TrlRewards(make_reward_functions(engine), reward_weights(engine), engine)
