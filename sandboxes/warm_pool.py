"""What every pool of warm sandboxes shares (Docker containers, bwrap sandboxes in session mode).

At most ``size`` jobs hold a sandbox at once (back-pressure, not a pile-up of sandboxes); each
sandbox runs one job at a time and goes back to the pool only when that job left it reusable, it
ran fewer than ``max_jobs`` jobs and is younger than ``max_age``. A job that failed before its
program could start (a sandbox an earlier job left unusable) is retried once on a fresh sandbox:
not the program's doing. Subclasses say how a sandbox starts, runs a job and goes away.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Generic, Protocol, TypeVar

from sandboxes.base import Job, Result


class Sandbox(Protocol):
    created: float  # time.monotonic() at start
    jobs: int


S = TypeVar("S", bound=Sandbox)


class WarmPool(Generic[S]):
    """Acquire, release, warm-up and retry for pools of one kind of sandbox."""

    def __init__(self, size: int, *, max_jobs: int = 1000, max_age: float = 3600.0) -> None:
        self.size = max(1, size)
        self.max_jobs = max_jobs
        self.max_age = max_age
        self._idle: queue.LifoQueue[S] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(self.size)
        self._all: dict[int, S] = {}
        self._all_lock = threading.Lock()
        self._closed = False
        self._warming = 0  # sandboxes being started by warm(): jobs wait for them, not start more
        self._warming_lock = threading.Lock()
        self._busy = 0  # sandboxes held by jobs
        self.stats = {"created": 0, "recycled": 0, "jobs": 0, "host_kills": 0, "retried": 0}

    # -- what a subclass provides ------------------------------------------------------------
    def _start(self) -> S:
        """Start one sandbox, ready for a job (raise SandboxError when it cannot)."""
        raise NotImplementedError

    def _stop(self, sandbox: S) -> None:
        """Make the sandbox go away (it is already out of the pool)."""
        raise NotImplementedError

    def _exec(self, sandbox: S, job: Job, backend: str) -> tuple[Result, bool, bool]:
        """Run one job: (result, the sandbox is reusable, the program may have started)."""
        raise NotImplementedError

    def _usable(self, sandbox: S) -> bool:
        return time.monotonic() - sandbox.created < self.max_age

    # -- sandboxes -----------------------------------------------------------------------------
    def _new(self) -> S:
        sandbox = self._start()
        with self._all_lock:
            self._all[id(sandbox)] = sandbox
        self.stats["created"] += 1
        return sandbox

    def _discard(self, sandbox: S) -> None:
        with self._all_lock:
            self._all.pop(id(sandbox), None)
        self._stop(sandbox)

    def sandboxes(self) -> list[S]:
        with self._all_lock:
            return list(self._all.values())

    def close(self) -> None:
        """Stop every sandbox; jobs still running end as infrastructure errors."""
        for sandbox in self._take_all():
            self._stop(sandbox)

    def _take_all(self) -> list[S]:
        """For close(): every sandbox, now out of the pool."""
        self._closed = True
        with self._all_lock:
            sandboxes = list(self._all.values())
            self._all.clear()
        return sandboxes

    def _acquire(self, fresh: bool = False) -> S:
        self._slots.acquire()
        try:
            sandbox = self._take(fresh)
        except BaseException:
            self._slots.release()
            raise
        with self._warming_lock:
            self._busy += 1
        return sandbox

    def _take(self, fresh: bool) -> S:
        if fresh:
            return self._new()
        while True:
            try:
                sandbox = self._idle.get_nowait()
            except queue.Empty:
                if self._warming <= 0:
                    return self._new()
                try:
                    sandbox = self._idle.get(timeout=0.02)
                except queue.Empty:
                    continue
            if self._usable(sandbox):
                return sandbox
            self.stats["recycled"] += 1
            self._discard(sandbox)

    def _release(self, sandbox: S, reusable: bool) -> None:
        with self._warming_lock:
            self._busy -= 1
        try:
            if reusable and not self._closed and sandbox.jobs < self.max_jobs:
                self._idle.put(sandbox)
            else:
                self.stats["recycled"] += 1
                self._discard(sandbox)
        finally:
            self._slots.release()

    def warm(self, count: int | None = None, background: bool = False) -> None:
        """Start sandboxes ahead of the first jobs, in parallel. ``background``: return at once;
        each joins the pool when it is up, and jobs arriving meanwhile wait for those."""
        errors: list[BaseException] = []
        with self._warming_lock:  # idle, starting and busy sandboxes all count toward the size
            have = self._idle.qsize() + self._warming + self._busy
            missing = max(0, min(self.size, count or self.size) - have)
            self._warming += missing

        def one() -> None:
            try:
                sandbox = self._new()
                if self._closed:
                    self._discard(sandbox)
                else:
                    self._idle.put(sandbox)
            except BaseException as exc:
                errors.append(exc)
            finally:
                with self._warming_lock:
                    self._warming -= 1

        threads = [threading.Thread(target=one, daemon=True) for _ in range(missing)]
        for thread in threads:
            thread.start()
        if background:
            return
        for thread in threads:
            thread.join()
        if missing and len(errors) == missing:
            raise errors[0]

    # -- jobs ----------------------------------------------------------------------------------
    def run(self, job: Job, backend: str = "") -> Result:
        result, started = self._run_on(self._acquire(), job, backend)
        if result.error is not None and not started:
            self.stats["retried"] += 1
            result, _ = self._run_on(self._acquire(fresh=True), job, backend)
        return result

    def _run_on(self, sandbox: S, job: Job, backend: str) -> tuple[Result, bool]:
        reusable = False
        try:
            result, reusable, started = self._exec(sandbox, job, backend)
            return result, started
        finally:
            sandbox.jobs += 1
            self.stats["jobs"] += 1
            self._release(sandbox, reusable)
