"""grpo-core verifiers as verl's ``custom_reward_function``.

In a verl config::

    custom_reward_function:
      path: /site-packages/grpo_core/verl_adapter.py  # print(grpo_core.verl_adapter.__file__)
      name: compute_score              # or compute_score_batch with reward_model.reward_manager=batch
      reward_kwargs:
        rewards: "math=1.0,format=0.2"   # or a JSON list of reward specs

verl calls ``compute_score(data_source=, solution_str=, ground_truth=, extra_info=, **reward_kwargs)``
per sample (``compute_score_batch(data_sources=, solution_strs=, ground_truths=, extra_infos=)`` for
its batch manager). Without ``reward_kwargs`` the settings come from the environment:
``GRPO_REWARDS`` (same forms), ``GRPO_LABEL_COLUMN`` (the column ``ground_truth`` fills, default
``answer``), ``GRPO_ON_MISSING`` (value of a sample no verifier scored; unset = raise, so a failing
verifier stops the run instead of training on zeros). ``extra_info`` keys become row columns
(``tests``, ``language``, ...). The result is ``{"score": weighted sum, <reward>: value, ...}``; verl
logs the extra keys. One Engine per process and configuration is kept for the process's life.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from grpo_core.engine import Engine
from grpo_core.errors import ConfigError

REWARDS_ENV = "GRPO_REWARDS"
LABEL_ENV = "GRPO_LABEL_COLUMN"
ON_MISSING_ENV = "GRPO_ON_MISSING"

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


class RewardUnavailableError(RuntimeError):
    """No verifier gave this sample a value (error, timeout, invalid row): not silently a 0."""


def parse_rewards(raw: str | Sequence[Any]) -> list[dict[str, Any]]:
    """``"math=1.0,format=0.2"``, a JSON list of reward specs, or that list itself."""
    if not isinstance(raw, str):
        return [dict(spec) if isinstance(spec, Mapping) else {"verifier": str(spec)} for spec in raw]
    text = raw.strip()
    if not text:
        raise ConfigError(f"{REWARDS_ENV} is empty: name at least one verifier, e.g. math=1.0,format=0.2")
    if text.startswith("["):
        try:
            specs = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{REWARDS_ENV}: not valid JSON: {exc}") from None
        return parse_rewards(specs)
    specs = []
    for item in text.split(","):
        name, sep, weight = item.strip().partition("=")
        try:
            specs.append({"verifier": name.strip(), "weight": float(weight) if sep else 1.0})
        except ValueError:
            raise ConfigError(f"{REWARDS_ENV}: weight {weight!r} of {name!r} is not a number") from None
    return specs


def _settings(kwargs: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str, float | None]:
    raw = kwargs.get("rewards", os.environ.get(REWARDS_ENV))
    if raw is None:
        raise ConfigError(
            f"no rewards configured: set reward_kwargs.rewards or {REWARDS_ENV} (e.g. 'math=1.0,format=0.2')"
        )
    label = str(kwargs.get("label_column", os.environ.get(LABEL_ENV, "answer")))
    missing = kwargs.get("on_missing", os.environ.get(ON_MISSING_ENV))
    if missing is not None and not isinstance(missing, int | float):
        try:
            missing = float(missing)
        except ValueError:
            raise ConfigError(f"{ON_MISSING_ENV}={missing!r}: expected a number") from None
    if missing is not None and not math.isfinite(missing):
        raise ConfigError(f"{ON_MISSING_ENV}: expected a finite number, got {missing!r}")
    return parse_rewards(raw), label, missing


def _engine(specs: list[dict[str, Any]]) -> Engine:
    key = json.dumps(specs, sort_keys=True, default=str)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = Engine(specs)
        return engine


@atexit.register
def close_engines() -> None:
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close()


def _row(
    data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Any, label: str
) -> dict[str, Any]:
    row: dict[str, Any] = dict(extra_info) if isinstance(extra_info, Mapping) else {}
    row.setdefault("prompt", "")
    row["data_source"] = data_source
    if ground_truth is not None:
        row[label] = ground_truth
    row["completion"] = solution_str
    return row


def _results(rows: list[dict[str, Any]], kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    specs, _, on_missing = _settings(kwargs)
    engine = _engine(specs)
    result = engine.score(rows)
    out = []
    for i, total in enumerate(result.rewards):
        if total is None:
            if on_missing is None:
                statuses = {name: scores[i].status.value for name, scores in result.scores.items()}
                details = {name: dict(scores[i].details) for name, scores in result.scores.items()}
                raise RewardUnavailableError(
                    f"no verifier scored this sample (statuses {statuses}, details {details}); set "
                    f"{ON_MISSING_ENV} to a value to train on anyway"
                )
            total = on_missing
        entry: dict[str, Any] = {"score": float(total)}
        for name in engine.names:
            entry[name] = result.scores[name][i].value
        out.append(entry)
    return out


def compute_score(
    data_source: Any = None,
    solution_str: Any = "",
    ground_truth: Any = None,
    extra_info: Any = None,
    **reward_kwargs: Any,
) -> dict[str, Any]:
    """verl's per-sample reward function."""
    _, label, _ = _settings(reward_kwargs)
    return _results([_row(data_source, solution_str, ground_truth, extra_info, label)], reward_kwargs)[0]


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[Any],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None = None,
    **reward_kwargs: Any,
) -> list[dict[str, Any]]:
    """verl's batch reward function (``reward_manager: batch``): one engine call per batch."""
    n = len(solution_strs)
    infos = list(extra_infos) if extra_infos is not None else [None] * n
    if not (len(data_sources) == len(ground_truths) == len(infos) == n):
        raise ValueError("data_sources, solution_strs, ground_truths and extra_infos differ in length")
    _, label, _ = _settings(reward_kwargs)
    rows = [_row(d, s, g, e, label) for d, s, g, e in zip(data_sources, solution_strs, ground_truths, infos)]
    return _results(rows, reward_kwargs)
