"""One parser for the values of ``--option NAME.key=value`` and ``--set key.path=value``.

The text is read as JSON, a YAML flow list or map, or a number (``1e-5`` too), else kept as a
string. Non-finite numbers are refused: no option or setting of
this project means NaN or infinity, and one such value poisons a training run.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

from grpo_core.errors import ConfigError


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_non_finite(v) for v in value)
    return False


def parse_value(raw: str, where: str) -> Any:
    """The value of ``raw``; ``where`` (e.g. ``--set 'a.b=nan'``) names the flag in errors.

    JSON first; a YAML flow collection (``[a, b]``, ``{k: v}``) next; then a number; else the text
    itself (so ``no`` or ``2024-01-01`` stay strings rather than YAML 1.1 booleans and dates).
    """
    text = raw.strip()
    value: Any = raw
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        if text[:1] in "[{" and text:
            import yaml  # here, not at import: only a YAML flow collection needs it (~10 ms)

            try:
                value = yaml.safe_load(text)
            except (yaml.YAMLError, RecursionError):
                value = raw
        else:
            with contextlib.suppress(ValueError):
                value = float(text) if any(c in text.lower() for c in ".e") else int(text)
    if _non_finite(value):
        raise ConfigError(f"{where}: the value must be a finite number (NaN and infinity are refused)")
    return value


def split_list(value: Any) -> Any:
    """``a,b`` given for a list option: the list ``["a", "b"]`` (JSON/YAML lists pass unchanged)."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value
