"""An example external plugin: a length reward that discourages rambling completions."""

from pydantic import PositiveInt

from grpo_core import Sample, Score, Verifier, VerifierOptions, hookimpl


class WordLimitOptions(VerifierOptions):
    max_words: PositiveInt = 256


class WordLimitVerifier(Verifier):
    """1.0 up to ``max_words`` words, then falling linearly to 0.0 at twice that."""

    name = "word_limit"
    Options = WordLimitOptions

    def score(self, sample: Sample) -> Score:
        words = len(sample.completion_text.split())
        limit = self.options.max_words
        value = 1.0 if words <= limit else max(0.0, 2.0 - words / limit)
        return Score.ok(value, words=words)


@hookimpl
def register_verifiers(register):
    register(WordLimitVerifier)
