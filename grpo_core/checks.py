"""The checks every entry point applies to rewards and rows, kept in one place.

Required columns are checked by the engine (per sample), ``grpo score`` (per input line) and the
training data loader (per dataset row); unique reward names by the engine and the run config. One
implementation keeps their rules and messages the same.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from grpo_core.errors import ConfigError, DataError


def duplicate_names(names: Iterable[str]) -> list[str]:
    """Names that occur more than once, sorted."""
    seen: set[str] = set()
    twice: set[str] = set()
    for name in names:
        (twice if name in seen else seen).add(name)
    return sorted(twice)


def duplicate_rewards_message(twice: Sequence[str]) -> str:
    return f"reward(s) {list(twice)} chosen twice; give one a distinct `name`"


def check_unique_reward_names(names: Iterable[str]) -> None:
    twice = duplicate_names(names)
    if twice:
        raise ConfigError(duplicate_rewards_message(twice))


def missing_columns(row: Mapping[str, Any], required: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    """(reward name, column) pairs that ``row`` lacks."""
    return [(name, col) for name, cols in required.items() for col in cols if col not in row]


def check_row_columns(
    row: Mapping[str, Any], required: Mapping[str, Iterable[str]], where: str, fix: str
) -> None:
    """Raise a DataError naming ``where`` (``file:line`` or ``data: row 3``), verifier and column."""
    missing = missing_columns(row, required)
    if missing:
        name, column = missing[0]
        raise DataError(f"{where}: row lacks column {column!r}, which verifier {name!r} needs; {fix}")


def finite(value: Any, field: str) -> float:
    """``value`` as a finite float, or a ConfigError naming ``field`` (a NaN reward poisons training)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{field}: expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f"{field}: must be a finite number, got {value!r}")
    return number
