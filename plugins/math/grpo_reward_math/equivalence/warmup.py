"""Warm-up: fill the LaTeX parser's prediction tables and sympy's caches before workers fork."""

from __future__ import annotations

from grpo_reward_math.equivalence.answers import analyse
from grpo_reward_math.equivalence.compare import compare

WARMUP_ANSWERS = (
    "\\frac{1}{2}",
    "3\\sqrt{2}",
    "\\frac{9a+11}{20}",
    "x^2 - 1",
    "(x-1)(x+1)",
    "[0, 1)",
    "(-\\infty, -1) \\cup (1, \\infty)",
    "(1, 2), (3, 4)",
    "\\{1, 2, 3\\}",
    "y = 2x + 3",
    "x \\le 3",
    "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
    "25\\%",
    "\\frac{\\pi}{3}",
    "2^{10}",
    "\\sin^2 x + \\cos^2 x",
    "\\log_2 8",
    "1 \\pm \\sqrt{19}",
    "e^{2}",
    "3+4i",
)


def warm_up() -> None:
    """Parse and compare representative answers once, so the LaTeX parser's prediction tables and
    sympy's caches are filled; processes forked afterwards (the engine's workers) inherit them."""
    answers = []
    for text in WARMUP_ANSWERS:
        try:
            answers.append(analyse(text, 1000))
        except Exception:
            continue
    for a, b in zip(answers, answers[1:] + answers[:1]):
        try:
            compare(a, b, False, False)
            compare(a, a, False, False)
        except Exception:
            continue
