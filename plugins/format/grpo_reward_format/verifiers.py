"""Checks of the DeepSeek-R1 template ``<think>…</think><answer>…</answer>``.

``format`` gives 1.0 or 0.0: ``strict`` needs the whole completion to be exactly the template
(each tag once, nothing outside it but whitespace); ``soft`` needs the four tags in order anywhere.
``tag_count`` gives partial credit, 0.25 per tag that appears exactly once, a denser signal early in
training when the model has not found the template yet.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator

from grpo_core import Isolation, Sample, Score, Verifier, VerifierOptions

TAG_NAME = re.compile(r"[A-Za-z][\w\-]*\Z")  # with match: ``$`` would let a trailing newline in


class TagOptions(VerifierOptions):
    think_tag: str = "think"
    answer_tag: str = "answer"
    think_prefilled: bool = False
    """The chat template already opened ``<think>`` in the prompt (R1-distill style)."""

    @field_validator("think_tag", "answer_tag")
    @classmethod
    def _tag_name(cls, value: str) -> str:
        if not TAG_NAME.match(value):
            raise ValueError("a tag name is letters, digits, '_' or '-', starting with a letter (no <>)")
        return value

    def tags(self) -> tuple[str, str, str, str]:
        t, a = self.think_tag, self.answer_tag
        return f"<{t}>", f"</{t}>", f"<{a}>", f"</{a}>"


def _completion(sample: Sample, options: TagOptions) -> str:
    text = sample.completion_text
    if options.think_prefilled and not text.lstrip().startswith(f"<{options.think_tag}>"):
        text = f"<{options.think_tag}>" + text
    return text


class FormatOptions(TagOptions):
    mode: Literal["strict", "soft"] = "strict"
    require_content: bool = True
    """Empty ``think`` or ``answer`` sections fail."""


class FormatVerifier(Verifier):
    """1.0 if the completion follows the <think>…</think><answer>…</answer> template, else 0.0."""

    name = "format"
    isolation = Isolation.INLINE
    Options = FormatOptions
    options: FormatOptions

    def __init__(self, options=None) -> None:
        super().__init__(options)
        t, a = (re.escape(self.options.think_tag), re.escape(self.options.answer_tag))
        self._strict = re.compile(
            rf"\A\s*<{t}>(?P<think>.*?)</{t}>\s*<{a}>(?P<answer>.*?)</{a}>\s*\Z", re.DOTALL
        )

    def score(self, sample: Sample) -> Score:
        text = _completion(sample, self.options)
        counts = {tag: text.count(tag) for tag in self.options.tags()}
        if self.options.mode == "strict":
            if any(n != 1 for n in counts.values()):
                return Score.ok(0.0, reason="each tag must appear exactly once", tags=counts)
            match = self._strict.match(text)
            if match is None:
                return Score.ok(0.0, reason="text outside the template or tags out of order", tags=counts)
            sections = {"think": match.group("think"), "answer": match.group("answer")}
        else:
            found = tags_in_order(text, self.options.tags())
            if found is None:
                return Score.ok(0.0, reason="tags missing or out of order", tags=counts)
            sections = {"think": found[0], "answer": found[1]}
        if self.options.require_content:
            empty = [part for part, body in sections.items() if not body.strip()]
            if empty:
                return Score.ok(0.0, reason=f"empty section(s): {', '.join(empty)}", tags=counts)
        return Score.ok(1.0, answer=sections["answer"].strip()[:200])


def tags_in_order(text: str, tags: tuple[str, str, str, str]) -> tuple[str, str] | None:
    """The think and answer sections of the first ``<t>…</t>…<a>…</a>`` in ``text`` (each tag the
    first one after the previous), or None. Four ``find`` calls: the lazy regex this replaces
    backtracked over every ``<t>`` and ``</t>`` when no ``<a>`` followed (cubic: 4,000
    ``<think>x</think>`` pairs did not finish in a minute, in the engine's own process)."""
    positions = []
    at = 0
    for tag in tags:
        found = text.find(tag, at)
        if found < 0:
            return None
        positions.append(found)
        at = found + len(tag)
    think_open, think_close, answer_open, answer_close = positions
    return (
        text[think_open + len(tags[0]) : think_close],
        text[answer_open + len(tags[2]) : answer_close],
    )


class TagCountVerifier(Verifier):
    """0.25 for each of the four template tags that appears exactly once."""

    name = "tag_count"
    isolation = Isolation.INLINE
    Options = TagOptions
    options: TagOptions

    def score(self, sample: Sample) -> Score:
        text = _completion(sample, self.options)
        counts = {tag: text.count(tag) for tag in self.options.tags()}
        return Score.ok(sum(0.25 for n in counts.values() if n == 1), tags=counts)
