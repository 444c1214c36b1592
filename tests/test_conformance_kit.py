"""The conformance kit passes a well-behaved verifier and catches each deliberately broken one."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from pydantic import ConfigDict

from grpo_core import Isolation, Sample, Score, Verifier, VerifierOptions, hookimpl
from grpo_core.testing import ConformanceError, Example, Kit, VerifierConformance, check_verifier

EXAMPLES = [
    Example({"prompt": "2+2?", "completion": "<answer>4</answer>", "answer": "4"}, 1.0),
    Example({"prompt": "2+2?", "completion": "<answer>5</answer>", "answer": "4"}, 0.0),
    Example({"prompt": "2+2?", "completion": "no tags", "answer": "4"}, 0.0),
]


def answer_of(sample: Sample) -> str | None:
    text = sample.completion_text
    start, end = text.rfind("<answer>"), text.rfind("</answer>")
    return text[start + 8 : end].strip() if 0 <= start < end else None


class GoodVerifier(Verifier):
    """1.0 when the <answer> equals the row's `answer`."""

    name = "kit_good"
    columns = ("answer",)

    def score(self, sample: Sample) -> Score:
        gold = sample["answer"]
        if not isinstance(gold, str | int | float) or isinstance(gold, bool) or str(gold).strip() == "":
            return Score.invalid_input("answer must be a non-empty string or number")
        found = answer_of(sample)
        return Score.ok(float(found == str(gold).strip()), extracted=(found or "")[:50])

    def cache_key(self, sample: Sample) -> Any:
        return (answer_of(sample), repr(sample["answer"]))


class GoodProcessVerifier(GoodVerifier):
    name = "kit_good_process"
    isolation = Isolation.PROCESS


class BadName(GoodVerifier):
    name = "not an identifier"


class LooseOptions(VerifierOptions):
    model_config = ConfigDict(extra="allow", frozen=True)


class BadOptions(GoodVerifier):
    name = "kit_bad_options"
    Options = LooseOptions


class BadExamples(GoodVerifier):
    name = "kit_bad_examples"

    def score(self, sample: Sample) -> Score:
        return Score.ok(0.5)


_counter = itertools.count()


class BadDeterminism(GoodVerifier):
    name = "kit_bad_determinism"

    def score(self, sample: Sample) -> Score:
        score = super().score(sample)
        return score if next(_counter) % 3 else Score.ok(1.0 - (score.value or 0.0))


class BadRange(GoodVerifier):
    name = "kit_bad_range"

    def score(self, sample: Sample) -> Score:
        return Score.ok(5.0 if "4" in sample.completion_text else 0.0)


class BadReturnType(GoodVerifier):
    name = "kit_bad_return"

    def score(self, sample: Sample) -> Any:
        return "1.0"


class BadDetails(GoodVerifier):
    name = "kit_bad_details"

    def score(self, sample: Sample) -> Score:
        return Score.ok(super().score(sample).value or 0.0, seen={1, 2})


class BadInputCrash(GoodVerifier):
    """Crashes on an empty completion (an IndexError is an error status: the row's fault, not ours)."""

    name = "kit_bad_input"

    def score(self, sample: Sample) -> Score:
        sample.completion_text.split()[0]
        return super().score(sample)


class BadChat(GoodVerifier):
    name = "kit_bad_chat"

    def score(self, sample: Sample) -> Score:
        text = str(sample.completion)
        return Score.ok(float(text.startswith("<answer>4")))


def make_unpicklable() -> type[Verifier]:
    class LocalVerifier(GoodVerifier):
        name = "kit_local"

    return LocalVerifier


class BadCacheKey(GoodVerifier):
    name = "kit_bad_cache_key"

    def cache_key(self, sample: Sample) -> Any:
        return str(sample["answer"])  # ignores the completion: every completion shares one key


class BadSlow(GoodVerifier):
    name = "kit_bad_slow"
    default_timeout = 0.3

    def score(self, sample: Sample) -> Score:
        time.sleep(2.0)
        return super().score(sample)


class NotRegisteringPlugin:
    @hookimpl
    def register_verifiers(self, register: Any) -> None:
        register(GoodProcessVerifier)  # registers another class than the one under test


def test_well_behaved_verifier_passes_every_check() -> None:
    check_verifier(GoodVerifier, EXAMPLES)


class TestGoodProcessVerifierConformance(VerifierConformance):
    """The base class gives one test per check; a process verifier runs in real workers."""

    verifier = GoodProcessVerifier
    examples = EXAMPLES


def test_kit_needs_examples() -> None:
    with pytest.raises(ValueError, match="at least one Example"):
        Kit(GoodVerifier, [])


@pytest.mark.parametrize(
    ("check", "verifier", "kwargs", "match"),
    [
        ("registration", BadName, {}, "registering failed"),
        ("registration", GoodVerifier, {"plugin": NotRegisteringPlugin()}, "did not register"),
        ("options", BadOptions, {}, "unknown option key was accepted"),
        ("examples", BadExamples, {}, "expected 1.0"),
        ("determinism", BadDeterminism, {}, "scored differently"),
        ("score_contract", BadRange, {}, r"outside \[0.0, 1.0\]"),
        ("score_contract", BadReturnType, {}, "verifier returned str"),
        ("score_contract", BadDetails, {}, "not JSON-serialisable"),
        ("bad_input", BadInputCrash, {}, "empty completion: got error"),
        ("chat_messages", BadChat, {}, "messages"),
        ("picklable", make_unpicklable(), {}, "cannot be pickled by reference"),
        ("cache_key", BadCacheKey, {}, "shares its key"),
        ("engine", BadSlow, {}, "timed out"),
    ],
    ids=lambda value: value if isinstance(value, str) and " " not in value else None,
)
def test_kit_catches_broken_verifier(check: str, verifier: type, kwargs: dict, match: str) -> None:
    kit = Kit(verifier, EXAMPLES, **kwargs)
    with pytest.raises(ConformanceError, match=match) as caught:
        getattr(kit, f"check_{check}")()
    assert caught.value.check == check


def test_a_broken_verifier_fails_check_all() -> None:
    with pytest.raises(ConformanceError):
        check_verifier(BadCacheKey, EXAMPLES)


def test_pytest_plugin_fixture(verifier_kit: Any) -> None:
    """The ``pytest11`` entry point makes the fixture available without a conftest."""
    kit = verifier_kit(GoodVerifier, EXAMPLES)
    assert isinstance(kit, Kit)
    kit.check_examples()
