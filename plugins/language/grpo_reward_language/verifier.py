"""The ``language`` verifier: DeepSeek-R1's language-consistency reward.

Reward = units in the target language / all linguistic units of the chain of thought (see
:mod:`~grpo_reward_language.units` for what a unit is). A text with no linguistic content (only
code, math or numbers) is not applicable: it has no language to be consistent in.

Alphabetic sentences of at least ``min_words`` words are identified one by one: a confident
identification (probability >= 0.6) decides; an ambiguous one (close languages such as es/pt or
fr/it splitting the mass) counts as the target only when the whole text's language is the target
too, so a Portuguese CoT does not earn Spanish credit sentence by sentence. Shorter ones ("So
x = 4.", "OK.") are too short to identify, so they take the decision of the nearest identified
sentence of the same script (the one before, else the one after); when the text has none, they are
pooled and identified together, and count as the target when the model ranks it among its top
three (a one-word reply cannot be shown to be in another language). Words in a script the target
language is never written in (Cyrillic for ``en``, any alphabet for ``zh``) need no model.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from pydantic import Field, field_validator

from grpo_core import Isolation, Sample, Score, Verifier, VerifierOptions
from grpo_reward_language.identify import identify, labels, load_model
from grpo_reward_language.text import chain_of_thought, strip_non_linguistic
from grpo_reward_language.units import CHARS_PER_UNIT, Sentence, sentences

CJK_LANGUAGES = frozenset(CHARS_PER_UNIT)
#: languages written in Latin or Cyrillic script only: words of the other script are never theirs.
LATIN_ONLY = frozenset(
    [
        "af",
        "ca",
        "cs",
        "cy",
        "da",
        "de",
        "en",
        "eo",
        "es",
        "et",
        "eu",
        "fi",
        "fr",
        "ga",
        "gl",
        "hr",
        "hu",
        "id",
        "is",
        "it",
        "lt",
        "lv",
        "ms",
        "mt",
        "nl",
        "no",
        "pl",
        "pt",
        "ro",
        "sk",
        "sl",
        "sq",
        "sv",
        "sw",
        "tl",
        "tr",
        "vi",
    ]
)
CYRILLIC_ONLY = frozenset(("ru", "uk", "be", "bg", "mk", "kk", "ky", "tg", "mn"))
TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def target_languages() -> frozenset[str]:
    """ISO 639-1 codes the verifier can score (the model's two-letter labels)."""
    return frozenset(code for code in labels() if len(code) == 2)


def check_language(code: str) -> str:
    code = code.strip().lower()
    if code not in target_languages():
        known = ", ".join(sorted(target_languages()))
        raise ValueError(f"{code!r} is not an ISO 639-1 code the model knows; use one of: {known}")
    return code


class LanguageOptions(VerifierOptions):
    target_language: str = Field(
        "en", description="ISO 639-1 code; a row's `target_language` column overrides it"
    )
    think_tag: str = Field("think", description="the CoT is inside <think_tag>…</think_tag> when present")
    scope: str = Field("think", pattern="^(think|completion)$", description="think: the CoT; completion: all")
    min_words: int = Field(3, ge=1, le=50, description="words a sentence needs to be identified on its own")

    @field_validator("target_language")
    @classmethod
    def _known(cls, value: str) -> str:
        return check_language(value)

    @field_validator("think_tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        if not value or not set(value) <= TAG_CHARS:
            raise ValueError("a tag name is letters, digits, '_' or '-' (no <>)")
        return value


def script_excludes(target: str, script: str) -> bool:
    """Words of ``script`` can never be in language ``target``."""
    if target in CJK_LANGUAGES:
        return True
    if target in LATIN_ONLY:
        return script != "latin"
    if target in CYRILLIC_ONLY:
        return script != "cyrillic"
    return False


#: a sentence whose most likely language has at least this probability is decided by it alone.
CONFIDENT = 0.6
#: an ambiguous sentence (close languages split the mass, e.g. fr/it on "le discriminant vaut")
#: counts as the target when the whole text's language is the target and the sentence gives the
#: target at least this probability.
TARGET_FLOOR = 0.2


def is_target(sentence_words: list[str], target: str, document: Callable[[], str]) -> bool:
    """One sentence: a confident identification decides; an ambiguous one defers to the text's
    language (``document()``, computed once per text when first needed)."""
    ranked = identify(" ".join(sentence_words).lower())
    label, prob = ranked[0]
    if prob >= CONFIDENT:
        return label == target
    target_prob = next((p for lang, p in ranked if lang == target), 0.0)
    return (label == target or target_prob >= TARGET_FLOOR) and document() == target


def pooled_is_target(words: list[str], target: str) -> bool:
    """Words too short to identify alone, pooled: the target if the model ranks it in its top 3."""
    return any(label == target for label, _ in identify(" ".join(words).lower()))


def target_share(text: str, target: str, min_words: int) -> tuple[float, float, dict[str, float]]:
    """(target units, all units, units by language) of already-cleaned text."""
    parsed = sentences(text)
    by_language: dict[str, float] = {}
    decisions: list[bool | None] = []
    languages: dict[str, str] = {}

    def document_language(script: str) -> Callable[[], str]:
        def language() -> str:
            if script not in languages:
                words = [w for s in parsed if s.script == script for w in s.words]
                languages[script] = identify(" ".join(words).lower())[0][0]
            return languages[script]

        return language

    for sentence in parsed:
        for language, units in sentence.cjk.items():
            by_language[language] = by_language.get(language, 0.0) + units
        if not sentence.words:
            decisions.append(None)
        elif script_excludes(target, sentence.script):
            decisions.append(False)
        elif len(sentence.words) >= min_words:
            decisions.append(is_target(sentence.words, target, document_language(sentence.script)))
        else:
            decisions.append(None)  # too short: decided below
    _decide_short(parsed, decisions, target)
    target_units = by_language.get(target, 0.0)
    for sentence, decision in zip(parsed, decisions):
        if sentence.words:
            key = target if decision else "other"
            by_language[key] = by_language.get(key, 0.0) + len(sentence.words)
            target_units += len(sentence.words) if decision else 0
    return target_units, sum(by_language.values()), by_language


def _decide_short(parsed: list[Sentence], decisions: list[bool | None], target: str) -> None:
    """Short sentences take the nearest same-script decision, else a pooled benefit of the doubt."""
    pending = [i for i, s in enumerate(parsed) if s.words and decisions[i] is None]
    undecided: dict[str, list[int]] = {}
    for i in pending:
        script = parsed[i].script
        before = (j for j in range(i - 1, -1, -1) if _decided(parsed, decisions, j, script))
        after = (j for j in range(i + 1, len(parsed)) if _decided(parsed, decisions, j, script))
        nearest = next(before, None)
        if nearest is None:
            nearest = next(after, None)
        if nearest is None:
            undecided.setdefault(script, []).append(i)
        else:
            decisions[i] = decisions[nearest]
    for indices in undecided.values():
        pooled = [word for i in indices for word in parsed[i].words]
        verdict = pooled_is_target(pooled, target)
        for i in indices:
            decisions[i] = verdict


def _decided(parsed: list[Sentence], decisions: list[bool | None], j: int, script: str) -> bool:
    return parsed[j].script == script and decisions[j] is not None and len(parsed[j].words) > 0


class LanguageVerifier(Verifier):
    """Share of the chain of thought's words in the target language (DeepSeek-R1), offline."""

    name = "language"
    isolation = Isolation.INLINE
    Options = LanguageOptions
    options: LanguageOptions

    def setup(self) -> None:
        load_model()

    def _target(self, sample: Sample) -> str:
        row_value = sample.get("target_language")
        if row_value is None:
            return self.options.target_language
        if not isinstance(row_value, str):
            raise TypeError(f"target_language must be a string, got {type(row_value).__name__}")
        return check_language(row_value)

    def score(self, sample: Sample) -> Score:
        try:
            target = self._target(sample)
        except (TypeError, ValueError) as exc:
            return Score.invalid_input(f"target_language: {exc}")
        completion = sample.completion_text
        if self.options.scope == "think":
            text, source = chain_of_thought(completion, self.options.think_tag)
        else:
            text, source = completion, "completion"
        hit, total, by_language = target_share(strip_non_linguistic(text), target, self.options.min_words)
        if total <= 0:
            return Score.not_applicable("no linguistic content", source=source, target=target)
        units = {k: round(v, 2) for k, v in sorted(by_language.items(), key=lambda kv: -kv[1])}
        return Score.ok(hit / total, target=target, units=units, source=source)

    def cache_key(self, sample: Sample) -> Hashable | None:
        target = sample.get("target_language", self.options.target_language)
        return (target if isinstance(target, str) else repr(target), sample.completion_text)
