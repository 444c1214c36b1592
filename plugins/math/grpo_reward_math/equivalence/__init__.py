"""Answer equivalence, one step per module.

``values`` (what the steps pass along) · ``latex`` / ``normalise`` / ``units`` (string clean-up) ·
``parse`` (a piece -> a sympy value) · ``answers`` (a whole answer -> items) · ``numeric`` /
``sets`` / ``kinds`` (comparison by kind, with an explicit :class:`Context`) · ``compare`` (whole
answers) · ``fallback`` (math-verify's search when nothing is anchored) · ``warmup``.

Imports sympy, latex2sympy2_extended and math_verify: import this package lazily (the verifier does
so in ``setup()``), never from the plugin's ``__init__``. math-verify is called with its
signal-based timeouts disabled (``timeout_seconds=None``); the engine's process isolation bounds
each sample's wall-clock time instead.
"""

from __future__ import annotations

import logging

from grpo_reward_math.equivalence.answers import analyse, analyse_gold
from grpo_reward_math.equivalence.compare import Verdict, compare
from grpo_reward_math.equivalence.context import Context
from grpo_reward_math.equivalence.fallback import fallback_answer
from grpo_reward_math.equivalence.kinds import items_equal
from grpo_reward_math.equivalence.parse import parse_latex
from grpo_reward_math.equivalence.values import Answer, Item, Unparseable
from grpo_reward_math.equivalence.warmup import warm_up

logging.getLogger("math_verify").setLevel(logging.ERROR)

__all__ = [
    "Answer",
    "Context",
    "Item",
    "Unparseable",
    "Verdict",
    "analyse",
    "analyse_gold",
    "compare",
    "fallback_answer",
    "items_equal",
    "parse_latex",
    "warm_up",
]
