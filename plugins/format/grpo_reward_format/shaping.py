"""Shaping rewards: DAPO's soft overlong punishment, an n-gram repetition penalty, a cosine length
reward conditioned on another reward's correctness, and open-r1's reasoning-step count.

They are what TRL's ``trl.rewards`` (``get_soft_overlong_punishment``,
``get_repetition_penalty_reward``, ``get_cosine_scaled_reward``) and open-r1 (``reasoning_steps``)
offer, with the same formulas, as grpo-core verifiers: options validated up front, explicit
statuses, and ``length`` reading the ``math`` (or ``code``) result of the same sample through the
engine's verifier dependencies instead of re-verifying the answer itself.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator, model_validator

from grpo_core import Isolation, Sample, Score, Status, Verifier, VerifierOptions, dependency_score
from grpo_reward_format.lengths import completion_ids, load_tokenizer, token_length

HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?$")


class _TokenizerOption(VerifierOptions):
    tokenizer: str | None = Field(
        None, description="local tokenizer (path or cached name) for rows without completion_ids"
    )

    @field_validator("tokenizer")
    @classmethod
    def _local(cls, value: str | None) -> str | None:
        """A path must exist now (not on the first sample); a hub-style name is looked up in the
        local cache when the verifier is set up."""
        if value is None or Path(value).expanduser().is_dir() or HUB_NAME.match(value):
            return value
        raise ValueError(f"no tokenizer directory at {value!r}; give a local path or a cached hub name")


class _TokenLengthVerifier(Verifier):
    """Shared parts of the verifiers that read a completion's token length."""

    isolation = Isolation.INLINE
    options: _TokenizerOption

    def setup(self) -> None:
        if self.options.tokenizer is not None:
            load_tokenizer(self.options.tokenizer)


# -- overlong ---------------------------------------------------------------------------------------
class OverlongOptions(_TokenizerOption):
    max_length: PositiveInt = Field(description="L_max: the completion length limit, in tokens")
    buffer: NonNegativeInt = Field(
        description="L_cache: the punishment ramps from 0 to -1 over the last `buffer` tokens"
    )

    @model_validator(mode="after")
    def _buffer_fits(self) -> OverlongOptions:
        if self.buffer > self.max_length:
            raise ValueError(f"buffer ({self.buffer}) must not exceed max_length ({self.max_length})")
        return self


def soft_overlong(length: int, max_length: int, buffer: int) -> float:
    """DAPO Eq. 13: 0 up to L_max - L_cache, then linear down to -1 at L_max, -1 beyond."""
    start = max_length - buffer
    if length <= start:
        return 0.0
    if length <= max_length:
        return (start - length) / buffer
    return -1.0


class OverlongVerifier(_TokenLengthVerifier):
    """DAPO's soft overlong punishment: 0, ramping to -1 over the last `buffer` tokens, -1 beyond."""

    name = "overlong"
    Options = OverlongOptions
    options: OverlongOptions

    def score(self, sample: Sample) -> Score:
        measured = token_length(sample, self.options.tokenizer)
        if isinstance(measured, str):
            return Score.invalid_input(measured)
        length, source = measured
        value = soft_overlong(length, self.options.max_length, self.options.buffer)
        return Score.ok(value, tokens=length, source=source)


# -- repetition -------------------------------------------------------------------------------------
# One unit per CJK character (Han, kana, Hangul syllables), otherwise runs of word characters.
_CJK = r"\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002fa1f"


@functools.cache
def _unit_re() -> re.Pattern[str]:
    """Compiled on first use (~8 ms, which every command loading the installed plugins would pay)."""
    return re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")


def text_units(text: str) -> list[str]:
    """CJK-aware words: lower-cased word runs, and each CJK character on its own (CJK has no spaces)."""
    return _unit_re().findall(text.lower())


def repetition_fraction(units: list[Hashable], n: int) -> float:
    """1 - distinct n-grams / all n-grams; 0 when there are fewer than n units."""
    if len(units) < n:
        return 0.0
    grams = list(zip(*(units[i:] for i in range(n))))
    return 1.0 - len(set(grams)) / len(grams)


class RepetitionOptions(VerifierOptions):
    ngram_size: PositiveInt = 3
    max_penalty: float = Field(
        -1.0, le=0.0, allow_inf_nan=False, description="value of a fully repeated text"
    )
    unit: Literal["words", "tokens"] = Field(
        "words", description="words: CJK-aware words of the text; tokens: the row's completion_ids"
    )


class RepetitionVerifier(Verifier):
    """n-gram repetition penalty: (1 - distinct/total n-grams) x max_penalty, in [max_penalty, 0]."""

    name = "repetition"
    isolation = Isolation.INLINE
    Options = RepetitionOptions
    options: RepetitionOptions

    def score(self, sample: Sample) -> Score:
        if self.options.unit == "tokens":
            try:
                ids = completion_ids(sample)
            except TypeError as exc:
                return Score.invalid_input(str(exc))
            if ids is None:
                return Score.invalid_input("unit 'tokens' needs the row's completion_ids; use unit 'words'")
            units: list[Hashable] = list(ids)
        else:
            units = list(text_units(sample.completion_text))
        fraction = repetition_fraction(units, self.options.ngram_size)
        value = fraction * self.options.max_penalty if fraction else 0.0
        return Score.ok(value, repeated_fraction=round(fraction, 4), units=len(units))


# -- length (cosine, conditioned on correctness) ----------------------------------------------------
class LengthOptions(_TokenizerOption):
    correctness: str = Field("math", min_length=1, description="the reward whose result says 'correct'")
    correct_threshold: float = Field(
        1.0, allow_inf_nan=False, description="the correctness value at or above which a sample is correct"
    )
    max_length: PositiveInt = Field(description="L_max: length (tokens) at which the cosine reaches its end")
    min_value_wrong: float = Field(-1.0, allow_inf_nan=False)
    max_value_wrong: float = Field(-0.5, allow_inf_nan=False)
    min_value_correct: float = Field(0.5, allow_inf_nan=False)
    max_value_correct: float = Field(1.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> LengthOptions:
        if self.min_value_correct > self.max_value_correct:
            raise ValueError("min_value_correct must not exceed max_value_correct")
        if self.min_value_wrong > self.max_value_wrong:
            raise ValueError("min_value_wrong must not exceed max_value_wrong")
        return self


def cosine_scaled(length: int, max_length: int, correct: bool, options: LengthOptions) -> float:
    """Cosine from the short-length to the long-length bound; wrong answers get the bounds swapped,
    so a short wrong answer is punished most. Past ``max_length`` the value stays at the end."""
    progress = min(length / max_length, 1.0)
    cosine = math.cos(progress * math.pi)
    if correct:
        low, high = options.min_value_correct, options.max_value_correct
    else:
        low, high = options.max_value_wrong, options.min_value_wrong
    return low + 0.5 * (high - low) * (1.0 + cosine)


class LengthVerifier(_TokenLengthVerifier):
    """Cosine-scaled length reward: short correct answers earn most, short wrong ones lose most.

    Correctness is another reward's result for the same sample (``correctness``, default ``math``),
    read through the engine's verifier dependencies; that reward must be chosen in the same run."""

    name = "length"
    Options = LengthOptions
    options: LengthOptions

    def dependencies(self) -> tuple[str, ...]:
        return (self.options.correctness,)

    def score(self, sample: Sample) -> Score:
        upstream = dependency_score(sample, self.options.correctness)
        source = self.options.correctness
        if upstream.status in (Status.ERROR, Status.TIMEOUT):
            return Score.error(f"reward {source!r} has status {upstream.status.value}; correctness unknown")
        if upstream.status is not Status.OK or upstream.value is None:
            return Score.not_applicable(f"reward {source!r} has status {upstream.status.value}")
        measured = token_length(sample, self.options.tokenizer)
        if isinstance(measured, str):
            return Score.invalid_input(measured)
        length, origin = measured
        correct = upstream.value >= self.options.correct_threshold
        value = cosine_scaled(length, self.options.max_length, correct, self.options)
        return Score.ok(value, tokens=length, source=origin, correct=correct)


# -- reasoning steps --------------------------------------------------------------------------------
#: open-r1's step markers ("Step 1:", a leading "1.", bullets, First/Second/Next/Finally).
OPEN_R1_STEP_PATTERN = r"(Step \d+:|^\d+\.|\n-|\n\*|First,|Second,|Next,|Finally,)"


class ReasoningStepsOptions(VerifierOptions):
    pattern: str = Field(OPEN_R1_STEP_PATTERN, min_length=1, description="regex of one step marker")
    target_steps: PositiveInt = Field(3, description="steps for the full reward (open-r1: 3)")
    multiline: bool = Field(False, description="'^' and '$' match at every line (open-r1: off)")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if compiled.match(""):
            raise ValueError("the pattern matches the empty string, so it would count steps everywhere")
        return value


class ReasoningStepsVerifier(Verifier):
    """open-r1's reasoning_steps: min(1, step markers / target_steps)."""

    name = "reasoning_steps"
    isolation = Isolation.INLINE
    Options = ReasoningStepsOptions
    options: ReasoningStepsOptions

    def __init__(self, options=None) -> None:
        super().__init__(options)
        self._pattern = re.compile(self.options.pattern, re.MULTILINE if self.options.multiline else 0)

    def score(self, sample: Sample) -> Score:
        steps = sum(1 for _ in self._pattern.finditer(sample.completion_text))
        return Score.ok(min(1.0, steps / self.options.target_steps), steps=steps)
