"""Warm bubblewrap sandboxes: each a long-lived runner session that runs jobs one after another.

Starting a sandbox (namespaces, mounts, a cgroup, the interpreter and its zygote) costs tens of ms of
CPU; a warm one runs a job in an interpreter forked from its pristine zygote in a few ms. This is the
bwrap counterpart of the Docker backend's session mode, with the same clean-up between jobs, done by
the runner (``kill_all``): every other process of the sandbox is killed, ``/work``, ``/tmp`` and
``/dev/shm`` are wiped, System V and POSIX IPC objects removed, the shared directories' times and
extended attributes reset. A sandbox is discarded, never reused, when that clean-up reports anything
left, when its job ran past the host-side deadline, when its runner is gone, or after ``max_jobs``
jobs or ``max_age`` seconds. The sandbox's cgroup (memory of all its processes, pids, CPU quota) and
host uid (as root) are its own for its whole life, so a pool serves one set of those limits;
per-job rlimits, wall time and output caps travel with each job.
"""

from __future__ import annotations

import contextlib
import os
import queue
import selectors
import subprocess
import threading
import time
from typing import TYPE_CHECKING

from sandboxes.base import Job, Limits, Result, SandboxError
from sandboxes.protocol import (
    RUNNER_GRACE,
    decode_result,
    max_reply_bytes,
    new_nonce,
    result_end,
    reusable_after,
)

if TYPE_CHECKING:
    from sandboxes.local import BwrapBackend, Launch


def killed_by_signal(code: int | None) -> bool:
    """The runner died of a signal (``-N``, or ``128+N`` as bwrap reports its child's death).

    The runner ignores every signal it can, so only SIGKILL can end it, and while a job runs only a
    process of the job (same uid) or the kernel's OOM killer (the job's memory) sends one: either
    way the program's doing. The host's own kill on a deadline is told apart by the caller.
    """
    return code is not None and (code < 0 or 128 < code <= 128 + 64)


class _Sandbox:
    """One started sandbox: bwrap, its runner (serving jobs on stdin) and what it holds."""

    def __init__(self, launch: Launch, proc: subprocess.Popen) -> None:
        self.launch = launch
        self.proc = proc
        self.created = time.monotonic()
        self.jobs = 0
        for stream in (proc.stdout, proc.stderr):
            os.set_blocking(stream.fileno(), False)  # type: ignore[union-attr]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, 9)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(Exception):
                stream.close()  # type: ignore[union-attr]
        if self.proc.poll() is None:
            # still not gone: its uid must not go to a new sandbox while it may run (the cgroup
            # is still destroyed, which kills what is left in it)
            self.launch.uid = None
        self.launch.release()


class BwrapPool:
    """Warm sandboxes of one set of cgroup limits (memory, pids, cpus) of one :class:`BwrapBackend`."""

    def __init__(
        self,
        backend: BwrapBackend,
        limits: Limits,
        size: int,
        *,
        max_jobs: int = 1000,
        max_age: float = 3600.0,
    ) -> None:
        self.backend = backend
        self.limits = limits
        self.size = max(1, size)
        self.max_jobs = max_jobs
        self.max_age = max_age
        self._idle: queue.LifoQueue[_Sandbox] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(self.size)
        self._all: set[_Sandbox] = set()
        self._all_lock = threading.Lock()
        self._closed = False
        self._warming = 0
        self._warming_lock = threading.Lock()
        self.stats = {"created": 0, "recycled": 0, "jobs": 0, "host_kills": 0, "retried": 0}

    # -- sandboxes -----------------------------------------------------------------------------
    def _start(self) -> _Sandbox:
        launch = self.backend.launch(self.limits, serve=True)
        try:
            proc = subprocess.Popen(
                launch.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                close_fds=True,
                **launch.popen,  # type: ignore[arg-type]
            )
        except OSError as exc:
            launch.release()
            raise SandboxError(f"bwrap: cannot start {launch.argv[0]}: {exc}") from exc
        launch.started()
        sandbox = _Sandbox(launch, proc)
        with self._all_lock:
            self._all.add(sandbox)
        self.stats["created"] += 1
        return sandbox

    def _discard(self, sandbox: _Sandbox) -> None:
        with self._all_lock:
            self._all.discard(sandbox)
        sandbox.kill()

    def _acquire(self, fresh: bool = False) -> _Sandbox:
        self._slots.acquire()  # at most `size` jobs hold a sandbox
        try:
            if fresh:
                return self._start()
            while True:
                try:
                    sandbox = self._idle.get_nowait()
                except queue.Empty:
                    if self._warming <= 0:
                        return self._start()
                    try:
                        sandbox = self._idle.get(timeout=0.02)
                    except queue.Empty:
                        continue
                if sandbox.alive() and time.monotonic() - sandbox.created < self.max_age:
                    return sandbox
                self.stats["recycled"] += 1
                self._discard(sandbox)
        except BaseException:
            self._slots.release()
            raise

    def _release(self, sandbox: _Sandbox, reusable: bool) -> None:
        try:
            if reusable and not self._closed and sandbox.jobs < self.max_jobs:
                self._idle.put(sandbox)
            else:
                self.stats["recycled"] += 1
                self._discard(sandbox)
        finally:
            self._slots.release()

    def warm(self, count: int | None = None, background: bool = False) -> None:
        """Start sandboxes ahead of the first jobs; ``background``: return at once (jobs arriving
        meanwhile wait for these instead of starting more)."""
        missing = max(0, min(self.size, count or self.size) - self._idle.qsize())
        errors: list[BaseException] = []
        with self._warming_lock:
            self._warming += missing

        def one() -> None:
            try:
                sandbox = self._start()
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
        if errors and len(errors) == missing:
            raise errors[0]

    def close(self) -> None:
        self._closed = True
        with self._all_lock:
            sandboxes = list(self._all)
            self._all.clear()
        for sandbox in sandboxes:
            sandbox.kill()

    # -- jobs ----------------------------------------------------------------------------------
    def run(self, job: Job) -> Result:
        result, started = self._run_on(self._acquire(), job)
        if result.error is not None and not started:
            # it failed before the program started (a sandbox a previous job left unusable): not
            # the program's doing, so one more try on a fresh sandbox
            self.stats["retried"] += 1
            result, _ = self._run_on(self._acquire(fresh=True), job)
        return result

    def _run_on(self, sandbox: _Sandbox, job: Job) -> tuple[Result, bool]:
        reusable = False
        started = True
        try:
            result, reusable, started = self._exec(sandbox, job)
            return result, started
        finally:
            sandbox.jobs += 1
            self.stats["jobs"] += 1
            self._release(sandbox, reusable)

    def _exec(self, sandbox: _Sandbox, job: Job) -> tuple[Result, bool, bool]:
        """One job over the sandbox's session: (result, reusable, program may have started)."""
        name = self.backend.name
        began = time.monotonic()
        nonce = new_nonce()
        payload = self.backend.payload(job, nonce)
        group = sandbox.launch.group
        before = group.job_start() if group is not None else {}
        deadline = began + job.limits.wall_time + RUNNER_GRACE
        out, err, state = self._converse(sandbox, payload, deadline, max_reply_bytes(job), nonce)
        elapsed = time.monotonic() - began
        if state == "timeout":
            self.stats["host_kills"] += 1
            return Result(exit_code=137, signal=9, timed_out=True, elapsed=elapsed, backend=name), False, True
        if state == "overflow":
            return Result.failure("sandbox runner reply exceeded its cap", name, elapsed), False, True
        if state == "unwritable":  # the runner was gone before it read the job
            return Result.failure("bwrap sandbox runner is gone", name, elapsed), False, False
        result, raw = decode_result(out, err, name, elapsed, nonce)
        if state == "eof" and result.error is not None and result.error.startswith("sandbox runner gave no"):
            with contextlib.suppress(subprocess.TimeoutExpired):
                sandbox.proc.wait(timeout=2)
            if killed_by_signal(sandbox.proc.returncode):
                # the runner was killed mid-job, and not by us: the program did it (it runs as the
                # same uid inside), a program outcome as under Docker and in fresh sandboxes
                result = Result(
                    exit_code=137, signal=9, stderr="the program killed the sandbox runner", backend=name
                )
            elif sandbox.proc.returncode is not None:
                result.error += f" (runner exit status {sandbox.proc.returncode})"
        if group is not None:
            result.extra["cgroup"] = group.job_stats(before)
        started = raw.get("program_started") is not False
        return result, reusable_after(state, result, raw), started

    @staticmethod
    def _converse(
        sandbox: _Sandbox, payload: bytes, deadline: float, cap: int, nonce: str
    ) -> tuple[bytes, bytes, str]:
        """Send the job, read until its result line: state ``done``, ``eof``, ``timeout``,
        ``overflow`` or ``unwritable``."""
        proc = sandbox.proc
        try:
            proc.stdin.write(payload)  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
        except (OSError, ValueError):
            return b"", b"", "unwritable"
        buffers = {"out": bytearray(), "err": bytearray()}
        total = 0
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ, "out")  # type: ignore[arg-type]
            selector.register(proc.stderr, selectors.EVENT_READ, "err")  # type: ignore[arg-type]
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return bytes(buffers["out"]), bytes(buffers["err"]), "timeout"
                for key, _ in selector.select(remaining):
                    try:
                        chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                    except BlockingIOError:
                        continue
                    except OSError:
                        chunk = b""
                    if not chunk:
                        if key.data == "out":
                            return bytes(buffers["out"]), bytes(buffers["err"]), "eof"
                        selector.unregister(key.fileobj)
                        continue
                    total += len(chunk)
                    if total > cap:
                        return bytes(buffers["out"]), bytes(buffers["err"]), "overflow"
                    buffers[key.data].extend(chunk)
                if result_end(buffers["out"], nonce) >= 0:
                    return bytes(buffers["out"]), bytes(buffers["err"]), "done"
