"""The ``prm`` verifier: a process reward model's step scores, aggregated into one reward."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable, Sequence
from typing import Any

from grpo_core import ConfigError, Isolation, Sample, Score, Verifier
from grpo_core.sample import to_text
from grpo_reward_prm.adapters import ADAPTERS, Adapter, Encoded, MarkerMismatch
from grpo_reward_prm.aggregate import aggregate
from grpo_reward_prm.options import PRMOptions
from grpo_reward_prm.steps import StepRule, reasoning_text, split_steps

#: a fast tokenizer's Rust side refuses concurrent calls that reset its padding/truncation state
#: ("Already borrowed"); batches prepare in worker threads, and verifiers may share a tokenizer.
_TOKENIZER_LOCK = threading.Lock()

#: per-step scores kept in a sample's details (they are logged per sample)
DETAIL_STEPS = 64


class PRMVerifier(Verifier):
    """Process reward model: P(step is good) for each reasoning step, aggregated (min by default)."""

    name = "prm"
    Options = PRMOptions
    isolation = Isolation.ASYNC
    default_timeout = 300.0

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        opts: PRMOptions = self.options  # type: ignore[assignment]
        self.adapter: Adapter = ADAPTERS[opts.adapter](opts)
        self.rule = StepRule(opts.split, opts.split_regex, opts.max_steps)
        self.columns = (opts.question_column,) if opts.question_column else ()
        self.max_batch_size = opts.batch_size
        # Local: one forward pass at a time per model anyway; served: the client bounds requests.
        self.max_concurrency = 1 if opts.mode == "local" else 2
        self._model: Any = None
        self._tokenizer: Any = None
        self._context: int | None = None
        self._client: Any = None

    # -- set-up --------------------------------------------------------------------------------
    def setup(self) -> None:
        """Load the model (local) or the tokenizer (served) once per process.

        What the user can fix (a missing extra, a model that does not load, a marker token the
        tokenizer lacks) is a ConfigError naming the option: ``grpo train`` exits 2 before step 1.
        """
        opts: PRMOptions = self.options  # type: ignore[assignment]
        extra = "local" if opts.mode == "local" else "served"
        try:
            self._load()
        except ImportError as exc:
            raise ConfigError(
                f"prm (mode: {opts.mode}) needs {exc.name or exc}: pip install 'grpo-reward-prm[{extra}]'"
            ) from exc
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"prm: cannot use model {opts.model!r} with adapter {opts.adapter!r}: {exc}"
            ) from exc

    def _load(self) -> None:
        opts: PRMOptions = self.options  # type: ignore[assignment]
        if opts.mode == "local":
            from grpo_reward_prm.local import get_model

            self._model = get_model(
                opts.model, self.adapter.model_kind, opts.device, opts.dtype, opts.trust_remote_code
            )
            self._tokenizer, self._context = self._model.tokenizer, self._model.context
        else:
            from transformers import AutoConfig

            from grpo_reward_prm.local import context_length, load_tokenizer
            from grpo_reward_prm.served import PoolingClient

            self._tokenizer = load_tokenizer(opts.model, opts.trust_remote_code)
            try:
                config = AutoConfig.from_pretrained(opts.model, trust_remote_code=opts.trust_remote_code)
            except (OSError, ValueError):
                config = None  # a tokenizer-only directory: the tokenizer's own limit, or max_length
            self._context = context_length(config, self._tokenizer)
            self._client = PoolingClient(opts, self.adapter.served_good_index)
        self.adapter.prepare(self._tokenizer)
        if opts.max_length is not None:
            self._context = min(opts.max_length, self._context or opts.max_length)

    # -- what is scored ------------------------------------------------------------------------
    def _question(self, sample: Sample) -> str:
        column = self.options.question_column
        if column:
            return to_text(sample[column])
        prompt = sample.prompt
        question = prompt if isinstance(prompt, str) else to_text(prompt, role="user")
        return question

    def _steps(self, sample: Sample) -> list[str] | None:
        text = reasoning_text(sample.completion_text, self.options.scope)
        if text is None:
            return None
        return split_steps(self.adapter.clean(text), self.rule)

    def cache_key(self, sample: Sample) -> Hashable | None:
        if self.options.question_column and self.options.question_column not in sample:
            return None
        steps = self._steps(sample)
        return (self.adapter.clean(self._question(sample)), tuple(steps) if steps is not None else None)

    # -- scoring -------------------------------------------------------------------------------
    async def score_batch(self, samples: Sequence[Sample]) -> list[Score]:
        if self.options.mode == "local":
            return await asyncio.to_thread(self._score_local, samples)
        prepared = await asyncio.to_thread(self._prepare, samples)
        jobs = [(i, item) for i, item in enumerate(prepared) if isinstance(item, Encoded)]
        outcomes = await self._client.score([item for _, item in jobs])
        results = list(prepared)
        for (i, _), outcome in zip(jobs, outcomes):
            results[i] = (
                Score.error(str(outcome)) if isinstance(outcome, Exception) else self._finish(outcome)
            )
        return results  # type: ignore[return-value]

    def _score_local(self, samples: Sequence[Sample]) -> list[Score]:
        prepared = self._prepare(samples)
        jobs = [(i, item) for i, item in enumerate(prepared) if isinstance(item, Encoded)]
        probabilities = self._model.run([item for _, item in jobs], self.adapter, self.options.token_budget)
        results = list(prepared)
        for (i, _), probs in zip(jobs, probabilities):
            results[i] = self._finish(probs)
        return results  # type: ignore[return-value]

    def _prepare(self, samples: Sequence[Sample]) -> list[Score | Encoded]:
        """Encode each sample, or say why it is not scored (no reasoning, no steps, too long)."""
        prepared: list[Score | Encoded] = []
        for sample in samples:
            steps = self._steps(sample)
            if steps is None:
                prepared.append(Score.not_applicable("no <think> block"))
                continue
            if not steps:
                prepared.append(Score.not_applicable("no reasoning steps"))
                continue
            question = self.adapter.clean(self._question(sample))
            try:
                with _TOKENIZER_LOCK:
                    encoded = self.adapter.encode(self._tokenizer, question, steps)
            except MarkerMismatch as exc:
                prepared.append(Score.error(str(exc)))
                continue
            except Exception as exc:  # a tokenizer failing on one text fails that sample only
                prepared.append(Score.error(f"tokenizing failed: {type(exc).__name__}: {exc}"))
                continue
            if self._context is not None and len(encoded.input_ids) > self._context:
                prepared.append(
                    Score.not_applicable(
                        "too_long", tokens=len(encoded.input_ids), max_length=self._context, steps=len(steps)
                    )
                )
                continue
            prepared.append(encoded)
        return prepared

    def _finish(self, probabilities: list[float]) -> Score:
        try:
            value = aggregate(probabilities, self.options.aggregation)
        except ValueError as exc:  # NaN from an overflowing half-precision model, say: not a 0
            return Score.error(f"model gave unusable step scores: {exc}")
        details: dict[str, Any] = {
            "steps": len(probabilities),
            "step_scores": [round(p, 4) for p in probabilities[:DETAIL_STEPS]],
            "aggregation": self.options.aggregation,
        }
        if len(probabilities) > DETAIL_STEPS:
            details["step_scores_truncated"] = True
        return Score.ok(value, **details)
