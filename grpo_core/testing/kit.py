"""The conformance checks: what every verifier must do, whoever wrote it.

A :class:`Kit` holds a verifier class, its options and a few :class:`Example` rows with the values
they must score. Each ``check_*`` method tests one part of the contract and raises
:class:`ConformanceError` naming the check and the row that broke it, so a plugin's test suite can
run them one test per check (see :class:`grpo_core.testing.VerifierConformance`).
"""

from __future__ import annotations

import asyncio
import json
import math
import pickle
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from grpo_core.engine import Engine
from grpo_core.hookspecs import hookimpl
from grpo_core.plugins import PluginRegistry
from grpo_core.sample import Sample
from grpo_core.verifier import Isolation, Score, Status, Verifier, VerifierOptions, to_score

#: Characters of the "huge input" completion: far beyond any real completion, small enough for CI.
HUGE_CHARS = 1_000_000
#: Statuses a malformed row may get: it is the row's fault, so never ``error`` or ``timeout``.
BAD_INPUT_STATUSES = frozenset({Status.OK, Status.NOT_APPLICABLE, Status.INVALID_INPUT})


class ConformanceError(AssertionError):
    """A verifier broke its contract; the message starts with the check's name."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"[{check}] {message}")
        self.check = check


@dataclass(frozen=True)
class Example:
    """A row and what it must score: ``value`` (``None`` = no value) and ``status``."""

    row: Mapping[str, Any]
    value: float | None
    status: Status | str = Status.OK

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))


def _outcome(score: Score) -> tuple[float | None, Status]:
    return score.value, score.status


def _same(a: tuple[float | None, Status], b: tuple[float | None, Status], tol: float = 1e-9) -> bool:
    if a[1] != b[1]:
        return False
    if a[0] is None or b[0] is None:
        return a[0] is b[0]
    return math.isclose(a[0], b[0], rel_tol=tol, abs_tol=tol)


def _short(row: Mapping[str, Any]) -> str:
    text = repr(dict(row))
    return text if len(text) < 160 else text[:157] + "..."


class _SinglePlugin:
    """A plugin object that registers one verifier class (when no plugin module is given)."""

    def __init__(self, cls: type[Verifier]) -> None:
        self.cls = cls

    @hookimpl
    def register_verifiers(self, register: Callable[[type], None]) -> None:
        register(self.cls)


@dataclass
class Kit:
    """Conformance checks of one verifier class.

    ``plugin``: the plugin module (or object) that registers the class, so registration is checked
    the way entry points load it; ``value_range``: the closed interval every value must fall in;
    ``workers``: processes for ``process`` verifiers under the engine.
    """

    verifier: type[Verifier]
    examples: Sequence[Example]
    options: Mapping[str, Any] = field(default_factory=dict)
    plugin: Any = None
    value_range: tuple[float, float] = (0.0, 1.0)
    workers: int = 2
    huge_chars: int = HUGE_CHARS

    def __post_init__(self) -> None:
        if not self.examples:
            raise ValueError("the conformance kit needs at least one Example")
        self.examples = [e if isinstance(e, Example) else Example(*e) for e in self.examples]

    # -- helpers -------------------------------------------------------------------------------
    def build(self) -> Verifier:
        verifier = self.verifier(dict(self.options))
        verifier.setup()
        return verifier

    @staticmethod
    def score_direct(verifier: Verifier, row: Mapping[str, Any]) -> Score:
        """Score in this process (no timeout): what a worker process does, exceptions as errors."""
        try:
            result = _raw_score(verifier, Sample(row))
        except Exception as exc:
            return Score.error(f"{type(exc).__name__}: {exc}")
        return to_score(result)

    def registry(self) -> PluginRegistry:
        registry = PluginRegistry()
        plugin = self.plugin if self.plugin is not None else _SinglePlugin(self.verifier)
        registry.add_plugin(plugin, "conformance-under-test")
        return registry

    def engine(self, cache_size: int = 0) -> Engine:
        spec = {"verifier": self.verifier.name, "options": dict(self.options)}
        return Engine([spec], registry=self.registry(), workers=self.workers, cache_size=cache_size)

    def engine_scores(self, rows: Sequence[Mapping[str, Any]], cache_size: int = 0) -> list[Score]:
        with self.engine(cache_size) as engine:
            return engine.score(rows).scores[self.verifier.name]

    def _base_rows(self) -> list[dict[str, Any]]:
        return [dict(e.row) for e in self.examples]

    # -- checks --------------------------------------------------------------------------------
    def check_registration(self) -> None:
        """The plugin registers the class cleanly, and its class attributes are well formed."""
        check, cls = "registration", self.verifier
        if not (isinstance(cls, type) and issubclass(cls, Verifier)):
            raise ConformanceError(check, f"{cls!r} is not a grpo_core.Verifier subclass")
        registry = self.registry()
        errors = registry.errors()
        if errors:
            raise ConformanceError(check, f"registering failed: {errors}")
        if registry.verifiers.get(cls.name) is not cls:
            raise ConformanceError(check, f"the plugin did not register {cls.__qualname__} as {cls.name!r}")
        if not (isinstance(cls.columns, tuple) and all(isinstance(c, str) and c for c in cls.columns)):
            raise ConformanceError(check, f"columns must be a tuple of column names, got {cls.columns!r}")
        timeout = cls.default_timeout
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
            raise ConformanceError(check, f"default_timeout must be a positive number, got {timeout!r}")
        try:
            json.dumps(cls.describe())
        except (TypeError, ValueError) as exc:
            raise ConformanceError(check, f"describe() is not JSON-serialisable: {exc}") from None

    def check_options(self) -> None:
        """Options are a VerifierOptions model: unknown keys refused, JSON round trip exact."""
        check, cls = "options", self.verifier
        if not (isinstance(cls.Options, type) and issubclass(cls.Options, VerifierOptions)):
            raise ConformanceError(check, "Options must subclass grpo_core.VerifierOptions")
        try:
            verifier = cls(dict(self.options))
        except ValidationError as exc:
            raise ConformanceError(check, f"the kit's options do not validate: {exc}") from None
        try:
            cls({**self.options, "no_such_option_ever": 1})
        except ValidationError:
            pass
        else:
            raise ConformanceError(check, "an unknown option key was accepted (a typo would be ignored)")
        dumped = verifier.options.model_dump(mode="json")
        try:
            json.dumps(dumped)
            again = cls(dumped).options
        except (TypeError, ValueError) as exc:
            raise ConformanceError(check, f"options do not survive a JSON round trip: {exc}") from None
        if again != verifier.options:
            raise ConformanceError(check, "options differ after a JSON round trip (process workers get JSON)")

    def check_examples(self) -> None:
        """Each example scores its expected value and status."""
        verifier = self.build()
        for example in self.examples:
            got = self.score_direct(verifier, example.row)
            if not _same(_outcome(got), (example.value, example.status), tol=1e-6):
                raise ConformanceError(
                    "examples",
                    f"{_short(example.row)} scored {got.value!r} ({got.status.value}, {dict(got.details)}), "
                    f"expected {example.value!r} ({example.status.value})",
                )

    def check_determinism(self) -> None:
        """The same row scores the same, again and on a fresh instance."""
        first, second = self.build(), self.build()
        for row in self._base_rows():
            outcomes = [_outcome(self.score_direct(first, row)) for _ in range(3)]
            outcomes.append(_outcome(self.score_direct(second, row)))
            if not all(_same(outcomes[0], o) for o in outcomes[1:]):
                raise ConformanceError("determinism", f"{_short(row)} scored differently: {outcomes}")

    def _assert_contract(self, check: str, row: Mapping[str, Any], result: Any) -> Score:
        score = result if isinstance(result, Score) else to_score(result)
        if score.status is Status.ERROR and "verifier returned" in str(score.details.get("error", "")):
            raise ConformanceError(check, f"{_short(row)}: {score.details['error']}")
        low, high = self.value_range
        if score.value is not None and not low <= score.value <= high:
            raise ConformanceError(check, f"{_short(row)} scored {score.value}, outside [{low}, {high}]")
        try:
            json.dumps(dict(score.details))
        except (TypeError, ValueError) as exc:
            raise ConformanceError(
                check, f"{_short(row)}: details are not JSON-serialisable: {exc}"
            ) from None
        return score

    def check_score_contract(self) -> None:
        """Results are Scores, floats or None; values finite and in range; details JSON-able."""
        verifier = self.build()
        for row in self._base_rows():
            try:
                raw = _raw_score(verifier, Sample(row))
            except Exception as exc:
                raise ConformanceError("score_contract", f"{_short(row)} raised {exc!r}") from None
            if isinstance(raw, float) and not math.isfinite(raw):
                raise ConformanceError("score_contract", f"{_short(row)} returned the non-finite {raw}")
            self._assert_contract("score_contract", row, raw)

    def bad_rows(self) -> list[tuple[str, dict[str, Any]]]:
        """(what is wrong, row) variants of the examples that a verifier must survive."""
        base = self._base_rows()[0]
        variants: list[tuple[str, dict[str, Any]]] = [
            ("empty completion", {**base, "completion": ""}),
            ("whitespace completion", {**base, "completion": " \n\t "}),
            ("no completion key", {k: v for k, v in base.items() if k != "completion"}),
            ("completion is a number", {**base, "completion": 12345}),
            ("completion is None", {**base, "completion": None}),
            ("completion is a dict", {**base, "completion": {"unexpected": ["shape"]}}),
            ("empty message list", {**base, "completion": []}),
            ("message without content", {**base, "completion": [{"role": "assistant"}]}),
            ("huge completion", {**base, "completion": "1+" * (self.huge_chars // 2)}),
            ("huge single token", {**base, "completion": "9" * self.huge_chars}),
            ("prompt is a number", {**base, "prompt": 7}),
        ]
        for column in self.verifier.columns:
            variants.append((f"missing column {column!r}", {k: v for k, v in base.items() if k != column}))
            for label, value in (("None", None), ("a list", [1, "two"]), ("a number", 3.5), ("empty", "")):
                variants.append((f"column {column!r} is {label}", {**base, column: value}))
            variants.append((f"column {column!r} is huge", {**base, column: "x" * self.huge_chars}))
        return variants

    def check_bad_input(self) -> None:
        """Malformed rows (through the engine, under its timeouts) are the row's fault: a value or
        ``not_applicable``/``invalid_input``, never ``error``/``timeout``; missing columns are
        ``invalid_input``."""
        variants = self.bad_rows()
        scores = self.engine_scores([row for _, row in variants])
        for (what, row), score in zip(variants, scores):
            self._assert_contract("bad_input", row, score)
            if what.startswith("missing column") and score.status is not Status.INVALID_INPUT:
                raise ConformanceError("bad_input", f"{what}: got {score.status.value}, not invalid_input")
            if score.status not in BAD_INPUT_STATUSES:
                raise ConformanceError(
                    "bad_input",
                    f"{what}: got {score.status.value} ({dict(score.details)}); a bad row is "
                    "a 0, not_applicable or invalid_input, never an error or timeout",
                )

    def check_chat_messages(self) -> None:
        """A completion as chat messages scores exactly as the same text as a string."""
        verifier = self.build()
        for row in self._base_rows():
            text = row.get("completion")
            if not isinstance(text, str):
                continue
            expected = _outcome(self.score_direct(verifier, row))
            for completion in (
                [{"role": "assistant", "content": text}],
                [{"role": "assistant", "content": [{"type": "text", "text": text}]}],
            ):
                got = _outcome(self.score_direct(verifier, {**row, "completion": completion}))
                if not _same(expected, got):
                    raise ConformanceError(
                        "chat_messages", f"{_short(row)}: string scored {expected}, messages {got}"
                    )

    def check_picklable(self) -> None:
        """Class, options and scores survive pickling (process isolation ships all three)."""
        cls = self.verifier
        try:
            if pickle.loads(pickle.dumps(cls)) is not cls:
                raise ConformanceError("picklable", f"{cls.__qualname__} unpickles as another class")
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise ConformanceError(
                "picklable",
                f"{cls.__qualname__} cannot be pickled by reference ({exc}); define it at "
                "module level of an importable module",
            ) from None
        verifier = self.build()
        for row in self._base_rows():
            score = self.score_direct(verifier, row)
            try:
                back = pickle.loads(pickle.dumps(score))
            except Exception as exc:
                raise ConformanceError(
                    "picklable", f"{_short(row)}: its Score does not pickle: {exc}"
                ) from None
            if not _same(_outcome(back), _outcome(score)):
                raise ConformanceError("picklable", f"{_short(row)}: Score changed through pickle")

    def check_cache_key(self) -> None:
        """Keys are hashable and stable, and equal keys always mean equal scores."""
        verifier = self.build()
        rows = self._base_rows()
        rows += [
            {**r, "completion": [{"role": "assistant", "content": r["completion"]}]}
            for r in rows
            if isinstance(r.get("completion"), str)
        ]
        rows += [row for _, row in self.bad_rows() if all(c in row for c in self.verifier.columns)]
        by_key: dict[Hashable, tuple[Mapping[str, Any], tuple[float | None, Status]]] = {}
        for row in rows:
            sample = Sample(row)
            try:
                key = verifier.cache_key(sample)
                hash(key)
                again = verifier.cache_key(Sample(row))
            except Exception as exc:
                raise ConformanceError("cache_key", f"{_short(row)}: cache_key failed: {exc!r}") from None
            if key != again:
                raise ConformanceError("cache_key", f"{_short(row)}: the key changed between calls")
            if key is None:
                continue
            outcome = _outcome(self.score_direct(verifier, row))
            if key in by_key and not _same(by_key[key][1], outcome):
                other, seen = by_key[key]
                raise ConformanceError(
                    "cache_key",
                    f"{_short(row)} scored {outcome} but shares its key with {_short(other)} "
                    f"which scored {seen}: a cached score would be wrong",
                )
            by_key.setdefault(key, (row, outcome))

    def check_engine(self) -> None:
        """Under the engine (its isolation kind, its declared timeout, cache on) each example
        scores what it scores directly, and nothing times out."""
        rows = self._base_rows()
        expected = [(e.value, e.status) for e in self.examples]
        limit = self.verifier.default_timeout
        with self.engine() as engine:
            engine.start()
            for row in rows:  # one at a time: inline verifiers run unguarded, so time them here
                started = time.perf_counter()
                engine.score([row])
                elapsed = time.perf_counter() - started
                if elapsed > limit:
                    raise ConformanceError(
                        "engine",
                        f"{_short(row)} timed out: took {elapsed:.2f}s under the engine, over "
                        f"its declared default_timeout of {limit}s",
                    )
        with self.engine(cache_size=1024) as engine:
            for attempt in ("cold", "cached"):
                scores = engine.score(rows).scores[self.verifier.name]
                for row, score, want in zip(rows, scores, expected):
                    if score.status is Status.TIMEOUT:
                        raise ConformanceError(
                            "engine",
                            f"{_short(row)} timed out ({attempt}) within the declared "
                            f"default_timeout of {limit}s",
                        )
                    if not _same(_outcome(score), want, tol=1e-6):
                        raise ConformanceError(
                            "engine",
                            f"{_short(row)} scored {score.value!r} ({score.status.value}, "
                            f"{dict(score.details)}) under the engine ({attempt}), expected {want}",
                        )

    CHECKS = (
        "registration",
        "options",
        "examples",
        "determinism",
        "score_contract",
        "bad_input",
        "chat_messages",
        "picklable",
        "cache_key",
        "engine",
    )

    def check_all(self) -> None:
        for name in self.CHECKS:
            getattr(self, f"check_{name}")()


def _raw_score(verifier: Verifier, sample: Sample) -> Any:
    """The verifier's own return value for one sample, in this process (async verifiers awaited)."""
    if verifier.isolation is Isolation.ASYNC:
        return asyncio.run(verifier.ascore(sample))
    return verifier.score(sample)
