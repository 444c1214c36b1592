"""Split a chain of thought into the steps a PRM scores.

Pure string work (no tokenizer): it runs in ``cache_key`` on the engine's thread, so it stays
linear in the input. Nothing is dropped: with a step limit, the tail is merged into the last step,
so a wrong step after the limit is still in front of the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


@dataclass(frozen=True, slots=True)
class StepRule:
    """How to cut a text: ``mode`` is ``paragraphs`` (blank lines), ``lines`` or ``regex``."""

    mode: str = "paragraphs"
    pattern: str | None = None
    max_steps: int | None = None


def reasoning_text(completion: str, scope: str) -> str | None:
    """The text whose steps are scored; ``None`` when ``scope="think"`` finds no reasoning block.

    ``think``: the text inside ``<think>…</think>``; an unopened ``…</think>`` (template prefilled the
    tag) or an unclosed ``<think>…`` (generation cut off) counts too. ``completion``: everything.
    """
    if scope == "completion":
        return completion
    start = completion.find(THINK_OPEN)
    end = completion.find(THINK_CLOSE, start + len(THINK_OPEN) if start >= 0 else 0)
    if start >= 0:
        return completion[start + len(THINK_OPEN) : end if end >= 0 else len(completion)]
    if end >= 0:
        return completion[:end]
    return None


def split_steps(text: str, rule: StepRule) -> list[str]:
    """Non-empty, stripped steps of ``text``; whitespace-only pieces are merged away."""
    if rule.mode == "paragraphs":
        pieces = re.split(r"\n[ \t\r\f\v]*\n", text)
    elif rule.mode == "lines":
        pieces = text.splitlines()
    elif rule.mode == "regex":
        assert rule.pattern is not None, "regex mode needs a pattern"
        pieces = re.split(rule.pattern, text)
    else:
        raise ValueError(f"unknown step mode {rule.mode!r}")
    # re.split returns captured groups too (None for groups that did not take part).
    steps = [piece.strip() for piece in pieces if isinstance(piece, str) and piece.strip()]
    if rule.max_steps is not None and len(steps) > rule.max_steps:
        head, tail = steps[: rule.max_steps - 1], steps[rule.max_steps - 1 :]
        joiner = "\n" if rule.mode == "lines" else "\n\n"
        steps = [*head, joiner.join(tail)]
    return steps


def remove_markers(text: str, markers: tuple[str, ...]) -> str:
    """Blank out the adapter's scoring markers in model-written text.

    A completion that spells ``<extra_0>`` (or Math-Shepherd's ``ки``) would otherwise add score
    positions of its own choosing. Each marker becomes a space, not nothing: deleting it could join
    its neighbours into a new marker (``<extra_<extra_0>0>``); markers hold no whitespace, so a
    space cannot be part of one and one pass is enough.
    """
    for marker in markers:
        marker = marker.strip()
        if marker:
            text = text.replace(marker, " ")
    return text
