"""A pool of worker processes with a hard wall-clock limit per task.

Built on pebble: a task past its timeout has its worker killed and replaced, and a worker that dies
(``os._exit``, a segfault, the OOM killer) fails only its own task. Signal-based timeouts are not
used: they do not work off the main thread, where trainers call rewards.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Iterable
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import TYPE_CHECKING, Any

from grpo_core.verifier import Score, Verifier
from grpo_core.worker import init_worker, run_score, warm_worker
from grpo_core.workerstart import portable_class, worker_context

if TYPE_CHECKING:
    from pebble import ProcessPool

START_METHOD_ENV = "GRPO_WORKER_START_METHOD"


WORKERS_ENV = "GRPO_WORKERS"


def default_workers() -> int:
    """``GRPO_WORKERS``, else the usable CPUs shared among the node's training ranks.

    Under ``accelerate``/``torchrun`` every rank builds its own engine; dividing by
    ``LOCAL_WORLD_SIZE`` keeps 8 ranks from starting 8 x CPUs verifier processes.
    """
    if os.environ.get(WORKERS_ENV):
        return max(1, int(os.environ[WORKERS_ENV]))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, cpus // max(1, ranks))


class WorkerPool:
    """Runs ``process`` verifiers; started lazily, recreated if pebble declares it broken.

    Each worker may get an address-space cap (a runaway allocation becomes a ``MemoryError`` in
    that sample, not an OOM-killed training node) and is replaced after ``max_tasks_per_worker``
    samples, which bounds slow leaks such as sympy's ever-growing caches.

    The ``forkserver`` start method is the default: forking a trainer process that runs threads
    (event loops, torch) can deadlock, and the fork server preloads the verifiers' modules so a
    replacement worker does not pay for importing sympy again.
    """

    def __init__(
        self,
        workers: int | None = None,
        preload: Iterable[str] = (),
        *,
        memory_limit_mb: int | None = None,
        max_tasks_per_worker: int = 10000,
    ) -> None:
        self.workers = workers or default_workers()
        self.memory_limit_mb = memory_limit_mb
        self.max_tasks_per_worker = max_tasks_per_worker
        self.preload = sorted({"grpo_core.worker", *preload})
        self.start_method = os.environ.get(START_METHOD_ENV, "forkserver")
        self._pool: ProcessPool | None = None
        self._lock = threading.Lock()

    def _context(self) -> Any:
        context = worker_context(self.start_method)
        if self.start_method == "forkserver":
            context.set_forkserver_preload(self.preload)
        return context

    def _get_pool(self) -> ProcessPool:
        from pebble import ProcessPool  # here, not at import: only `process` verifiers need it

        with self._lock:
            if self._pool is None or not self._pool.active:
                if self._pool is not None:
                    self._pool.stop()
                self._pool = ProcessPool(
                    max_workers=self.workers,
                    max_tasks=self.max_tasks_per_worker,
                    initializer=init_worker,
                    initargs=(self.memory_limit_mb,),
                    context=self._context(),
                )
            return self._pool

    async def score(
        self, cls: type[Verifier], options: dict[str, Any], sample: dict[str, Any], timeout: float
    ) -> tuple[Score, float]:
        """Score one sample in a worker; returns (score, seconds spent)."""
        from pebble import ProcessExpired

        args = (portable_class(cls), options, sample)
        try:
            future = self._get_pool().schedule(run_score, args=args, timeout=timeout)
        except RuntimeError:  # the pool broke between the check and the call: start a new one
            with self._lock:
                broken, self._pool = self._pool, None
            if broken is not None:
                broken.stop()
            future = self._get_pool().schedule(run_score, args=args, timeout=timeout)
        try:
            return await asyncio.wrap_future(future)
        except FutureTimeoutError:
            return Score.timeout(timeout), timeout
        except ProcessExpired as exc:
            return Score.error(f"worker process died (exit code {exc.exitcode})", exitcode=exc.exitcode), 0.0
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:  # pickling failures, a broken pool, SystemExit sent back
            return Score.error(f"worker failure: {type(exc).__name__}: {exc}"), 0.0

    def warm_up(self, cls: type[Verifier], options: dict[str, Any], timeout: float = 120.0) -> str | None:
        """Start every worker and build ``cls`` in each (imports, ``setup()``) before real work.

        Best effort: a worker that fails here is replaced, and scoring reports its own errors.
        Returns the first failure's message (e.g. ``setup() failed: ...``), or None.
        """
        portable = portable_class(cls)
        futures = [
            self._get_pool().schedule(warm_worker, args=(portable, options), timeout=timeout)
            for _ in range(self.workers)
        ]
        done, _ = concurrent.futures.wait(futures, timeout=timeout)
        for future in done:
            exc = future.exception()
            if exc is not None:
                return f"setup() failed: {type(exc).__name__}: {exc}"
        return None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.stop()
                self._pool.join(timeout=10)
                self._pool = None
