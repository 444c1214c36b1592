"""The ``math`` verifier: is the completion's final answer equivalent to the gold answer?

Runs with ``process`` isolation: the engine scores samples in worker processes with a hard
wall-clock kill, so no signal-based timeout is used anywhere (math-verify is called with its own
timeouts disabled). sympy, latex2sympy2_extended and math_verify are imported in :meth:`setup`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from grpo_core.sample import Sample
from grpo_core.verifier import Isolation, Score, Verifier, VerifierOptions
from grpo_reward_math.extract import (
    Extraction,
    compact,
    digest,
    extract_answer,
    has_hedge,
    is_word_answer,
    normalize_key,
)

#: extraction outcomes after which math-verify's search of the completion must not run
_NO_FALLBACK = ("no_think_end", "truncated")


class MathOptions(VerifierOptions):
    """Options of the ``math`` verifier."""

    extraction_priority: tuple[Literal["boxed", "answer_tag", "final_answer", "fallback"], ...] = Field(
        ("boxed", "answer_tag", "final_answer", "fallback"),
        description="where to look for the final answer, in order; 'fallback' = math-verify's own "
        "search of the completion's last part for any math",
    )
    prefer_last: bool = Field(
        True, description="the answer written last wins across methods (else: first method in priority)"
    )
    after_think: bool = Field(False, description="only look after the last </think>")
    tolerance: float = Field(
        0.0,
        ge=0,
        le=0.1,
        description="0: a decimal stands for an irrational gold (\\sqrt{2}, \\pi) only when correctly "
        "rounded to 10+ places; > 0: also with 3+ places within this relative error. Exact "
        "integers and rationals never pass on tolerance",
    )
    list_partial_credit: bool = Field(
        False, description="fraction of list items matched, when the gold is a list"
    )
    missing_answer: Literal["zero", "not_applicable"] = Field(
        "zero", description="score of a completion with no answer found"
    )
    max_answer_chars: int = Field(1000, ge=10, description="longer extracted answers score 0 unparsed")
    allow_truncated_answer: bool = Field(
        False,
        description="count an answer the completion was cut inside (an unclosed <answer> when tags "
        "are looked for, or an unclosed \\boxed{); off: such a completion scores 0",
    )
    reject_prompt_copies: bool = Field(True, description="an expression copied from the prompt is no answer")

    @field_validator("extraction_priority", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value


class MathVerifier(Verifier):
    """Math answer equivalence (sympy + math-verify), hard-bounded and hedge-resistant."""

    name: ClassVar[str] = "math"
    description: ClassVar[str] = "final answer equivalent to the gold `answer` (sympy + math-verify)"
    columns: ClassVar[tuple[str, ...]] = ("answer",)
    isolation: ClassVar[Isolation] = Isolation.PROCESS
    default_timeout: ClassVar[float] = 5.0
    Options: ClassVar[type[VerifierOptions]] = MathOptions
    # Imported once in the workers' fork server: sympy and the LaTeX parser start warm in every worker.
    worker_preload: ClassVar[tuple[str, ...]] = ("grpo_reward_math.warmup",)

    options: MathOptions

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self._eq: Any = None
        self._gold_cache: dict[str, Any] = {}

    def setup(self) -> None:
        from grpo_reward_math import equivalence

        self._eq = equivalence

    # -- cheap part (also runs in the engine's process, for cache keys) ----------------------------
    def _extract(self, sample: Sample) -> Extraction:
        priority = tuple(m for m in self.options.extraction_priority if m != "fallback")
        return extract_answer(
            sample.completion_text,
            priority,
            self.options.after_think,
            self.options.prefer_last,
            self.options.allow_truncated_answer,
        )

    def _copied_from_prompt(self, sample: Sample, answers: list[str], gold: str) -> bool:
        if not self.options.reject_prompt_copies:
            return False
        prompt = sample.prompt_text
        if not prompt or len(answers) != 1:
            return False
        answer = compact(answers[0])
        if len(answer) < 4 or answer.replace(".", "").replace("-", "").isdigit():
            return False
        if not any(ch.isalpha() or ch in "+-*/^\\" for ch in answer):
            return False
        if is_word_answer(answers[0]):
            return False  # a name or word the question offers ("Evelyn", "odd"): choosing it is answering
        if answer == compact(gold):
            return False
        return answer in compact(prompt[-20000:])

    def cache_key(self, sample: Sample) -> Hashable | None:
        gold = str(sample.get("answer", ""))
        extraction = self._extract(sample)
        if extraction.found:
            answer_key: Hashable = tuple(digest(normalize_key(a)) for a in extraction.answers)
            copied = self._copied_from_prompt(sample, extraction.answers, gold)
        elif "fallback" in self.options.extraction_priority and extraction.method not in _NO_FALLBACK:
            answer_key = ("raw", digest(sample.completion_text[-5000:]))
            copied = False
        else:
            answer_key = ("none", extraction.method)
            copied = False
        return (answer_key, digest(gold), copied)

    # -- the real work (worker process) ---------------------------------------------------------------
    def _gold(self, gold: str) -> Any:
        cached = self._gold_cache.get(gold)
        if cached is None:
            try:
                cached = self._eq.analyse_gold(gold, max(self.options.max_answer_chars, 5000))
            except self._eq.Unparseable as exc:
                cached = exc
            if len(self._gold_cache) > 4096:
                self._gold_cache.clear()
            self._gold_cache[gold] = cached
        return cached

    def _missing(self, reason: str, **details: Any) -> Score:
        if self.options.missing_answer == "not_applicable":
            return Score.not_applicable(reason, **details)
        return Score.ok(0.0, reason=reason, **details)

    def score(self, sample: Sample) -> Score:
        if self._eq is None:
            self.setup()
        eq = self._eq
        raw_gold = sample.get("answer")
        if raw_gold is None or (isinstance(raw_gold, str) and not raw_gold.strip()):
            return Score.invalid_input("empty gold answer")
        if isinstance(raw_gold, (list, tuple)):
            raw_gold = ", ".join(str(g) for g in raw_gold)
        gold_text = str(raw_gold)
        gold = self._gold(gold_text)
        if isinstance(gold, Exception):
            reason = (
                str(gold)
                if str(gold).startswith("gold answer")
                else f"gold answer could not be parsed: {gold}"
            )
            return Score.invalid_input(reason, gold=gold_text[:200])
        gold_is_list = len(gold.items) > 1

        extraction = self._extract(sample)
        answers = extraction.answers if extraction.found else []
        method = extraction.method
        if extraction.method == "truncated":
            return Score.ok(0.0, reason="answer cut off (unclosed <answer> or \\boxed{)", method=method)
        if (
            not answers
            and extraction.method not in _NO_FALLBACK
            and "fallback" in self.options.extraction_priority
        ):
            fallback = eq.fallback_answer(sample.completion_text[-4000:])
            if fallback is None:
                return self._missing("no answer found", method="fallback")
            verdict = eq.compare(
                gold, fallback, gold_is_list, self.options.list_partial_credit, self.options.tolerance
            )
            details = {"extracted": fallback.cleaned[:200], "method": "fallback"}
            if verdict.reason:
                details["reason"] = verdict.reason
            return Score.ok(verdict.value, **details)
        if not answers:
            return self._missing("no answer found", method=method)
        details: dict[str, Any] = {"extracted": " | ".join(answers)[:200], "method": method}
        if self._copied_from_prompt(sample, answers, gold_text):
            return Score.ok(0.0, reason="answer copied from the prompt", **details)
        if len(answers) > 1 and not gold_is_list:
            distinct = {normalize_key(a) for a in answers}
            if len(distinct) > 1:
                return Score.ok(0.0, reason="several different final answers", **details)
            answers = answers[:1]
        joined = ", ".join(answers)
        hedged = not gold_is_list and has_hedge(joined)
        # identical strings: equal without parsing (also for answers too large to parse)
        if compact(joined) == compact(gold_text) or compact(joined) == compact(gold.cleaned):
            return Score.ok(1.0, **details)
        try:
            pred = eq.analyse(joined, self.options.max_answer_chars)
        except eq.Unparseable as exc:
            return Score.ok(0.0, reason=f"unparseable answer: {exc}", **details)
        if not any(item.expr is not None or item.text for item in pred.items):
            return Score.ok(0.0, reason="unparseable answer", **details)
        if hedged and len(pred.items) < 2:
            return Score.ok(0.0, reason="hedged answer", **details)
        # a hedge split into its alternatives scores 1 only if every alternative equals the gold
        # ("1/2 or 0.5"); "2 or 3" gets 0
        verdict = eq.compare(
            gold, pred, gold_is_list, self.options.list_partial_credit, self.options.tolerance
        )
        if verdict.reason:
            details["reason"] = verdict.reason
        return Score.ok(verdict.value, **details)
