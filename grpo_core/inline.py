"""Running ``inline`` verifiers under a watchdog, so that not even an inline verifier hangs its caller.

A batch runs on a worker thread while the engine's event loop watches the sample in progress. A
sample past its timeout gets a ``timeout`` score and its thread is abandoned (Python cannot stop a
thread); the rest of the batch continues on a fresh thread. Each abandoned thread may keep burning
CPU, so a verifier that times out ``INLINE_TIMEOUT_LIMIT`` times is disabled: its later samples get
an ``error`` score saying why. Code that can hang belongs in a ``process`` verifier, where a
timeout kills the worker; and a hang inside C code that holds the GIL cannot be watched at all.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from grpo_core.sample import Sample
from grpo_core.verifier import Score, Verifier, to_score

if TYPE_CHECKING:
    from grpo_core.engine import BoundVerifier

#: timeouts after which an inline verifier is disabled for the engine's life
INLINE_TIMEOUT_LIMIT = 3


def score_inline(verifier: Verifier, sample: Sample) -> tuple[Score, float]:
    """One sample, its exceptions (SystemExit included) turned into its own error score."""
    started = time.perf_counter()
    try:
        score = to_score(verifier.score(sample))
    except BaseException as exc:  # noqa: BLE001 - verifier code must not end the engine's thread
        score = Score.error(f"{type(exc).__name__}: {exc}")
    return score, time.perf_counter() - started


@dataclass
class _Runner:
    """One worker thread's progress through the batch, shared with the watchdog under ``lock``."""

    index: int
    started: float = field(default_factory=time.monotonic)
    abandoned: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def disabled_score(bound: BoundVerifier) -> Score:
    return Score.error(
        f"verifier {bound.name!r} disabled: it ran past its {bound.timeout:g}s timeout "
        f"{bound.inline_timeouts} times as an inline verifier, which cannot be stopped in-process; "
        "fix the hang or make the verifier isolation 'process'",
        disabled=True,
    )


async def run_inline(bound: BoundVerifier, samples: list[Sample]) -> list[tuple[Score, float]]:
    """Score ``samples`` in order on a watched thread; see the module docstring for the rules."""
    results: list[tuple[Score, float] | None] = [None] * len(samples)
    loop = asyncio.get_running_loop()
    position = 0
    while position < len(samples):
        if bound.inline_timeouts >= INLINE_TIMEOUT_LIMIT:
            for i in range(position, len(samples)):
                results[i] = (disabled_score(bound), 0.0)
            break
        runner = _Runner(position)
        finished = asyncio.Event()

        def work(runner: _Runner = runner, finished: asyncio.Event = finished) -> None:
            for i in range(runner.index, len(samples)):
                outcome = score_inline(bound.verifier, samples[i])
                with runner.lock:
                    if runner.abandoned:
                        return
                    results[i] = outcome
                    runner.index, runner.started = i + 1, time.monotonic()
            loop.call_soon_threadsafe(finished.set)

        threading.Thread(target=work, name=f"grpo-inline-{bound.name}", daemon=True).start()
        try:
            position = await _watch(bound, runner, finished, results)
        except asyncio.CancelledError:  # the caller gave up (Ctrl-C): the thread stops after its sample
            with runner.lock:
                runner.abandoned = True
            raise
    return [r if r is not None else (Score.error("inline verifier produced no result"), 0.0) for r in results]


async def _watch(
    bound: BoundVerifier,
    runner: _Runner,
    finished: asyncio.Event,
    results: list[tuple[Score, float] | None],
) -> int:
    """Wait for the thread to finish the batch; returns where scoring must resume."""
    while True:
        with runner.lock:
            deadline = runner.started + bound.timeout
        try:
            await asyncio.wait_for(finished.wait(), max(0.0, deadline - time.monotonic()))
            return len(results)
        except TimeoutError:
            pass
        with runner.lock:
            if time.monotonic() < runner.started + bound.timeout:
                continue  # it moved on to the next sample meanwhile
            runner.abandoned = True
            stuck = runner.index
        results[stuck] = (Score.timeout(bound.timeout), bound.timeout)
        bound.inline_timeouts += 1
        return stuck + 1
