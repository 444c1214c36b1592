"""The engine: scores batches with several weighted verifiers, fast and without stalling.

For each verifier it de-duplicates the batch by ``cache_key`` (GRPO groups repeat the same final
answer many times), consults an LRU cache, runs the remaining samples according to the verifier's
isolation kind, turns timeouts and errors into values by the configured policy and records metrics.
One sample that hangs, raises or kills its process affects only its own score.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, PositiveFloat, ValidationError

from grpo_core.cache import LRUCache
from grpo_core.checks import check_unique_reward_names, missing_columns
from grpo_core.dependencies import DependencyRunner, dependency_cache_key
from grpo_core.errors import ConfigError
from grpo_core.functions import resolve_verifier
from grpo_core.inline import run_inline
from grpo_core.metrics import VerifierMetrics
from grpo_core.plugins import PluginRegistry, get_registry
from grpo_core.pool import WorkerPool
from grpo_core.sample import Sample
from grpo_core.values import split_list
from grpo_core.verifier import Isolation, Score, Status, Verifier, to_score
from grpo_core.workerstart import portable_class

CACHEABLE = frozenset({Status.OK, Status.NOT_APPLICABLE, Status.INVALID_INPUT})
#: seconds cancelled batches get to clean up when the engine closes
CANCEL_GRACE_S = 1.0


async def _cancel_pending() -> None:
    """Cancel every other task on the engine's loop and let them finish their clean-up briefly."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=CANCEL_GRACE_S)


class RewardSpec(BaseModel):
    """One chosen verifier in a run: which, how much it weighs, its options and failure policy.

    ``on_timeout`` / ``on_error`` / ``on_invalid_input``: the value such a sample gets; ``None``
    (the default) means "no reward" (TRL skips it) rather than a 0 that looks like a wrong answer.

    Numbers must be finite: a NaN weight or fallback value would poison every reward it touches.
    ``verifier`` is a name, or ``distribution:name`` to choose between two plugins claiming it.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    verifier: str
    name: str | None = Field(None, description="reward name in logs; defaults to the verifier name")
    weight: FiniteFloat = 1.0
    options: dict[str, Any] = Field(default_factory=dict)
    timeout: PositiveFloat | None = Field(
        None, allow_inf_nan=False, description="seconds per sample; default: verifier's"
    )
    on_timeout: FiniteFloat | None = None
    on_error: FiniteFloat | None = None
    on_invalid_input: FiniteFloat | None = None
    max_error_frac: float | None = Field(
        None, ge=0, le=1, description="training stops when error+timeout share exceeds this (harness)"
    )

    @property
    def reward_name(self) -> str:
        """The name in logs and output: ``name``, else the verifier name without its qualifier."""
        return self.name or self.verifier.rpartition(":")[2]


def as_samples(samples: Sequence[Mapping[str, Any]]) -> list[Sample]:
    """Wrap rows as Samples; a row that is not a mapping is a caller bug worth a clear message."""
    batch = []
    for index, row in enumerate(samples):
        if not isinstance(row, Mapping):
            raise TypeError(
                f"sample {index} is a {type(row).__name__}; expected a mapping {{prompt, completion, ...}}"
            )
        batch.append(row if isinstance(row, Sample) else Sample(row))
    return batch


def _is_list_field(annotation: Any) -> bool:
    origins = {list, tuple, set, frozenset}
    if get_origin(annotation) in origins or annotation in origins:
        return True
    return any(_is_list_field(arg) for arg in get_args(annotation) if arg is not type(None))


def list_options(options_model: type[BaseModel], options: Mapping[str, Any]) -> dict[str, Any]:
    """``keys: "a,b"`` for a list option means ``["a", "b"]`` (so ``--option x.keys=a,b`` works)."""
    fields = options_model.model_fields
    return {
        key: split_list(value)
        if isinstance(value, str) and key in fields and _is_list_field(fields[key].annotation)
        else value
        for key, value in options.items()
    }


def format_validation_error(exc: ValidationError, prefix: str) -> str:
    """One line per problem, each naming the full key path (``format.mode: Input should be ...``)."""
    lines = []
    for error in exc.errors():
        path = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        lines.append(f"{path}: {error['msg']}")
    return "; ".join(lines)


@dataclass
class BoundVerifier:
    """A verifier instance with its spec, resolved timeout and private cache."""

    spec: RewardSpec
    verifier: Verifier
    timeout: float
    cache: LRUCache[Score]
    options_dict: dict[str, Any]
    source: str = ""
    ready: bool = False
    #: inline verifiers: samples abandoned past their timeout (their threads cannot be stopped)
    inline_timeouts: int = 0

    @property
    def name(self) -> str:
        return self.spec.reward_name

    def apply_policy(self, score: Score) -> Score:
        fallback = {
            Status.TIMEOUT: self.spec.on_timeout,
            Status.ERROR: self.spec.on_error,
            Status.INVALID_INPUT: self.spec.on_invalid_input,
        }.get(score.status)
        if fallback is None or score.value is not None:
            return score
        return Score(fallback, score.status, score.details)


@dataclass
class BatchResult:
    """Scores of one batch, per reward name, with the weights used to combine them."""

    scores: dict[str, list[Score]]
    weights: dict[str, float]
    metrics: dict[str, VerifierMetrics]
    size: int = 0
    elapsed_s: float = 0.0
    _rewards: list[float | None] | None = field(default=None, repr=False)

    @property
    def rewards(self) -> list[float | None]:
        """Weighted sum per sample over the verifiers that gave a value; None if none did."""
        if self._rewards is None:
            totals: list[float | None] = []
            for i in range(self.size):
                values = [
                    (self.weights[name], scores[i].value)
                    for name, scores in self.scores.items()
                    if scores[i].value is not None
                ]
                totals.append(sum(w * v for w, v in values) if values else None)
            self._rewards = totals
        return self._rewards

    def values(self, name: str) -> list[float | None]:
        return [score.value for score in self.scores[name]]

    def row_fields(self, index: int) -> dict[str, Any]:
        """The fields ``grpo score`` adds to a row: rewards, reward, status, details."""
        return {
            "rewards": {name: scores[index].value for name, scores in self.scores.items()},
            "reward": self.rewards[index],
            "status": {name: scores[index].status.value for name, scores in self.scores.items()},
            "details": {name: dict(scores[index].details) for name, scores in self.scores.items()},
        }


class Engine:
    """Scores batches of samples with a list of weighted verifiers.

    Use as a context manager (or call :meth:`close`) so worker processes are shut down.
    """

    def __init__(
        self,
        rewards: Sequence[RewardSpec | Mapping[str, Any]],
        *,
        registry: PluginRegistry | None = None,
        workers: int | None = None,
        cache_size: int = 65536,
        worker_memory_mb: int | None = None,
    ) -> None:
        """``workers``: processes for ``process`` verifiers (default: CPUs / local ranks);
        ``cache_size``: LRU entries per verifier; ``worker_memory_mb``: address-space cap per worker."""
        if not rewards:
            raise ConfigError("no rewards chosen: name at least one verifier")
        registry = registry or get_registry()
        self.bound: list[BoundVerifier] = []
        specs = [self._spec(raw, index) for index, raw in enumerate(rewards)]
        check_unique_reward_names(spec.reward_name for spec in specs)
        for spec in specs:
            cls, source = resolve_verifier(registry, spec.verifier, spec.options)
            try:
                verifier = cls(list_options(cls.Options, spec.options))
            except ValidationError as exc:
                raise ConfigError(
                    "bad option for verifier "
                    f"{spec.verifier!r}: {format_validation_error(exc, spec.reward_name)}"
                ) from None
            self.bound.append(
                BoundVerifier(
                    spec=spec,
                    verifier=verifier,
                    timeout=spec.timeout or cls.default_timeout,
                    cache=LRUCache(cache_size),
                    options_dict=verifier.options.model_dump(mode="json"),
                    source=source,
                )
            )
        self._dependencies = DependencyRunner(self.bound, self._score_one_verifier)
        for b in self.bound:  # a process verifier from __main__ must be sendable: fail now if not
            if b.verifier.isolation is Isolation.PROCESS:
                portable_class(type(b.verifier))
        preload = {
            module
            for b in self.bound
            if b.verifier.isolation is Isolation.PROCESS
            for module in (type(b.verifier).__module__, *type(b.verifier).worker_preload)
            if module != "__main__"
        }
        self._pool = (
            WorkerPool(workers, preload=preload, memory_limit_mb=worker_memory_mb)
            if self._needs_pool()
            else None
        )
        self.metrics: dict[str, VerifierMetrics] = {b.name: VerifierMetrics(b.name) for b in self.bound}
        #: reward name -> why its ``setup()`` failed last (from :meth:`start` or a batch).
        self.setup_errors: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._loop_lock = threading.Lock()

    @staticmethod
    def _spec(raw: RewardSpec | Mapping[str, Any], index: int) -> RewardSpec:
        """Validated afresh even when given a RewardSpec (``model_construct`` skips validation)."""
        try:
            if isinstance(raw, RewardSpec):
                return RewardSpec.model_validate(raw.model_dump())
            return RewardSpec.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, f"rewards[{index}]")) from None

    def _needs_pool(self) -> bool:
        return any(b.verifier.isolation is Isolation.PROCESS for b in self.bound)

    # -- introspection -------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [b.name for b in self.bound]

    @property
    def weights(self) -> dict[str, float]:
        return {b.name: b.spec.weight for b in self.bound}

    @property
    def sources(self) -> dict[str, str]:
        """Reward name -> ``verifier 'math' from grpo-reward-math 0.1.0``, for run headers: which
        distribution serves each reward is never a guess."""
        return {
            b.name: f"verifier {type(b.verifier).name!r} from {b.source or 'an unregistered class'}"
            for b in self.bound
        }

    def required_columns(self) -> dict[str, tuple[str, ...]]:
        return {b.name: tuple(b.verifier.columns) for b in self.bound}

    def missing_columns(self, row: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(reward name, column) pairs this row lacks."""
        return missing_columns(row, self.required_columns())

    # -- scoring -------------------------------------------------------------------------------
    def score(self, samples: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Synchronous wrapper of :meth:`score_async`; callable from any thread or a running loop.

        Batches run on one event loop owned by the engine (in a background thread) for the engine's
        whole life: async verifiers may hold loop-bound clients, and nothing leaks per call. Not
        ``asyncio.run``: its SIGINT bookkeeping reprs the whole result.
        """
        future = asyncio.run_coroutine_threadsafe(self.score_async(samples), self._event_loop())
        try:
            return future.result()
        except BaseException:  # Ctrl-C in the caller: stop the batch's work, not only the wait
            future.cancel()
            raise

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="grpo-engine-loop", daemon=True)
                thread.start()
                self._loop, self._loop_thread = loop, thread
            return self._loop

    async def score_async(self, samples: Sequence[Mapping[str, Any]]) -> BatchResult:
        started = time.perf_counter()
        batch = as_samples(samples)
        outcomes = await self._dependencies.score_all(batch)  # in dependency order
        scores = {b.name: outcomes[b.name][0] for b in self.bound}
        metrics = {b.name: outcomes[b.name][1] for b in self.bound}
        for name, m in metrics.items():
            self.metrics[name].merge(m)
        return BatchResult(
            scores=scores,
            weights=self.weights,
            metrics=metrics,
            size=len(batch),
            elapsed_s=time.perf_counter() - started,
        )

    async def score_verifier(
        self, name: str, samples: Sequence[Mapping[str, Any]]
    ) -> tuple[list[Score], VerifierMetrics]:
        """Score a batch with one of the engine's verifiers (what a per-reward TRL function needs)."""
        bound = next((b for b in self.bound if b.name == name), None)
        if bound is None:
            raise KeyError(f"no reward named {name!r}; this engine has {self.names}")
        batch = as_samples(samples)
        scores, metrics = await self._dependencies.score_one(name, batch)  # dependencies first
        self.metrics[name].merge(metrics)
        return scores, metrics

    async def _score_one_verifier(
        self, bound: BoundVerifier, batch: list[Sample]
    ) -> tuple[list[Score], VerifierMetrics]:
        verifier = bound.verifier
        results: list[Score | None] = [None] * len(batch)
        latencies: list[float | None] = [None] * len(batch)
        cached = [False] * len(batch)
        # Unique work: (cache key or None, indices sharing it, the sample to score).
        work: list[tuple[Hashable | None, list[int], Sample]] = []
        pending: dict[Hashable, list[int]] = {}
        for i, sample in enumerate(batch):
            missing = [col for _, col in missing_columns(sample, {bound.name: verifier.columns})]
            if missing:
                results[i] = bound.apply_policy(Score.invalid_input(f"row lacks column(s) {missing}"))
                continue
            try:
                key = dependency_cache_key(verifier.cache_key(sample), sample)
                if key is not None:
                    hash(key)
            except Exception as exc:
                results[i] = bound.apply_policy(Score.error(f"cache_key failed: {type(exc).__name__}: {exc}"))
                continue
            if key is None:
                work.append((None, [i], sample))
                continue
            hit = bound.cache.get(key)
            if hit is not None:
                results[i], cached[i] = hit, True
            elif key in pending:
                pending[key].append(i)
                cached[i] = True
            else:
                pending[key] = [i]
                work.append((key, pending[key], sample))

        executed = await self._execute(bound, [sample for _, _, sample in work])
        for (key, indices, _), (score, latency) in zip(work, executed):
            score = bound.apply_policy(score)
            if key is not None and score.status in CACHEABLE:
                bound.cache.put(key, score)
            for i in indices:
                results[i] = score
            latencies[indices[0]] = latency

        metrics = VerifierMetrics(bound.name)
        final: list[Score] = []
        for score, latency, was_cached in zip(results, latencies, cached):
            assert score is not None
            metrics.record(score.value, score.status, latency, was_cached)
            final.append(score)
        return final, metrics

    async def _execute(self, bound: BoundVerifier, samples: list[Sample]) -> list[tuple[Score, float]]:
        if not samples:
            return []
        isolation = bound.verifier.isolation
        if isolation is Isolation.PROCESS:
            assert self._pool is not None
            cls = type(bound.verifier)
            return list(
                await asyncio.gather(
                    *(self._pool.score(cls, bound.options_dict, dict(s), bound.timeout) for s in samples)
                )
            )
        problem = self._setup(bound)
        if problem is not None:  # retried next batch; this batch's samples carry the reason
            return [(Score.error(problem), 0.0)] * len(samples)
        if isolation is Isolation.ASYNC:
            return await self._execute_async(bound, samples)
        return await run_inline(bound, samples)

    def _setup(self, bound: BoundVerifier) -> str | None:
        """Run an inline/async verifier's ``setup()`` once; the failure message, or None.

        The same rule for :meth:`start` and the lazy path: a failing ``setup()`` never raises out of
        the engine; it becomes that verifier's error scores (and ``setup_errors``), retried later.
        """
        if bound.ready:
            return None
        try:
            bound.verifier.setup()
        except Exception as exc:
            problem = f"setup() failed: {type(exc).__name__}: {exc}"
            self.setup_errors[bound.name] = problem
            return problem
        bound.ready = True
        self.setup_errors.pop(bound.name, None)
        return None

    async def _execute_async(self, bound: BoundVerifier, samples: list[Sample]) -> list[tuple[Score, float]]:
        """A verifier that overrides ``score_batch`` gets chunks of ``max_batch_size``, at most
        ``max_concurrency`` in flight, the timeout bounding each call; otherwise each sample's
        ``ascore`` runs on its own with its own timeout, so one slow sample never fails others."""
        verifier = bound.verifier
        if type(verifier).score_batch is Verifier.score_batch:
            semaphore = asyncio.Semaphore(max(1, verifier.max_concurrency * verifier.max_batch_size))
            singles = await asyncio.gather(*(self._run_async_call(bound, [s], semaphore) for s in samples))
            return [result for (result,) in singles]
        size = max(1, verifier.max_batch_size)
        semaphore = asyncio.Semaphore(max(1, verifier.max_concurrency))
        chunks = [samples[i : i + size] for i in range(0, len(samples), size)]
        results = await asyncio.gather(
            *(self._run_async_call(bound, chunk, semaphore, True) for chunk in chunks)
        )
        return [item for chunk in results for item in chunk]

    @staticmethod
    async def _run_async_call(
        bound: BoundVerifier, chunk: list[Sample], semaphore: asyncio.Semaphore, batch: bool = False
    ) -> list[tuple[Score, float]]:
        verifier = bound.verifier
        async with semaphore:
            started = time.perf_counter()
            try:
                call = verifier.score_batch(chunk) if batch else verifier.ascore(chunk[0])
                result = await asyncio.wait_for(call, bound.timeout)
                raw = list(result) if batch else [result]
            except TimeoutError:
                return [(Score.timeout(bound.timeout), bound.timeout)] * len(chunk)
            except Exception as exc:
                error = Score.error(f"{type(exc).__name__}: {exc}")
                return [(error, time.perf_counter() - started)] * len(chunk)
        elapsed = (time.perf_counter() - started) / len(chunk)
        if len(raw) != len(chunk):
            error = Score.error(f"score_batch returned {len(raw)} results for {len(chunk)} samples")
            return [(error, elapsed)] * len(chunk)
        return [(to_score(r), elapsed) for r in raw]

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Engine:
        """Start the worker processes and set up every verifier now, not on the first batch.

        Trainers call this before the first step so step 1 does not pay for process start-up and
        heavy imports. Inline and async verifiers run ``setup()`` here too. A failing ``setup()``
        does not raise, exactly as on the lazy path: it is recorded in ``setup_errors`` (for the
        caller to show) and that verifier's samples get ``error`` scores until a retry succeeds.
        """
        for bound in self.bound:
            if bound.verifier.isolation is Isolation.PROCESS:
                assert self._pool is not None
                problem = self._pool.warm_up(type(bound.verifier), bound.options_dict)
                if problem:
                    self.setup_errors[bound.name] = problem
            else:
                self._setup(bound)
        return self

    def check_setup(self) -> None:
        """Raise a ConfigError naming every verifier whose ``setup()`` failed in :meth:`start`.

        Commands that must not run with a broken verifier (``grpo score``, ``grpo train``,
        ``grpo serve``) call ``start()`` then this, so a bad model path or a missing sandbox image
        exits 2 before the first row, instead of turning every row into an error.
        """
        if self.setup_errors:
            raise ConfigError(
                "; ".join(f"reward {name}: set-up failed: {msg}" for name, msg in self.setup_errors.items())
            )

    def close(self) -> None:
        """Stop the workers and the event loop; batches still in flight are cancelled first (so an
        interrupted run ends quickly and without "Task was destroyed" warnings)."""
        with self._loop_lock:
            loop, thread, self._loop, self._loop_thread = self._loop, self._loop_thread, None, None
        if loop is not None and thread is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(_cancel_pending(), loop).result(timeout=CANCEL_GRACE_S + 1)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not thread.is_alive():
                loop.close()
        if self._pool is not None:
            self._pool.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
