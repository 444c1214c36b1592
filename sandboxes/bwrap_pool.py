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

import concurrent.futures
import contextlib
import os
import selectors
import subprocess
import threading
import time
from typing import TYPE_CHECKING

from sandboxes.base import Job, Limits, Result, SandboxError
from sandboxes.protocol import (
    RUNNER_GRACE,
    decode_result,
    kept_files,
    max_reply_bytes,
    new_nonce,
    result_end,
    reusable_after,
)
from sandboxes.warm_pool import WarmPool

if TYPE_CHECKING:
    from sandboxes.local import BwrapBackend, Launch


def killed_by_signal(code: int | None) -> bool:
    """The runner died of a signal (``-N``, or ``128+N`` as bwrap reports its child's death).

    The runner ignores every signal it can, so only SIGKILL can end it, and while a job runs only a
    process of the job (same uid) or the kernel's OOM killer (the job's memory) sends one: either
    way the program's doing. The host's own kill on a deadline is told apart by the caller.
    """
    return code is not None and (code < 0 or 128 < code <= 128 + 64)


def start_runner(argv: list[str], popen: dict[str, object], backend: str) -> subprocess.Popen:
    """Start a sandbox's runner with pipes for the job and the reply, in its own session."""
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
            **popen,  # type: ignore[arg-type]
        )
    except OSError as exc:
        raise SandboxError(f"{backend}: cannot start {argv[0]}: {exc}") from exc


# bwrap --die-with-parent sets a parent-death signal, and Linux sends it when the *thread* that
# started the sandbox ends, not the process: a warm sandbox started from a short-lived thread would
# be killed (mid-job, even) when that thread returns. Every warm sandbox is started from this one
# thread, which lives as long as the process. Made under a lock: a pool warms its sandboxes from
# several threads at once, and two launchers made by a race left one to be collected, its thread
# to end, and the sandbox it had started to be killed (a correct program's job read as "the program
# killed the sandbox runner").
_LAUNCHER: list[concurrent.futures.ThreadPoolExecutor] = []
_LAUNCHER_LOCK = threading.Lock()


def _launcher() -> concurrent.futures.ThreadPoolExecutor:
    with _LAUNCHER_LOCK:
        if not _LAUNCHER:
            _LAUNCHER.append(
                concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="grpo-bwrap")
            )
        return _LAUNCHER[0]


def start_warm_runner(argv: list[str], popen: dict[str, object], backend: str) -> subprocess.Popen:
    """:func:`start_runner` on the process-long launcher thread."""
    return _launcher().submit(start_runner, argv, popen, backend).result()


def forget_launcher() -> None:
    """In a forked child: the parent's launcher thread does not exist here (nor may its lock be
    held by a thread that is not)."""
    global _LAUNCHER_LOCK
    _LAUNCHER.clear()
    _LAUNCHER_LOCK = threading.Lock()


class _Sandbox:
    """One started sandbox: bwrap, its runner (serving jobs on stdin) and what it holds."""

    def __init__(self, launch: Launch, proc: subprocess.Popen) -> None:
        self.launch = launch
        self.proc = proc
        self.created = time.monotonic()
        self.jobs = 0
        self.busy = False  # a job's thread is reading its pipes
        self.closing = False  # killed by the pool's close(), not by anything of the job
        self.kept: frozenset[str] = frozenset()  # digests of the files its runner keeps
        for stream in (proc.stdout, proc.stderr):
            os.set_blocking(stream.fileno(), False)  # type: ignore[union-attr]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        self.closing = True
        # only while it is not reaped: a reaped pid (and process group id) can belong to another
        # process by now, e.g. a new sandbox (pids wrap quickly where pid_max is 32768)
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, 9)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)
        if not self.busy:  # a job's thread closes them itself: closed under its select, it would hang
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                with contextlib.suppress(Exception):
                    stream.close()  # type: ignore[union-attr]
        if self.proc.poll() is None:
            # still not gone: its uid must not go to a new sandbox while it may run (the cgroup
            # is still destroyed, which kills what is left in it)
            self.launch.uid = None
        self.launch.release()


class BwrapPool(WarmPool[_Sandbox]):
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
        super().__init__(size, max_jobs=max_jobs, max_age=max_age)
        self.backend = backend
        self.limits = limits

    def _start(self) -> _Sandbox:
        launch = self.backend.launch(self.limits, serve=True)
        try:
            proc = start_warm_runner(launch.argv, launch.popen, self.backend.name)
        except SandboxError:
            launch.release()
            raise
        launch.started()
        return _Sandbox(launch, proc)

    def _stop(self, sandbox: _Sandbox) -> None:
        sandbox.kill()

    def _usable(self, sandbox: _Sandbox) -> bool:
        return sandbox.alive() and super()._usable(sandbox)

    def _exec(self, sandbox: _Sandbox, job: Job, backend: str = "") -> tuple[Result, bool, bool]:
        """One job over the sandbox's session: (result, reusable, program may have started)."""
        name = self.backend.name
        began = time.monotonic()
        nonce = new_nonce()
        payload = self.backend.payload(job, nonce, kept=sandbox.kept)
        group = sandbox.launch.group
        before = group.job_start() if group is not None else {}
        deadline = began + job.limits.wall_time + RUNNER_GRACE
        sandbox.busy = True
        try:
            out, err, state = self._converse(sandbox, payload, deadline, max_reply_bytes(job), nonce)
        finally:
            sandbox.busy = False
        elapsed = time.monotonic() - began
        if sandbox.closing:  # the pool was closed under the job: the host's doing, never the program's
            return Result.failure("the sandbox pool was closed while the job ran", name, elapsed), False, True
        if state == "timeout":
            self.stats["host_kills"] += 1
            return Result(exit_code=137, signal=9, timed_out=True, elapsed=elapsed, backend=name), False, True
        if state == "overflow":
            return Result.failure("sandbox runner reply exceeded its cap", name, elapsed), False, True
        if state == "unwritable":  # the runner was gone before it read the job
            return Result.failure("bwrap sandbox runner is gone", name, elapsed), False, False
        result, raw = decode_result(out, err, name, elapsed, nonce)
        sandbox.kept = kept_files(raw)
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
