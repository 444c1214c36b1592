"""The Docker backend: a warm pool of long-lived, hardened containers that run job after job.

Every container runs with no network, a read-only root, size-capped tmpfs ``/work`` and ``/tmp``, a
non-root user, ``cap_drop ALL``, ``no-new-privileges``, a pids limit, memory = memory+swap limit, a
CPU quota and ulimits. PID 1 ignores signals from inside. Its stdin is the container's *lifeline*: an
attach stream that the pool's process holds open. When that process closes it (the pool closes) or
dies (even by SIGKILL), PID 1 reads EOF and exits, and ``auto_remove`` deletes the container, so
closing a pool does not wait for Docker's clean-up and a crashed process leaves nothing behind. PID 1
also exits on its own after ``max_age``.

Jobs go to the in-sandbox runner (see :mod:`sandboxes._runner`). Two modes: ``session`` (default):
the runner *is* PID 1, its stdin and stdout the container's attach stream (so that stream is also the
lifeline), and it runs jobs one after another, each in a fresh work dir as a fresh process tree,
tagging every result with the job's secret nonce; nothing inside can signal or trace it, and it reaps
orphans between jobs. ``exec``: PID 1 is the reaper below and each job gets a fresh runner by one
``docker exec``, ~5x slower.
The runner enforces the wall time and output cap inside and kills every process of the sandbox user
afterwards, then removes the job's System V IPC objects and POSIX message queues and restores (and
checks) the work root; the host enforces the wall time too (plus a grace) and recycles a container that
overran, lost its runner, left processes or IPC objects behind, has an unusable work root, filled its
tmpfs or served ``max_jobs``. A job that failed before its program started (the runner says so, or the
exec could not open) is retried once, on a fresh container. Containers carry labels: start-up also
removes any left by dead owner processes (e.g. one created but not yet started when its process
was killed: a lifeline only works once the container runs), or past their expiry.

``DOCKER_HOST`` / ``DOCKER_TLS_VERIFY`` / ``DOCKER_CERT_PATH`` are honoured (``docker.from_env``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import struct
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt

from sandboxes.base import (
    BackendOptions,
    ConcurrencyLimit,
    Job,
    Limits,
    Result,
    SandboxBackend,
    SandboxError,
    SandboxUnavailable,
)
from sandboxes.images import DEFAULT_IMAGE
from sandboxes.protocol import (
    RUNNER_GRACE,
    decode_result,
    encode_job,
    kept_files,
    max_reply_bytes,
    new_nonce,
    result_end,
    reusable_after,
    runner_command,
)
from sandboxes.warm_pool import WarmPool

LABEL = "org.grpo.sandbox"
LABEL_OWNER = "org.grpo.sandbox.owner"
LABEL_EXPIRES = "org.grpo.sandbox.expires"
SANDBOX_USER = "1000:1000"
#: seconds a container may outlive ``max_age`` (the last job handed to it must have time to finish)
LIFETIME_MARGIN = 900
#: exit codes of a runner (PID 1) the kernel killed: SIGKILL, SIGXCPU
_KILLED = {128 + 9, 128 + 24}
WORKROOT = "/work"

#: PID 1 of every pool container: reaps orphans, ignores signals sent from inside, exits at expiry,
#: and (with ``lifeline``) as soon as its stdin, held open by the pool's process, reaches EOF.
PID1_SOURCE = """
import os, select, signal, sys, time
try:
    import ctypes
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # not dumpable: its /proc fds and memory stay closed
except Exception:
    pass
for s in range(1, signal.NSIG):
    try:
        signal.signal(s, signal.SIG_DFL)
    except (OSError, ValueError, RuntimeError):
        pass
wake_r, wake_w = os.pipe()
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select() below to reap at once
watched = [wake_r] + ([0] if sys.argv[2:] == ["lifeline"] else [])
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
    ready = select.select(watched, [], [], max(0.0, min(5.0, end - time.monotonic())))[0]
    if wake_r in ready:
        os.read(wake_r, 4096)
    if 0 in ready and not os.read(0, 4096):
        break  # the pool's process closed its end (or died): the container goes with it
"""


@dataclass(frozen=True)
class Hardening:
    """Container-level settings (fixed when a container is created; jobs needing others get a pool)."""

    image: str = DEFAULT_IMAGE
    memory_mb: int = 512
    cpus: float = 1.0
    pids: int = 128
    work_tmpfs_mb: int = 128
    tmp_tmpfs_mb: int = 64
    open_files: int = 256
    file_size_mb: int = 64
    runtime: str | None = None  # e.g. "runsc" for gVisor where installed

    def host_config_kwargs(self) -> dict[str, Any]:
        from docker.types import LogConfig, Ulimit

        return {
            "network_mode": "none",
            "read_only": True,
            "tmpfs": {
                WORKROOT: f"rw,exec,nosuid,nodev,size={self.work_tmpfs_mb}m,uid=1000,gid=1000,mode=0700",
                "/tmp": f"rw,noexec,nosuid,nodev,size={self.tmp_tmpfs_mb}m,mode=1777",
            },
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
            "pids_limit": self.pids,
            "mem_limit": f"{self.memory_mb}m",
            "memswap_limit": f"{self.memory_mb}m",
            "nano_cpus": int(self.cpus * 1e9),
            "ulimits": [
                Ulimit(name="nofile", soft=self.open_files, hard=self.open_files),
                Ulimit(name="core", soft=0, hard=0),
                Ulimit(name="fsize", soft=self.file_size_mb << 20, hard=self.file_size_mb << 20),
            ],
            "ipc_mode": "private",
            # nothing a job writes to PID 1's stdout may fill the host's disk through container logs
            "log_config": LogConfig(type="none"),
            "auto_remove": True,
            "init": False,
            "runtime": self.runtime,
        }

    def docker_run_flags(self) -> list[str]:
        """The same hardening as ``docker run`` flags (for one-shot runs and the benchmark)."""
        flags = [
            "--network=none",
            "--read-only",
            f"--tmpfs={WORKROOT}:rw,exec,nosuid,nodev,size={self.work_tmpfs_mb}m,uid=1000,gid=1000,mode=0700",
            f"--tmpfs=/tmp:rw,noexec,nosuid,nodev,size={self.tmp_tmpfs_mb}m,mode=1777",
            f"--user={SANDBOX_USER}",
            "--cap-drop=ALL",
            "--security-opt=no-new-privileges:true",
            f"--pids-limit={self.pids}",
            f"--memory={self.memory_mb}m",
            f"--memory-swap={self.memory_mb}m",
            f"--cpus={self.cpus}",
            f"--ulimit=nofile={self.open_files}:{self.open_files}",
            "--ulimit=core=0:0",
            f"--ulimit=fsize={self.file_size_mb << 20}:{self.file_size_mb << 20}",
            "--ipc=private",
            "--log-driver=none",
            f"--label={LABEL}=oneshot",
        ]
        if self.runtime:
            flags.append(f"--runtime={self.runtime}")
        return flags


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: one client per engine (DOCKER_HOST) and process: making one asks the engine its API version
#: (with the ping, ~10-15 ms of every `grpo score` start-up when the backend check made one too)
_CLIENTS: dict[tuple[str, int], Any] = {}
#: the clients' own timeout for API calls (a caller's ``timeout`` bounds its check, not the calls)
CLIENT_TIMEOUT = 60


def docker_client(timeout: float = CLIENT_TIMEOUT):
    """A Docker SDK client from the environment (``DOCKER_HOST`` etc.), its engine answering a ping
    within ``timeout`` seconds; SandboxUnavailable if none."""
    try:
        import docker
    except ImportError as exc:
        raise SandboxUnavailable("the Docker SDK is not installed: pip install 'grpo-core[docker]'") from exc
    key = (os.environ.get("DOCKER_HOST", ""), os.getpid())
    client = _CLIENTS.get(key)
    try:
        if client is None:
            client = docker.from_env(timeout=timeout, max_pool_size=max(16, ConcurrencyLimit.size() + 8))
            client.api.timeout = CLIENT_TIMEOUT
        # the SDK's ping takes no timeout; its API client is a requests session, whose get does
        client.api.get(f"{client.api.base_url}/_ping", timeout=timeout).raise_for_status()
        _CLIENTS[key] = client
    except Exception as exc:
        _CLIENTS.pop(key, None)
        where = os.environ.get("DOCKER_HOST", "the local socket")
        raise SandboxUnavailable(
            f"no Docker engine reachable at {where} ({type(exc).__name__}: {exc}); start dockerd, set "
            "DOCKER_HOST, or choose the `bwrap` backend"
        ) from exc
    return client


def docker_unavailable_reason(image: str = DEFAULT_IMAGE, timeout: float = 10) -> str | None:
    """Why the Docker backend cannot run jobs here (no engine, no image), or None when it can."""
    try:
        client = docker_client(timeout=timeout)
    except SandboxUnavailable as exc:
        return str(exc)
    try:
        client.images.get(image)
    except Exception:
        return f"sandbox image {image} is not built (grpo sandbox build --offline)"
    return None


def reap_stale(client, *, everything_of_this_host: bool = False) -> int:
    """Remove sandbox containers whose owner process is gone (this host) or whose expiry passed."""
    removed = 0
    host = socket.gethostname()
    now = time.time()
    try:
        containers = client.api.containers(all=True, filters={"label": LABEL})
    except Exception:
        return 0
    for info in containers:
        labels = info.get("Labels") or {}
        owner = labels.get(LABEL_OWNER, "")
        owner_host, _, owner_pid = owner.rpartition(":")
        stale = False
        try:
            stale = float(labels.get(LABEL_EXPIRES, "inf")) < now
        except ValueError:
            stale = True
        if owner_host == host and owner_pid.isdigit():
            pid = int(owner_pid)
            if everything_of_this_host or pid != os.getpid() and not _pid_alive(pid):
                stale = True
        if labels.get(LABEL) == "oneshot" and info.get("State") != "running":
            stale = True
        if stale:
            try:
                client.api.remove_container(info["Id"], force=True)
                removed += 1
            except Exception:
                pass
    return removed


class _Container:
    __slots__ = ("id", "created", "jobs", "session", "raw_session", "lifeline", "kept")

    def __init__(self, cid: str, lifeline: Any = None) -> None:
        self.id = cid
        self.created = time.monotonic()
        self.jobs = 0
        self.session: Any = None  # the socket of a long-lived runner (session mode)
        self.raw_session: Any = None
        self.lifeline = lifeline  # PID 1's stdin: closing it ends the container
        self.kept: frozenset[str] = frozenset()  # digests of the files its runner keeps (session)

    def close_session(self) -> None:
        for handle in (self.raw_session, self.session):
            _close_socket(handle)
        self.session = self.raw_session = None

    def cut_lifeline(self) -> None:
        """PID 1 reads EOF and exits; the kernel ends every other process, Docker removes the rest."""
        _forget_lifeline(self.lifeline)
        _close_socket(self.lifeline)
        self.lifeline = None


#: every lifeline this process holds, from the moment it is attached (before its container joins a
#: pool) until it is cut: a forked child closes its copies of all of them (see _forget_pools_in_child)
_LIFELINES: list[Any] = []
_LIFELINES_LOCK = threading.Lock()


def _hold_lifeline(lifeline: Any) -> None:
    with _LIFELINES_LOCK:
        _LIFELINES.append(lifeline)
    raw = getattr(lifeline, "_sock", lifeline)
    with contextlib.suppress(Exception):  # a remote engine (TCP): notice a dead peer, keep NATs open
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


def _forget_lifeline(lifeline: Any) -> None:
    with _LIFELINES_LOCK, contextlib.suppress(ValueError):
        _LIFELINES.remove(lifeline)


def _close_socket(handle: Any) -> None:
    """Close a docker-py attach socket: its wrapper and the socket under it."""
    for part in (handle, getattr(handle, "_sock", None)):
        if part is not None:
            with contextlib.suppress(Exception):
                part.close()


class DockerPool(WarmPool[_Container]):
    """Warm containers of one :class:`Hardening`; shared by every caller in the process."""

    _pools: dict[tuple[str, Hardening, str], DockerPool] = {}
    _every: weakref.WeakSet[DockerPool] = weakref.WeakSet()  # shared or not, for forked children
    _lock = threading.Lock()
    _reaped: set[str] = set()

    def __init__(
        self,
        client,
        hardening: Hardening,
        size: int,
        *,
        max_jobs: int = 1000,
        max_age: float = 3600.0,
        mode: str = "session",
    ) -> None:
        if mode not in ("session", "exec"):
            raise ValueError(f"mode must be 'session' or 'exec', got {mode!r}")
        super().__init__(size, max_jobs=max_jobs, max_age=max_age)
        self.mode = mode
        self.client = client
        self.hardening = hardening
        self._check_image()
        DockerPool._every.add(self)

    # -- sharing -------------------------------------------------------------------------------
    @classmethod
    def shared(cls, hardening: Hardening, size: int | None = None, mode: str = "session") -> DockerPool:
        host = os.environ.get("DOCKER_HOST", "")
        key = (host, hardening, mode)
        with cls._lock:
            pool = cls._pools.get(key)
            if pool is None or pool._closed:
                client = docker_client()
                if host not in cls._reaped:
                    reap_stale(client)
                    cls._reaped.add(host)
                pool = cls(client, hardening, size or default_pool_size(hardening), mode=mode)
                cls._pools[key] = pool
            return pool

    @classmethod
    def close_all(cls) -> None:
        with cls._lock:
            pools = list(cls._pools.values())
            cls._pools.clear()
        for pool in pools:
            pool.close()

    def _check_image(self) -> None:
        import docker

        try:
            self.client.images.get(self.hardening.image)
        except docker.errors.ImageNotFound:
            raise SandboxUnavailable(
                f"sandbox image {self.hardening.image!r} is not built: run `grpo sandbox build` "
                "(or `grpo sandbox build --offline` without a registry)"
            ) from None
        except docker.errors.APIError as exc:
            raise SandboxError(f"docker: {exc}") from exc
        runtime = self.hardening.runtime
        if runtime:
            try:
                runtimes = sorted((self.client.info() or {}).get("Runtimes") or {})
            except docker.errors.APIError as exc:
                raise SandboxError(f"docker: {exc}") from exc
            if runtime not in runtimes:
                raise SandboxUnavailable(
                    f"docker runtime {runtime!r} is not installed in this Docker engine (it has: "
                    f"{', '.join(runtimes) or 'none'}); set backend_options.docker.runtime to one of "
                    "them or leave it unset"
                )

    # -- containers ----------------------------------------------------------------------------
    def _start(self) -> _Container:
        api = self.client.api
        # the container's own end is only a backstop (the lifeline ends it first): well after the last
        # job a container can be handed (at max_age) could still be running
        lifetime = int(self.max_age + LIFETIME_MARGIN)
        expires = time.time() + lifetime + 60
        host_config = api.create_host_config(**self.hardening.host_config_kwargs())
        name = f"grpo-sandbox-{os.getpid()}-{uuid.uuid4().hex[:10]}"
        session = self.mode == "session"
        if session:
            # the runner is PID 1 and the lifeline is its session: no `docker exec` to start it
            # (which cost each container more CPU than its own start), and nothing inside can
            # signal it (the kernel drops signals to a namespace's init from inside) or trace it
            command = runner_command() + ["serve", f"lifetime={lifetime}"]
        else:
            command = ["python3", "-I", "-S", "-c", PID1_SOURCE, str(lifetime), "lifeline"]
        config = api.create_container_config(
            self.hardening.image,
            command,
            user=SANDBOX_USER,
            working_dir=WORKROOT,
            environment={"LANG": "C.UTF-8"},
            labels={LABEL: "pool", LABEL_OWNER: _owner(), LABEL_EXPIRES: f"{expires:.0f}"},
            network_disabled=True,
            host_config=host_config,
            hostname="sandbox",
            stdin_open=True,
        )
        # the lifeline: stdin stays open while this process holds the attach stream, and closes
        # (StdinOnce) when the stream does, however this process ends
        config.update(AttachStdin=True, StdinOnce=True, AttachStdout=session, AttachStderr=session)
        streams = {"stdin": 1, "stdout": 1, "stderr": 1} if session else {"stdin": 1}
        cid = lifeline = None
        try:
            cid = api.create_container_from_config(config, name=name)["Id"]
            lifeline = api.attach_socket(cid, params={**streams, "stream": 1})
            _hold_lifeline(lifeline)
            api.start(cid)
        except Exception as exc:
            _forget_lifeline(lifeline)
            _close_socket(lifeline)
            if cid is not None:
                with contextlib.suppress(Exception):
                    api.remove_container(cid, force=True)
            raise SandboxError(f"could not start a sandbox container: {type(exc).__name__}: {exc}") from exc
        container = _Container(cid, lifeline)
        if session:
            container.raw_session, container.session = lifeline, getattr(lifeline, "_sock", lifeline)
        return container

    def _stop(self, container: _Container) -> None:
        """A container recycled mid-run: cut its lifeline, and have Docker remove it (belt and braces,
        in the background: a misbehaving container must not outlive its lifeline by accident)."""
        container.close_session()
        container.cut_lifeline()

        def remove() -> None:
            with contextlib.suppress(Exception):
                self.client.api.remove_container(container.id, force=True)

        threading.Thread(target=remove, daemon=True).start()

    def container_ids(self) -> list[str]:
        return [container.id for container in self.sandboxes()]

    def close(self) -> None:
        """End every container by cutting its lifeline; Docker's clean-up runs on without us."""
        for container in self._take_all():
            container.close_session()
            container.cut_lifeline()

    # -- jobs ----------------------------------------------------------------------------------
    def _open_stream(self, container: _Container) -> tuple[Any, Any]:
        """A fresh runner for one job (exec mode), by ``docker exec``."""
        api = self.client.api
        exec_id = api.exec_create(
            container.id,
            runner_command(),
            stdin=True,
            stdout=True,
            stderr=True,
            user=SANDBOX_USER,
            workdir=WORKROOT,
            environment={"LANG": "C.UTF-8"},
        )["Id"]
        raw_socket = api.exec_start(exec_id, socket=True)
        return raw_socket, getattr(raw_socket, "_sock", raw_socket)

    def _exec(self, container: _Container, job: Job, backend: str) -> tuple[Result, bool, bool]:
        """Run one job: over the container's runner session, or (exec mode) one ``docker exec``.

        Returns (result, healthy, started): ``started`` is whether the program may have started.
        """
        backend = backend or "docker"
        started = time.monotonic()
        nonce = new_nonce()
        session = self.mode == "session"
        kept = container.kept if session else None
        payload = encode_job(job, nonce=nonce, workroot=WORKROOT, kill_all=True, kept=kept)
        if session:
            if container.session is None:  # its runner (PID 1) is gone, and the container with it
                return Result.failure("sandbox session closed", backend), False, False
            raw_socket, sock = container.raw_session, container.session
        else:
            try:
                raw_socket, sock = self._open_stream(container)
            except Exception as exc:
                failure = Result.failure(f"docker exec failed: {type(exc).__name__}: {exc}", backend)
                return failure, False, False
        deadline = started + job.limits.wall_time + RUNNER_GRACE
        cap = max_reply_bytes(job)
        try:
            out, err, state = self._converse(sock, payload, deadline, cap, nonce if session else None)
        except OSError as exc:
            state, out, err = "broken", b"", str(exc).encode()
        finally:
            if not session:
                for handle in (raw_socket, sock):
                    with contextlib.suppress(Exception):
                        handle.close()
        elapsed = time.monotonic() - started
        if state == "timeout":
            # The host-side limit: the runner did not finish in time; the container is recycled.
            self.stats["host_kills"] += 1
            timed_out = Result(exit_code=137, signal=9, timed_out=True, elapsed=elapsed, backend=backend)
            return timed_out, False, True
        if state == "overflow":
            return Result.failure("sandbox runner reply exceeded its cap", backend, elapsed), False, True
        result, raw = decode_result(out, err, backend, elapsed, nonce)
        if session:
            container.kept = kept_files(raw)
        healthy = reusable_after(state, result, raw)
        # only a runner reply that says so counts as "not started" (a vanished runner may have run it)
        started = raw.get("program_started") is not False
        if result.error is not None:
            self._diagnose(container, result, state == "eof" and started)
        return result, healthy, started

    def _diagnose(self, container: _Container, result: Result, runner_lost_mid_job: bool = False) -> None:
        try:
            state = self.client.api.inspect_container(container.id)["State"]
        except Exception:
            state = {"Status": "gone"}
        killed = state.get("OOMKilled") or state.get("ExitCode") in _KILLED
        if self.mode == "session" and runner_lost_mid_job and state.get("Status") != "running" and killed:
            # The kernel killed the runner (PID 1) while a program ran: out of memory the program
            # left charged (shared memory, tmpfs), or a CPU limit it set on the runner (same uid).
            # Nothing else in the container can do either, so it is the program's failure.
            result.error = None
            result.exit_code, result.signal = 137, 9
            how = "out of memory" if state.get("OOMKilled") else "by a limit it set"
            result.stderr = f"the program got the sandbox's runner killed ({how})"
            return
        if state.get("OOMKilled") or state.get("Status") != "running":
            result.error = f"{result.error} (container {state.get('Status')}, oom={state.get('OOMKilled')})"
        elif self.mode == "exec" and (result.error or "").startswith("sandbox runner gave no result"):
            # The container is fine but its exec'd runner vanished mid-job: the program killed it
            # (same user). That is the program misbehaving, not the infrastructure failing. (A
            # session's runner is PID 1: nothing inside can kill it, and the container ends with it.)
            result.error = None
            result.exit_code, result.signal = 137, 9
            result.stderr = "the program killed the sandbox runner"

    @staticmethod
    def _converse(
        sock, payload: bytes, deadline: float, cap: int, nonce: str | None
    ) -> tuple[bytes, bytes, str]:
        """Send the payload, read the multiplexed reply until it is complete.

        Complete = the result line for ``nonce`` arrived (session mode) or EOF (exec mode).
        State: ``done``, ``eof`` (stream ended; session is gone), ``timeout`` or ``overflow``.
        """
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        sock.sendall(payload)
        buffers = {1: bytearray(), 2: bytearray()}
        pending = bytearray()
        total = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return bytes(buffers[1]), bytes(buffers[2]), "timeout"
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return bytes(buffers[1]), bytes(buffers[2]), "timeout"
            if not chunk:
                return bytes(buffers[1]), bytes(buffers[2]), "done" if nonce is None else "eof"
            pending.extend(chunk)
            total += len(chunk)
            if total > cap:
                return bytes(buffers[1]), bytes(buffers[2]), "overflow"
            while len(pending) >= 8:
                stream, size = struct.unpack(">BxxxL", pending[:8])
                if len(pending) < 8 + size:
                    break
                buffers.setdefault(stream, bytearray()).extend(pending[8 : 8 + size])
                del pending[: 8 + size]
            if nonce is not None and result_end(buffers[1], nonce) >= 0:
                return bytes(buffers[1]), bytes(buffers[2]), "done"


class DockerOptions(BackendOptions):
    """The docker backend's settings (the code verifier's ``backend_options.docker``)."""

    image: str = Field(DEFAULT_IMAGE, min_length=1, description="sandbox image (grpo sandbox build)")
    mode: Literal["session", "exec"] = Field(
        "session", description="jobs over a long-lived runner per container, or one `docker exec` each"
    )
    pool_size: PositiveInt | None = Field(
        None,
        description="warm containers (default: as many as can run at once, CPUs / the jobs' cpus,"
        " at most the process-wide cap)",
    )
    warm: bool = Field(True, description="start the pool's containers at set-up, in the background")
    runtime: str | None = Field(None, description="container runtime, e.g. runsc (gVisor)")


class DockerBackend(SandboxBackend):
    """Jobs run by ``exec`` in a warm pool of hardened containers (see module docs)."""

    name = "docker"
    Options: ClassVar[type[BackendOptions]] = DockerOptions
    sized_by_limits = True

    def __init__(
        self,
        *,
        image: str = DEFAULT_IMAGE,
        pool_size: int | None = None,
        runtime: str | None = None,
        warm: bool = False,
        defaults: Limits | None = None,
        mode: str = "session",
    ) -> None:
        if mode not in ("session", "exec"):
            raise SandboxUnavailable(f"docker mode must be 'session' or 'exec', got {mode!r}")
        self.mode = mode
        self.image = image
        self.pool_size = pool_size
        self.runtime = runtime
        self.defaults = defaults or Limits()
        self._pools: set[DockerPool] = set()
        # fail early and clearly: engine reachable, image present
        self.pool_for(self.defaults)
        if warm:
            # in the background: containers start while the caller gets ready; one that fails to
            # start is retried (and reported) per job
            self.pool_for(self.defaults).warm(background=True)

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            docker_client(timeout=5)
        except SandboxUnavailable as exc:
            return False, str(exc)
        return True, ""

    def hardening_for(self, limits: Limits) -> Hardening:
        return Hardening(
            image=self.image,
            memory_mb=limits.memory_mb,
            cpus=limits.cpus,
            pids=limits.pids,
            open_files=limits.open_files,
            file_size_mb=limits.file_size_mb,
            runtime=self.runtime,
        )

    def pool_for(self, limits: Limits) -> DockerPool:
        pool = DockerPool.shared(self.hardening_for(limits), self.pool_size, self.mode)
        self._pools.add(pool)
        return pool

    def _run(self, job: Job) -> Result:
        return self.pool_for(job.limits).run(job, self.name)

    def close(self) -> None:
        """Pools are shared process-wide and closed at exit; ``close_all`` ends them earlier."""


def default_pool_size(hardening: Hardening) -> int:
    """As many containers as can run at once: each is capped at ``hardening.cpus`` CPUs, so more
    than the CPU count over that only add start-up work and memory (a job beyond waits for a free
    container; on 2 CPUs, 2 containers ran 164 HumanEval rows ~4% faster than 4). Never more than
    the process-wide cap on jobs in flight."""
    fit = max(1, int((os.cpu_count() or 1) / max(hardening.cpus, 0.01)))
    return min(ConcurrencyLimit.size(), fit)


def _forget_pools_in_child() -> None:
    """A forked child must not reuse (or remove) its parent's containers and sockets.

    It closes its copies of the lifelines (every one, also of containers still starting or being
    recycled) and of the sessions (the parent's stay open), so that the containers still end when
    the parent closes them, not only once every child has exited too."""
    global _LIFELINES_LOCK
    for lifeline in _LIFELINES:
        _close_socket(lifeline)
    _LIFELINES.clear()
    _LIFELINES_LOCK = threading.Lock()
    for pool in list(DockerPool._every):
        # the parent's containers are the parent's: a pool object the child still holds starts
        # its own instead of using (or, on failure, removing) one of them
        for container in pool._take_all():
            for handle in (container.session, container.raw_session):
                _close_socket(handle)
            container.session = container.raw_session = container.lifeline = None
        with contextlib.suppress(Exception):
            while True:
                pool._idle.get_nowait()
        pool._closed = False
    DockerPool._pools = {}
    DockerPool._lock = threading.Lock()


atexit.register(DockerPool.close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_in_child)
