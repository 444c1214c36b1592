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
import time
from collections.abc import Callable, Sequence
from typing import Any

from grpo_core.engine import Engine
from grpo_core.metrics import VerifierMetrics
from grpo_core.verifier import Score, Status

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


def make_reward_function(engine: Engine, name: str, *, log_details: bool = True) -> Callable[..., Any]:
    """The async TRL reward function for the engine's reward ``name``."""
    if name not in engine.names:
        raise KeyError(f"no reward named {name!r}; the engine has {engine.names}")

    async def reward(prompts, completions, completion_ids=None, **kwargs) -> list[float | None]:
        log_metric = kwargs.get("log_metric")
        log_extra = kwargs.get("log_extra")
        columns = {k: v for k, v in kwargs.items() if k not in TRL_KWARGS}
        if completion_ids is not None:  # token lengths for the length/overlong rewards
            columns["completion_ids"] = completion_ids
        samples = build_samples(prompts, completions, columns)
        started = time.perf_counter()
        scores, metrics = await engine.score_verifier(name, samples)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if log_metric is not None:
            for key, value in batch_metrics(name, metrics).items():
                log_metric(key, value)
            log_metric(f"verifiers/{name}/batch_ms", elapsed_ms)
        if log_extra is not None and log_details:
            log_extra(f"{name}/status", [score.status.value for score in scores])
            log_extra(f"{name}/details", [_details_text(score) for score in scores])
        return [score.value for score in scores]

    reward.__name__ = name
    reward.__qualname__ = name
    reward.__doc__ = f"grpo_core reward {name!r} (TRL adapter)."
    return reward


def make_reward_functions(engine: Engine, *, log_details: bool = True) -> list[Callable[..., Any]]:
    """One reward function per verifier, in the config's order (the order of ``reward_weights``)."""
    return [make_reward_function(engine, name, log_details=log_details) for name in engine.names]


def reward_weights(engine: Engine) -> list[float]:
    return [engine.weights[name] for name in engine.names]
