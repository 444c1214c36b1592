"""The conformance kit: one call (or one base class) checks a verifier against the whole contract.

Plugin authors write, in their own tests::

    from grpo_core.testing import Example, VerifierConformance

    class TestMyVerifier(VerifierConformance):
        verifier = MyVerifier
        plugin = my_plugin_module           # the module the entry point names
        examples = [Example({"completion": "<answer>4</answer>", "answer": "4"}, 1.0)]

and pytest runs one test per check (registration, options, examples, determinism, score contract,
bad input, chat messages, picklability, cache keys, the engine). :func:`check_verifier` runs them
all in one call. The kit is also a pytest plugin (entry point ``pytest11``) offering the
``verifier_kit`` fixture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from grpo_core.testing.kit import ConformanceError, Example, Kit
from grpo_core.verifier import Verifier

__all__ = ["ConformanceError", "Example", "Kit", "VerifierConformance", "check_verifier"]


def check_verifier(
    verifier: type[Verifier],
    examples: Sequence[Example],
    *,
    options: Mapping[str, Any] | None = None,
    plugin: Any = None,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> None:
    """Run every conformance check; raises :class:`ConformanceError` at the first broken one."""
    Kit(verifier, examples, dict(options or {}), plugin, value_range).check_all()


class VerifierConformance:
    """Subclass as ``Test<Something>`` and set the class attributes; pytest runs each check."""

    verifier: ClassVar[type[Verifier]]
    examples: ClassVar[Sequence[Example]] = ()
    options: ClassVar[Mapping[str, Any]] = {}
    plugin: ClassVar[Any] = None
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)

    def kit(self) -> Kit:
        return Kit(self.verifier, self.examples, dict(self.options), self.plugin, self.value_range)

    def test_registration(self) -> None:
        self.kit().check_registration()

    def test_options(self) -> None:
        self.kit().check_options()

    def test_examples(self) -> None:
        self.kit().check_examples()

    def test_determinism(self) -> None:
        self.kit().check_determinism()

    def test_score_contract(self) -> None:
        self.kit().check_score_contract()

    def test_bad_input(self) -> None:
        self.kit().check_bad_input()

    def test_chat_messages(self) -> None:
        self.kit().check_chat_messages()

    def test_picklable(self) -> None:
        self.kit().check_picklable()

    def test_cache_key(self) -> None:
        self.kit().check_cache_key()

    def test_engine(self) -> None:
        self.kit().check_engine()
