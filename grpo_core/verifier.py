"""The verifier contract: what a plugin implements and what the engine returns.

A verifier turns one :class:`~grpo_core.sample.Sample` into a :class:`Score`. The engine decides how
to run it from its ``isolation`` kind, so plugin code stays plain and synchronous where it can be.
"""

from __future__ import annotations

import asyncio
import math
import numbers
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from grpo_core.sample import Sample


class Status(StrEnum):
    """Why a score has the value it has. Infrastructure failures are never silently a 0."""

    OK = "ok"
    NOT_APPLICABLE = "not_applicable"
    TIMEOUT = "timeout"
    ERROR = "error"
    INVALID_INPUT = "invalid_input"


class Isolation(StrEnum):
    """How the engine runs a verifier.

    - ``inline``: cheap and pure, run in the caller's process on a watched thread.
    - ``process``: CPU-bound and may hang; run in worker processes with a hard wall-clock kill.
    - ``async``: I/O-bound (sandboxes, HTTP, a GPU model); awaited, optionally in batches.

    Whatever the kind, no verifier can hang its caller: a sample past its timeout gets status
    ``timeout``. An inline sample's thread cannot be killed, so it is abandoned, and an inline
    verifier that times out repeatedly is disabled (its samples get ``error``); see
    :mod:`grpo_core.inline`. Code that may hang belongs in ``process``.
    """

    INLINE = "inline"
    PROCESS = "process"
    ASYNC = "async"


@dataclass(frozen=True, slots=True)
class Score:
    """One sample's result: ``value`` (``None`` = no reward), a ``status`` and small ``details``."""

    value: float | None
    status: Status = Status.OK
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status):
            object.__setattr__(self, "status", Status(self.status))
        if self.value is not None:
            value = float(self.value)
            if not math.isfinite(value):
                raise ValueError(f"Score.value must be finite, got {self.value!r}")
            object.__setattr__(self, "value", value)
        elif self.status is Status.OK:
            raise ValueError("Score with status 'ok' needs a value; use Score.not_applicable()")

    @classmethod
    def ok(cls, value: float, **details: Any) -> Score:
        return cls(value, Status.OK, details)

    @classmethod
    def not_applicable(cls, reason: str = "", **details: Any) -> Score:
        return cls(None, Status.NOT_APPLICABLE, {"reason": reason, **details} if reason else details)

    @classmethod
    def invalid_input(cls, reason: str, **details: Any) -> Score:
        """The row itself is unusable (e.g. a gold answer that cannot be parsed); counted apart."""
        return cls(None, Status.INVALID_INPUT, {"reason": reason, **details})

    @classmethod
    def error(cls, message: str, **details: Any) -> Score:
        return cls(None, Status.ERROR, {"error": message, **details})

    @classmethod
    def timeout(cls, seconds: float) -> Score:
        return cls(None, Status.TIMEOUT, {"timeout_s": seconds})


class VerifierOptions(BaseModel):
    """Base of every verifier's ``Options``: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def to_score(result: Any) -> Score:
    """Normalise what a verifier returned: a ``Score``, a number (ok) or ``None`` (not applicable)."""
    if isinstance(result, Score):
        return result
    if result is None:
        return Score.not_applicable()
    if isinstance(result, numbers.Real):  # bool, int, float, numpy scalars
        try:
            return Score.ok(float(result))
        except ValueError as exc:
            return Score.error(str(exc))
    return Score.error(f"verifier returned {type(result).__name__}, expected Score, float or None")


class Verifier:
    """Base class of every verifier.

    Subclasses set ``name`` (unique across installed plugins), optionally ``Options`` (a
    :class:`VerifierOptions` subclass validated from the run config), ``columns`` (dataset columns
    each sample must carry), ``isolation`` and ``default_timeout`` (seconds per sample).

    Implement :meth:`score` (inline/process) or :meth:`ascore` / :meth:`score_batch` (async).
    Heavy imports belong in :meth:`setup`, which runs once per process before the first score.

    A verifier that reads another reward's result for the same sample (a length reward conditioned
    on correctness) names it in ``depends_on`` or :meth:`dependencies`; the engine scores that
    reward first and the verifier reads it with ``grpo_core.dependency_score(sample, name)``
    (see :mod:`grpo_core.dependencies`).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    columns: ClassVar[tuple[str, ...]] = ()
    isolation: ClassVar[Isolation] = Isolation.INLINE
    default_timeout: ClassVar[float] = 10.0
    #: process verifiers: extra modules the workers' fork server imports before forking, besides
    #: the verifier's own module. Importing runs module code once, so a module that warms caches
    #: (parses sample inputs, fills tables) makes every worker start warm. Such a module must not
    #: raise: the fork server only tolerates ImportError.
    worker_preload: ClassVar[tuple[str, ...]] = ()
    #: async verifiers: most samples handed to one ``score_batch`` call.
    max_batch_size: ClassVar[int] = 64
    #: async verifiers: most ``score_batch`` calls in flight at once.
    max_concurrency: ClassVar[int] = 8
    Options: ClassVar[type[VerifierOptions]] = VerifierOptions
    #: reward names whose results for the same sample this verifier reads (override
    #: :meth:`dependencies` when an option chooses them).
    depends_on: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: VerifierOptions | Mapping[str, Any] | None = None) -> None:
        if isinstance(options, self.Options):
            self.options = options
        else:
            self.options = self.Options.model_validate(dict(options or {}))

    def dependencies(self) -> tuple[str, ...]:
        """Rewards (by reward name) this instance reads; each must be chosen in the same run."""
        return tuple(self.depends_on)

    def setup(self) -> None:
        """Load heavy dependencies; called once per process before the first sample."""

    def score(self, sample: Sample) -> Score | float | None:
        raise NotImplementedError(f"verifier {self.name!r} implements no score()")

    async def ascore(self, sample: Sample) -> Score | float | None:
        return self.score(sample)

    async def score_batch(self, samples: Sequence[Sample]) -> list[Score | float | None]:
        """Score several samples in one call; async verifiers override this to batch real work.

        (The engine calls ``ascore`` per sample, each with its own timeout, unless this is
        overridden.) One sample's exception becomes its own error score here."""
        results = await asyncio.gather(*(self.ascore(sample) for sample in samples), return_exceptions=True)
        return [
            Score.error(f"{type(r).__name__}: {r}") if isinstance(r, BaseException) else r for r in results
        ]

    def cache_key(self, sample: Sample) -> Hashable | None:
        """Equal keys promise equal scores, so the engine scores them once. ``None``: no caching.

        It runs in the engine's own process with no time limit, even for ``process`` verifiers:
        keep it cheap and linear in the input (string work, no parsing that can explode).
        """
        return None

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """A JSON-able summary for ``grpo plugins --json``."""
        return {
            "name": cls.name,
            "description": cls.description or (cls.__doc__ or "").strip().split("\n")[0],
            "columns": list(cls.columns),
            "isolation": cls.isolation.value,
            "default_timeout": cls.default_timeout,
            "options": [
                {
                    "name": name,
                    "type": _type_name(field.annotation),
                    "default": None
                    if field.is_required()
                    else _jsonable(field.get_default(call_default_factory=True)),
                    "required": field.is_required(),
                    "help": field.description or "",
                }
                for name, field in cls.Options.model_fields.items()
            ],
        }


def _type_name(annotation: Any) -> str:
    """``list[str]``, ``Literal['strict', 'soft']``, ``int | None``: how a user would write it."""
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("NoneType", "None")


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
