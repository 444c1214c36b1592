"""The backend contract: a job (files + command + stdin + limits) runs into a result.

A :class:`Result` tells the program's own outcome (exit code, output, timed out) apart from an
infrastructure failure (``error``): a backend that could not run the job never returns something that
looks like a program that failed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

MiB = 1024 * 1024
#: set to 1: backends without isolation may run without a per-call opt-in
UNSAFE_ENV = "GRPO_SANDBOX_ALLOW_UNSAFE"


class SandboxError(Exception):
    """The sandbox itself failed (engine unreachable, image missing, container died): not the program."""


class SandboxUnavailable(SandboxError):
    """A backend cannot run on this machine (no Docker engine, no bwrap, unsafe not opted into)."""


class BackendOptionsError(SandboxError, ValueError):
    """A backend's settings are wrong (an unknown key, a bad value): the message names the key."""


class BackendOptions(BaseModel):
    """Base of a backend's settings model: unknown keys are errors, so a typo never goes unnoticed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Limits:
    """Per-job limits. Wall time in seconds, memory in MiB, output cap in bytes per stream."""

    wall_time: float = 10.0
    memory_mb: int = 512
    cpus: float = 1.0
    pids: int = 128
    output_bytes: int = 1 * MiB
    file_size_mb: int = 64
    open_files: int = 256

    def __post_init__(self) -> None:
        if self.wall_time <= 0 or self.memory_mb <= 0 or self.cpus <= 0 or self.pids <= 0:
            raise ValueError(f"limits must be positive: {self}")
        if self.output_bytes < 0:
            raise ValueError("output_bytes must be >= 0")


@dataclass(frozen=True)
class Job:
    """What to run: ``files`` (relative path -> text or bytes) are written into a fresh work dir,
    ``command`` (argv) runs there with ``stdin`` under ``limits``."""

    command: tuple[str, ...] | list[str]
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    stdin: str | bytes = b""
    limits: Limits = field(default_factory=Limits)
    env: Mapping[str, str] = field(default_factory=dict)
    #: ``command`` is ``python3 -I SCRIPT [ARGS]``: the runner may run it in a pre-started, pristine
    #: interpreter (forked from a zygote that never saw a job), with the same outcome and no start-up.
    #: SCRIPT must hold nothing secret: the zygote keeps it compiled for later jobs.
    preloaded_python: bool = False
    #: with ``preloaded_python``: SCRIPT's top level only defines (functions, classes, constants) and
    #: its ``if __name__ == "__main__":`` block calls this function alone. The zygote then runs the
    #: top level once, and each job only calls the function in a fresh fork: a large script's module
    #: set-up (class bodies, tables) is not paid per job. Without a zygote SCRIPT runs as usual. A
    #: warm session also sends SCRIPT's content only with its first such job (later ones name it by
    #: sha256, from the runner's copy): SCRIPT is the caller's own code, the same for every job.
    script_entry: str | None = None

    def with_limits(self, **changes: Any) -> Job:
        return replace(self, limits=replace(self.limits, **changes))


@dataclass
class Result:
    """What happened. ``error`` set = infrastructure failure (the other fields mean nothing then)."""

    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    timed_out: bool = False
    elapsed: float = 0.0
    error: str | None = None
    #: the program was killed by this signal (e.g. 9 after an OOM kill or an output flood)
    signal: int | None = None
    #: output exceeded ``limits.output_bytes`` and the program was stopped
    output_limit_exceeded: bool = False
    backend: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The program ran to completion and exited 0."""
        return self.error is None and not self.timed_out and self.exit_code == 0

    @property
    def infra_error(self) -> bool:
        return self.error is not None

    @classmethod
    def failure(cls, message: str, backend: str = "", elapsed: float = 0.0) -> Result:
        return cls(error=message, backend=backend, elapsed=elapsed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "timed_out": self.timed_out,
            "elapsed": self.elapsed,
            "error": self.error,
            "signal": self.signal,
            "output_limit_exceeded": self.output_limit_exceeded,
            "backend": self.backend,
        }


def _default_concurrency() -> int:
    raw = os.environ.get("GRPO_SANDBOX_CONCURRENCY")
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            pass
    return max(2, (os.cpu_count() or 2) * 2)


class ConcurrencyLimit:
    """The process-wide cap on sandbox jobs in flight, shared by every backend and caller.

    Callers beyond the cap wait (back-pressure) instead of piling containers or processes up.
    ``GRPO_SANDBOX_CONCURRENCY`` sets it; the default is twice the CPU count.
    """

    _lock = threading.Lock()
    _semaphore: threading.BoundedSemaphore | None = None
    _size = 0
    _executor: concurrent.futures.ThreadPoolExecutor | None = None

    @classmethod
    def size(cls) -> int:
        cls._ensure()
        return cls._size

    @classmethod
    def _ensure(cls) -> None:
        with cls._lock:
            if cls._semaphore is None:
                cls._size = _default_concurrency()
                cls._semaphore = threading.BoundedSemaphore(cls._size)

    @classmethod
    def configure(cls, size: int) -> None:
        """Set the cap before the first job (later calls only raise it, never below jobs in flight)."""
        with cls._lock:
            if cls._semaphore is None or size > cls._size:
                cls._size = max(1, size)
                cls._semaphore = threading.BoundedSemaphore(cls._size)
                cls._executor = None

    @classmethod
    def semaphore(cls) -> threading.BoundedSemaphore:
        cls._ensure()
        assert cls._semaphore is not None
        return cls._semaphore

    @classmethod
    def executor(cls) -> concurrent.futures.ThreadPoolExecutor:
        cls._ensure()
        with cls._lock:
            if cls._executor is None:
                cls._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=cls._size + 2, thread_name_prefix="grpo-sandbox"
                )
            return cls._executor


class SandboxBackend:
    """Base class of a code-execution backend.

    Subclasses set ``name`` and implement :meth:`_run` (blocking). :meth:`run` adds the process-wide
    concurrency cap; :meth:`arun` runs it on the shared thread pool for async callers.
    """

    name: ClassVar[str] = ""
    #: False for backends that give no isolation (``subprocess``): they need an explicit opt-in.
    safe: ClassVar[bool] = True
    #: the settings this backend takes (the code verifier's ``backend_options.<name>``)
    Options: ClassVar[type[BackendOptions]] = BackendOptions
    #: True: its constructor takes ``defaults=`` (the caller's usual limits) to start warm sandboxes
    sized_by_limits: ClassVar[bool] = False

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """Whether this backend can run here, and why not."""
        return True, ""

    @classmethod
    def parse_options(cls, options: Mapping[str, Any] | None, where: str = "") -> BackendOptions:
        """Validate settings against :attr:`Options`; errors name each key (``where`` prefixes it)."""
        if options is not None and not isinstance(options, Mapping):
            raise BackendOptionsError(
                f"{where or cls.name}: expected a mapping of settings, got {type(options).__name__}"
            )
        try:
            return cls.Options.model_validate(dict(options or {}))
        except ValidationError as exc:
            known = ", ".join(cls.Options.model_fields) or "none"
            problems = []
            for error in exc.errors():
                path = ".".join(str(part) for part in (where or cls.name, *error["loc"]))
                problems.append(f"{path}: {error['msg']}")
            raise BackendOptionsError(
                "; ".join(problems) + f" (settings of the {cls.name} backend: {known})"
            ) from None

    @classmethod
    def from_options(
        cls,
        options: BackendOptions | None = None,
        *,
        limits: Limits | None = None,
        allow_unsafe: bool = False,
    ) -> SandboxBackend:
        """Build the backend from its validated settings, passed as keyword arguments, plus
        ``defaults=limits`` (the caller's usual per-job limits) for backends that size resources up
        front (:attr:`sized_by_limits`). ``allow_unsafe``: the caller opted into an unisolated
        backend; a backend that is not :attr:`safe` overrides this method to take it."""
        kwargs = (options or cls.Options()).model_dump()
        if cls.sized_by_limits:
            kwargs["defaults"] = limits
        return cls(**kwargs)

    def run(self, job: Job) -> Result:
        with ConcurrencyLimit.semaphore():
            try:
                result = self._run(job)
            except SandboxError as exc:
                result = Result.failure(str(exc), self.name)
            except Exception as exc:  # a backend bug must not look like a wrong program
                result = Result.failure(f"{type(exc).__name__}: {exc}", self.name)
        result.backend = result.backend or self.name
        return result

    async def arun(self, job: Job) -> Result:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(ConcurrencyLimit.executor(), self.run, job)

    def _run(self, job: Job) -> Result:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the backend holds (containers, temp dirs)."""

    def __enter__(self) -> SandboxBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
