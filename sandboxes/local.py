"""Backends for machines without Docker: bubblewrap (+ rlimits), and an explicitly unsafe subprocess.

``bwrap``: network, PID, IPC, UTS and user namespaces; the host's ``/usr`` read-only; size-capped
tmpfs ``/work``, ``/tmp`` and ``/dev/shm`` (the rest of ``/dev`` read-only); no host ``/etc``, ``/home``
or environment; a seccomp filter so no process of the job can ptrace another (PID 1 included) or use
the kernel keyrings; rlimits for CPU time, file size and open files. Each sandbox has its own cgroup
(:mod:`sandboxes.cgroups`, v1 or v2): memory of all its processes together (no swap), a pids cap and
a CPU quota. Where cgroups cannot be made (no root, no delegation) :meth:`BwrapBackend.limitations`
says what is not enforced (memory is then only a per-process address-space limit, no CPU quota) and
callers can refuse to run. Run as root, each sandbox gets its own unprivileged host uid.

Mode ``session`` (default) keeps warm sandboxes that run one job at a time, scrubbed between jobs
(:mod:`sandboxes.bwrap_pool`); mode ``fresh`` starts a new sandbox for every job.

``subprocess``: no isolation at all (a plain child process in a temp dir, rlimits only). It refuses to
run unless ``GRPO_SANDBOX_ALLOW_UNSAFE=1`` is set or it is built with ``allow_unsafe=True``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import Field, PositiveInt, field_validator

from sandboxes import cgroups as cgroup_mod
from sandboxes import seccomp
from sandboxes.base import (
    UNSAFE_ENV,
    BackendOptions,
    ConcurrencyLimit,
    Job,
    Limits,
    Result,
    SandboxBackend,
    SandboxUnavailable,
)
from sandboxes.bwrap_pool import BwrapPool, forget_launcher, killed_by_signal, start_runner
from sandboxes.protocol import (
    RUNNER_GRACE,
    decode_result,
    encode_job,
    max_reply_bytes,
    new_nonce,
    runner_command,
)

#: host uids handed to bwrap sandboxes when running as root (one per live sandbox, process-wide)
UID_BASE = 231000
_FREE_UIDS: queue.SimpleQueue[int] = queue.SimpleQueue()
_UID_LOCK = threading.Lock()
_NEXT_UID = [UID_BASE]
#: size caps of the job's writable file systems (MiB), as in the Docker backend
WORK_TMPFS_MB = 128
TMP_TMPFS_MB = 64
SHM_TMPFS_MB = 64


def _run_runner(
    argv: list[str], payload: bytes, job: Job, backend: str, nonce: str, **popen: object
) -> tuple[Result, dict[str, object]]:
    """Start the runner, send the job, read its reply with a cap and a host-side deadline."""
    started = time.monotonic()
    proc = start_runner(argv, popen, backend)
    cap = max_reply_bytes(job)
    out = bytearray()
    err = bytearray()

    def pump(stream: object, buf: bytearray) -> None:
        fd = stream.fileno()  # type: ignore[attr-defined]
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            if len(buf) < cap:
                buf.extend(chunk[: cap - len(buf)])

    readers = [
        threading.Thread(target=pump, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, err), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        assert proc.stdin is not None
        proc.stdin.write(payload)
        proc.stdin.close()
    except OSError:
        pass
    deadline = job.limits.wall_time + RUNNER_GRACE
    host_killed = False
    try:
        proc.wait(timeout=deadline)
    except subprocess.TimeoutExpired:
        host_killed = True
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, 9)
        proc.wait()
    for reader in readers:
        reader.join(2.0)
    elapsed = time.monotonic() - started
    if host_killed:
        return (
            Result(exit_code=137, timed_out=True, signal=9, elapsed=elapsed, backend=backend),
            {"host_killed": True},
        )
    result, raw = decode_result(bytes(out), bytes(err), backend, elapsed, nonce)
    code = proc.returncode
    if result.error and result.error.startswith("sandbox runner gave no result") and killed_by_signal(code):
        # The runner was killed mid-job, and not by us: the program did it (it runs as the same user).
        return (
            Result(exit_code=137, signal=9, stderr="the program killed the sandbox runner", backend=backend),
            {},
        )
    if result.error and code:
        result.error += f" (runner exit status {code})"
    return result, raw


@dataclass
class Launch:
    """How to start one bwrap sandbox, and what it holds until :meth:`release`: its cgroup, its
    host uid (as root) and the read end of the seccomp filter's pipe."""

    argv: list[str]
    popen: dict[str, object]
    group: cgroup_mod.JobCgroup | None = None
    uid: int | None = None
    seccomp_fd: int | None = None

    def started(self) -> None:
        """bwrap has read its filter by now (it is its own copy): our end can go."""
        if self.seccomp_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.seccomp_fd)
            self.seccomp_fd = None

    def release(self) -> None:
        self.started()
        if self.group is not None:
            self.group.destroy()
            self.group = None
        if self.uid is not None:
            _FREE_UIDS.put(self.uid)
            self.uid = None


_PROBE: tuple[bool, str] | None = None


def _top_level() -> list[str]:
    """/bin, /lib, ... as in the host (merged-usr symlinks, or read-only binds)."""
    argv: list[str] = []
    for top in ("bin", "lib", "lib32", "lib64", "sbin"):
        path = f"/{top}"
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    return argv


def _bwrap_probe() -> tuple[bool, str]:
    """Can bwrap create its namespaces here (as the unprivileged uid jobs run under)? Cached."""
    global _PROBE
    if _PROBE is None:
        argv = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", *_top_level()]
        argv += ["--proc", "/proc", "--", "/usr/bin/env", "true"]
        popen: dict[str, object] = {}
        if os.geteuid() == 0:
            popen = {"user": UID_BASE, "group": UID_BASE, "extra_groups": []}
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, **popen)  # type: ignore[call-overload]
            ok = proc.returncode == 0
            why = "" if ok else f"bwrap cannot create namespaces here: {proc.stderr.strip()[:300]}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            ok, why = False, f"bwrap failed to start: {exc}"
        _PROBE = (ok, why)
    return _PROBE


class BwrapOptions(BackendOptions):
    """The bwrap backend's settings (the code verifier's ``backend_options.bwrap``)."""

    cgroups: Literal["auto", "require", "off"] = Field(
        "auto", description="per-job cgroups: where possible, required (refuse to start without), or off"
    )
    extra_ro_binds: tuple[str, ...] = Field((), description="host paths also mounted read-only")
    python: str = Field("python3", min_length=1, description="the interpreter the runner starts with")
    mode: Literal["session", "fresh"] = Field(
        "session",
        description="session: warm sandboxes run job after job, scrubbed between jobs (fast); "
        "fresh: a new sandbox (namespaces, file systems, cgroup) for every job",
    )
    pool_size: PositiveInt | None = Field(None, description="warm sandboxes (default: process-wide cap)")
    warm: bool = Field(True, description="session mode: start the sandboxes at set-up, in the background")

    @field_validator("extra_ro_binds")
    @classmethod
    def _absolute(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        for path in paths:
            if not os.path.isabs(path):
                raise ValueError(f"{path!r} is not an absolute path")
        return paths


class BwrapBackend(SandboxBackend):
    """bubblewrap namespaces + a cgroup per sandbox: the local backend for machines without Docker.

    ``session`` mode (default) keeps warm sandboxes that run job after job (:mod:`sandboxes.bwrap_pool`);
    ``fresh`` mode starts a new sandbox for every job.
    """

    name = "bwrap"
    Options: ClassVar[type[BackendOptions]] = BwrapOptions
    sized_by_limits = True

    def __init__(
        self,
        *,
        python: str = "python3",
        extra_ro_binds: tuple[str, ...] = (),
        cgroups: str = "auto",
        mode: str = "session",
        pool_size: int | None = None,
        warm: bool = False,
        defaults: Limits | None = None,
    ) -> None:
        """``cgroups``: ``auto`` (use them where possible), ``require`` (refuse to start without them)
        or ``off``. ``mode``: ``session`` (warm sandboxes) or ``fresh`` (one per job)."""
        ok, why = self.available()
        if not ok:
            raise SandboxUnavailable(why)
        if cgroups not in ("auto", "require", "off"):
            raise SandboxUnavailable(f"bwrap: cgroups must be auto, require or off, got {cgroups!r}")
        if mode not in ("session", "fresh"):
            raise SandboxUnavailable(f"bwrap: mode must be 'session' or 'fresh', got {mode!r}")
        self.mode = mode
        self.pool_size = pool_size
        self.defaults = defaults or Limits()
        self._pools: dict[tuple[int, int, float], BwrapPool] = {}
        self._pools_lock = threading.Lock()
        found = os.access(python, os.X_OK) if "/" in python else shutil.which(python) is not None
        if not found:
            raise SandboxUnavailable(
                f"bwrap: the interpreter {python!r} is not found on this machine; set "
                "backend_options.bwrap.python to an installed one (e.g. python3)"
            )
        self.python = python
        self.extra_ro_binds = extra_ro_binds
        self.cgroups: cgroup_mod.Cgroups | None = None
        self.cgroup_problem = "disabled (cgroups=off)"
        if cgroups != "off":
            self.cgroups, self.cgroup_problem = cgroup_mod.detect()
            if self.cgroups is not None and os.geteuid() != 0 and self.cgroups.version == 1:
                self.cgroups, self.cgroup_problem = None, "cgroup v1 needs root to move jobs"
        if cgroups == "require" and self.cgroups is None:
            raise SandboxUnavailable(
                f"bwrap: per-job cgroups are required but unavailable: {self.cgroup_problem}"
            )
        _BACKENDS.add(self)
        if warm and mode == "session":
            # in the background: sandboxes start while the caller gets ready; one that fails to
            # start is retried (and reported) by the job that needs it
            self.pool_for(self.defaults).warm(background=True)

    @classmethod
    def available(cls) -> tuple[bool, str]:
        if not sys.platform.startswith("linux"):
            return False, "bwrap backend needs Linux"
        if shutil.which("bwrap") is None:
            return False, "bubblewrap (`bwrap`) is not installed (apt-get install bubblewrap)"
        return _bwrap_probe()

    def limitations(self) -> list[str]:
        """What this backend cannot enforce here (empty: every limit holds for the whole job)."""
        out = []
        if self.cgroups is None:
            out += [
                "memory_mb is only a per-process address-space limit, not the job's total "
                f"({self.cgroup_problem})",
                "cpus is not enforced (no CPU quota without a cgroup)",
                "pids is a per-uid process limit"
                + ("" if os.geteuid() == 0 else " shared with every process of this user"),
            ]
        if not seccomp.supported():
            out.append("processes of a job may ptrace each other (no seccomp filter for this architecture)")
        return out

    def _argv(self, seccomp_fd: int | None, serve: bool = False) -> list[str]:
        argv = [
            "bwrap",
            "--unshare-all",
            # the runner itself is PID 1 (it reaps orphans, ignores signals and is not dumpable):
            # bwrap's own init would be a dumpable process of the sandbox user holding the protocol
            # pipes, which a job could open through /proc/1/fd where the host is not root
            "--as-pid-1",
            "--die-with-parent",
            "--new-session",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        argv += _top_level()
        for path in ("/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime", *self.extra_ro_binds):
            argv += ["--ro-bind-try", path, path]
        argv += [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(SHM_TMPFS_MB << 20),
            "--tmpfs",
            "/dev/shm",
            # its own mqueue mount: the runner can list and remove the job's POSIX message queues
            "--mqueue",
            "/dev/mqueue",
            "--remount-ro",
            "/dev",
            "--size",
            str(TMP_TMPFS_MB << 20),
            "--tmpfs",
            "/tmp",
            "--size",
            str(WORK_TMPFS_MB << 20),
            "--tmpfs",
            "/work",
            "--remount-ro",
            "/",
            "--chdir",
            "/work",
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/local/bin:/usr/bin:/bin",
            "--uid",
            "1000",
            "--gid",
            "1000",
            "--hostname",
            "sandbox",
        ]
        if seccomp_fd is not None:
            argv += ["--seccomp", str(seccomp_fd)]
        return [*argv, "--", *runner_command(self.python), *(["serve"] if serve else [])]

    @staticmethod
    def _take_uid() -> int:
        """A host uid no live sandbox of this process has (backends share one allocator)."""
        try:
            return _FREE_UIDS.get_nowait()
        except queue.Empty:
            with _UID_LOCK:
                _NEXT_UID[0] += 1
                return _NEXT_UID[0]

    def payload(self, job: Job, nonce: str, kept: frozenset[str] | None = None) -> bytes:
        """The job as the runner reads it, with the limits a missing cgroup leaves to rlimits
        (``kept``: a session's, see ``encode_job``)."""
        rlimits: dict[str, int] = {}
        if self.cgroups is None:
            rlimits["RLIMIT_NPROC"] = job.limits.pids + 16
        return encode_job(
            job,
            nonce=nonce,
            workroot="/work",
            kill_all=True,
            # with a cgroup, memory is the job's total (an address-space limit would only add noise)
            address_space_limit=self.cgroups is None,
            extra_rlimits=rlimits,
            kept=kept,
        )

    def launch(self, limits: Limits, *, serve: bool = False) -> Launch:
        """What starts one sandbox under ``limits``: its cgroup (memory, pids, CPU quota), its own
        host uid as root, the seccomp filter; the caller starts it and later releases it."""
        # bwrap itself (PID 1 inside, readable through /proc/1/environ) gets no host environment either
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        launch = Launch(argv=[], popen={})
        launch.uid = self._take_uid() if os.geteuid() == 0 else None
        try:
            if seccomp.supported():
                program = seccomp.filter_program()
                launch.seccomp_fd, write_fd = os.pipe()
                os.write(write_fd, program)
                os.close(write_fd)
                launch.popen["pass_fds"] = (launch.seccomp_fd,)
            argv = self._argv(launch.seccomp_fd, serve=serve)
            if self.cgroups is not None:
                launch.group = self.cgroups.create(limits.memory_mb, limits.pids, limits.cpus)
                env["GRPO_CGROUP_PROCS"] = " ".join(launch.group.procs_files)
                if launch.uid is not None:
                    # join the cgroup as root, then drop to the sandbox's uid before bwrap starts
                    uid = launch.uid
                    argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *argv]
                argv = ["sh", "-c", cgroup_mod.join_script(), "sh", *argv]
            elif launch.uid is not None:
                launch.popen.update(user=launch.uid, group=launch.uid, extra_groups=[])
            launch.popen["env"] = env
            launch.argv = argv
        except BaseException:
            launch.release()
            raise
        return launch

    def pool_for(self, limits: Limits) -> BwrapPool:
        """The warm sandboxes for this memory/pids/CPU limit (one pool per such set, made once)."""
        key = (limits.memory_mb, limits.pids, limits.cpus)
        with self._pools_lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = BwrapPool(self, limits, self.pool_size or ConcurrencyLimit.size())
            return pool

    def _run(self, job: Job) -> Result:
        if self.mode == "session":
            return self.pool_for(job.limits).run(job)
        nonce = new_nonce()
        launch = self.launch(job.limits)
        try:
            payload = self.payload(job, nonce)
            result, _ = _run_runner(launch.argv, payload, job, self.name, nonce, **launch.popen)
            if launch.group is not None:
                result.extra["cgroup"] = launch.group.stats()
        finally:
            launch.release()
        return result

    def close(self) -> None:
        """Stop the warm sandboxes (also done at exit)."""
        with self._pools_lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()


class SubprocessBackend(SandboxBackend):
    """UNSAFE: runs the program as a plain child process (rlimits only). Explicit opt-in required."""

    name = "subprocess"
    safe = False

    @classmethod
    def from_options(
        cls,
        options: BackendOptions | None = None,
        *,
        limits: Limits | None = None,
        allow_unsafe: bool = False,
    ) -> SubprocessBackend:
        """No settings; ``allow_unsafe`` is the caller's explicit opt-in."""
        return cls(allow_unsafe=allow_unsafe)

    def __init__(self, *, allow_unsafe: bool = False) -> None:
        if not (allow_unsafe or os.environ.get(UNSAFE_ENV) == "1"):
            raise SandboxUnavailable(
                "the `subprocess` backend runs untrusted code without any isolation; opt in with "
                f"allow_unsafe=True (code verifier: allow_unsafe=true) or {UNSAFE_ENV}=1"
            )
        self._root = tempfile.mkdtemp(prefix="grpo-unsafe-")

    def _run(self, job: Job) -> Result:
        path = os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"])
        nonce = new_nonce()
        payload = encode_job(
            job, nonce=nonce, workroot=self._root, kill_all=False, address_space_limit=True, path=path
        )
        result, _ = _run_runner(runner_command(sys.executable), payload, job, self.name, nonce)
        return result

    def close(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)


#: live bwrap backends, whose warm sandboxes are stopped at exit (they die with us anyway:
#: ``--die-with-parent``; this also removes their cgroups)
_BACKENDS: weakref.WeakSet[BwrapBackend] = weakref.WeakSet()


def _close_all() -> None:
    for backend in list(_BACKENDS):
        backend.close()


def _forget_in_child() -> None:
    """A forked child must not use (or stop) its parent's sandboxes."""
    forget_launcher()
    for backend in list(_BACKENDS):
        backend._pools = {}
        backend._pools_lock = threading.Lock()


atexit.register(_close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
