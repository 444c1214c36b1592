"""The ``code`` verifier: extract the program, run it against the row's tests in a sandbox, score it.

Value: fraction of cases passed (``scoring=fraction``) or 1/0 (``scoring=binary``, which stops at the
first failure). A program that fails, crashes, loops past the limit or floods its output is a wrong
answer (status ``ok``, value 0 or partial, ``details`` say why). A sandbox that could not run it is an
infrastructure failure: status ``error`` (value per the run's ``on_error`` policy), never a 0.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Hashable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator
from pydantic_core import PydanticCustomError

from grpo_core import Isolation, Sample, Score, Verifier, VerifierOptions
from grpo_core.errors import ConfigError
from grpo_reward_code.extract import extract_code
from sandboxes.choose import DEFAULT_PREFERENCE

DRIVER_FILE = "_grpo_driver.py"
#: ``-I``: the work dir (where the program may write files) is never on the driver's import path
DRIVER_COMMAND = ["python3", "-I", DRIVER_FILE]
SUPPORTED = {
    "python": {
        "program_file": "solution.py",
        "run": ["python3", "solution.py"],
        "formats": {"assert", "stdio", "call"},
    },
    "cpp": {"program_file": "solution.cpp", "run": ["./solution"], "formats": {"stdio"}},
}
#: C++ is compiled by the driver after it has read its instructions, with no stdin
CPP_COMPILE = ["g++", "-O2", "-std=c++17", "-pipe", "-o", "solution", "solution.cpp"]


@lru_cache(maxsize=1)
def driver_source() -> str:
    return (Path(__file__).with_name("_driver.py")).read_text()


#: options that became the docker backend's settings: old name -> setting in backend_options.docker
MOVED_TO_DOCKER = {"image": "image", "docker_mode": "mode", "pool_size": "pool_size", "warm": "warm"}


class CodeOptions(VerifierOptions):
    backend: str = Field(
        "auto",
        min_length=1,
        description="a registered sandbox backend (or distribution:name); auto = the first of "
        "backend_preference available here",
    )
    backend_preference: tuple[str, ...] = Field(
        DEFAULT_PREFERENCE, description="backend=auto: backends to try, in order (unsafe ones never)"
    )
    backend_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="settings per backend, validated by that backend: {docker: {image: ..., mode: ...}}",
    )
    allow_unsafe: bool = Field(False, description="permit a backend without isolation (`subprocess`)")
    scoring: Literal["fraction", "binary"] = Field(
        "fraction", description="fraction of cases, or all-or-nothing"
    )
    extract: Literal["last_block", "first_block", "whole"] = "last_block"
    fallback_to_whole: bool = Field(True, description="no fenced block: treat the whole completion as code")
    default_language: str = "python"
    timeout_s: PositiveFloat = Field(20.0, description="wall-time limit of one completion's whole test run")
    case_timeout_s: PositiveFloat = Field(5.0, description="wall-time limit per case (stdio, call)")
    memory_mb: PositiveInt = 512
    cpus: PositiveFloat = 1.0
    pids: PositiveInt = 128
    output_bytes: PositiveInt = 1 << 20
    float_tolerance: float | None = Field(
        1e-6, ge=0, allow_inf_nan=False, description="relative tolerance for float values; null = exact"
    )

    @model_validator(mode="before")
    @classmethod
    def _moved_options(cls, data: Any) -> Any:
        """The docker settings that were options of their own say where they went."""
        moved = [key for key in MOVED_TO_DOCKER if isinstance(data, dict) and key in data]
        if moved:
            example = json.dumps({"docker": {MOVED_TO_DOCKER[key]: data[key] for key in moved}})
            raise PydanticCustomError(
                "moved_option",
                "{moved}: now a setting of the docker backend; use backend_options={example}",
                {"moved": ", ".join(moved), "example": example},
            )
        return data

    @model_validator(mode="after")
    def _check_backend(self) -> CodeOptions:
        """Against the plugin registry, before anything starts: the backend (or the preference
        list) is registered and each backend's settings are valid for it."""
        from grpo_core.errors import AmbiguousNameError
        from sandboxes import SandboxError
        from sandboxes.base import UNSAFE_ENV
        from sandboxes.choose import check_options, check_preference, resolve, unsafe_allowed

        try:
            # a preference list given with a named backend is checked too, so a typo never waits
            if self.backend == "auto" or "backend_preference" in self.model_fields_set:
                try:
                    check_preference(self.backend_preference)
                except (SandboxError, AmbiguousNameError) as exc:
                    raise SandboxError(f"backend_preference: {exc}") from None
            if self.backend != "auto":
                try:
                    chosen = resolve(self.backend)
                except (SandboxError, AmbiguousNameError) as exc:
                    raise SandboxError(f"backend: {exc}") from None
                if not chosen.safe and not unsafe_allowed(self.allow_unsafe):
                    raise SandboxError(
                        f"backend: {self.backend!r} runs untrusted code without any isolation; it needs "
                        f"allow_unsafe=true (or {UNSAFE_ENV}=1)"
                    )
            try:
                check_options(self.backend_options)
            except AmbiguousNameError as exc:
                raise SandboxError(f"backend_options: {exc}") from None
        except SandboxError as exc:
            raise PydanticCustomError("sandbox_backend", "{message}", {"message": str(exc)}) from None
        return self


class CodeVerifier(Verifier):
    """Runs the completion's program against the row's tests (assert, stdio, call) in a sandbox."""

    name = "code"
    columns = ("tests",)
    isolation = Isolation.ASYNC
    #: per-job limits are enforced by the sandbox; this only bounds one whole batch (queueing included)
    default_timeout = 3600.0
    max_batch_size = 32
    max_concurrency = 4
    Options = CodeOptions

    def setup(self) -> None:
        from sandboxes import Limits, SandboxError, get_backend

        opts: CodeOptions = self.options  # type: ignore[assignment]
        self.limits = Limits(
            wall_time=opts.timeout_s,
            memory_mb=opts.memory_mb,
            cpus=opts.cpus,
            pids=opts.pids,
            output_bytes=opts.output_bytes,
        )
        try:
            self.backend = get_backend(
                opts.backend,
                opts.backend_options,
                preference=opts.backend_preference,
                limits=self.limits,
                allow_unsafe=opts.allow_unsafe,
            )
        except SandboxError as exc:
            raise ConfigError(f"code verifier: {exc}") from None
        # a limit asked for explicitly must be one the backend enforces
        limitations = getattr(self.backend, "limitations", lambda: [])()
        asked = sorted({"memory_mb", "cpus", "pids"} & opts.model_fields_set)
        unenforced = [text for text in limitations if text.split(" ", 1)[0] in asked]
        if unenforced:
            self.backend.close()
            raise ConfigError(
                f"code verifier: the {self.backend.name} backend cannot enforce "
                + "; ".join(unenforced)
                + ". Use the docker backend, run where per-job cgroups can be made (root or a delegated "
                "cgroup v2 subtree), or drop the option(s) " + ", ".join(asked)
            )

    # -- preparing -----------------------------------------------------------------------------
    def _program(self, sample: Sample) -> tuple[str, str | None]:
        opts: CodeOptions = self.options  # type: ignore[assignment]
        language = str(sample.get("language") or opts.default_language).lower()
        language = {"python3": "python", "py": "python", "c++": "cpp"}.get(language, language)
        code = extract_code(sample.completion_text, language, opts.extract, opts.fallback_to_whole)
        return language, code

    @staticmethod
    def _tests(sample: Sample) -> dict[str, Any]:
        from grpo_reward_code.tests_spec import validate_tests

        return validate_tests(sample["tests"])

    def cache_key(self, sample: Sample) -> Hashable | None:
        try:
            language, code = self._program(sample)
            tests = sample["tests"]
            blob = json.dumps([language, code, tests], sort_keys=True, default=str)
        except Exception:
            return None
        return hashlib.sha256(blob.encode()).hexdigest()

    def prepare(self, sample: Sample) -> tuple[Any, dict[str, Any]] | Score:
        """A sandbox job for this sample, or the Score when no run is needed."""
        from sandboxes import Job

        opts: CodeOptions = self.options  # type: ignore[assignment]
        try:
            tests = self._tests(sample)
        except (ValueError, json.JSONDecodeError) as exc:
            return Score.invalid_input(str(exc))
        language, code = self._program(sample)
        if language not in SUPPORTED:
            return Score.invalid_input(f"language {language!r} is not supported (known: {sorted(SUPPORTED)})")
        spec = SUPPORTED[language]
        if tests["type"] not in spec["formats"]:
            return Score.invalid_input(f"{tests['type']} tests are not supported for {language}")
        total = len(tests["cases"]) if tests["type"] != "assert" else None
        if code is None:
            return Score.ok(0.0, passed=0, total=total, first_failure="no program found in the completion")
        nonce = secrets.token_hex(16)
        instructions = {
            "nonce": nonce,
            "binary": opts.scoring == "binary",
            "tests": tests,
            "program_file": spec["program_file"],
            "command": spec["run"],
            "compile": {"command": CPP_COMPILE, "timeout": opts.timeout_s} if language == "cpp" else None,
            "options": {
                "case_timeout": opts.case_timeout_s,
                "float_tolerance": opts.float_tolerance,
                "output_bytes": opts.output_bytes,
            },
        }
        job = Job(
            command=DRIVER_COMMAND,
            # surrogatepass: a lone surrogate reaches the program's file as the bytes it asked for
            # (invalid UTF-8 there, so a wrong program), instead of failing the job on the host
            files={spec["program_file"]: code.encode("utf-8", "surrogatepass"), DRIVER_FILE: driver_source()},
            stdin=json.dumps(instructions),
            limits=self.limits,
            preloaded_python=True,
            script_entry="main",
        )
        return job, {"nonce": nonce, "total": total, "language": language}

    # -- interpreting --------------------------------------------------------------------------
    def interpret(self, result: Any, meta: dict[str, Any]) -> Score:
        opts: CodeOptions = self.options  # type: ignore[assignment]
        if result.error is not None:
            return Score.error(f"sandbox: {result.error}", backend=result.backend)
        nonce = meta["nonce"]
        total = meta["total"]
        passed = failed = 0
        first_failure: str | None = None
        done = False
        problem: str | None = None
        for line in result.stdout.splitlines():
            if not line.startswith(nonce + " "):
                continue
            try:
                record = json.loads(line[len(nonce) + 1 :])
            except json.JSONDecodeError:
                continue
            if "total" in record and "case" not in record:
                total = int(record["total"])
            elif "case" in record:
                if record.get("ok"):
                    passed += 1
                else:
                    failed += 1
                    first_failure = first_failure or record.get("msg") or "failed"
            elif "invalid" in record:
                return Score.invalid_input(f"tests: {str(record['invalid'])[:400]}")
            elif "infra" in record:
                hint = " (grpo sandbox build --offline --with-cpp)" if "g++" in str(record["infra"]) else ""
                return Score.error(f"sandbox: {str(record['infra'])[:300]}{hint}", backend=result.backend)
            elif "error" in record:
                problem = problem or str(record["error"])[:400]
            elif record.get("done"):
                done = True
        total = max(int(total or 0), passed + failed, 1)
        if not done:
            if result.timed_out:
                problem = problem or f"timed out after {opts.timeout_s:g}s"
            elif result.output_limit_exceeded:
                problem = problem or "output limit exceeded"
            else:
                tail = result.stderr.strip().splitlines()[-1:] if result.stderr else []
                reason = f"exited with status {result.exit_code}"
                if result.signal:
                    reason = f"killed by signal {result.signal}"
                problem = problem or ("program " + reason + (f": {tail[0][:300]}" if tail else ""))
        all_passed = done and problem is None and failed == 0 and passed >= total
        if opts.scoring == "binary":
            value = 1.0 if all_passed else 0.0
        else:
            value = 1.0 if all_passed else passed / max(total, passed + 1)
        details: dict[str, Any] = {"passed": passed, "total": total, "backend": result.backend}
        if not all_passed:
            details["first_failure"] = first_failure or problem or "tests did not complete"
        if result.timed_out:
            details["timed_out"] = True
        if result.stdout_truncated or result.stderr_truncated:
            details["output_truncated"] = True
        return Score.ok(value, **details)

    # -- scoring -------------------------------------------------------------------------------
    async def score_batch(self, samples: Sequence[Sample]) -> list[Score]:
        prepared = [self._safe_prepare(sample) for sample in samples]
        jobs = [item for item in prepared if not isinstance(item, Score)]
        results = await asyncio.gather(*(self.backend.arun(job) for job, _ in jobs))
        by_job = iter(zip(jobs, results))
        scores: list[Score] = []
        for item in prepared:
            if isinstance(item, Score):
                scores.append(item)
                continue
            (_, meta), result = next(by_job)
            try:
                scores.append(self.interpret(result, meta))
            except Exception as exc:
                scores.append(
                    Score.error(f"interpreting the sandbox result failed: {type(exc).__name__}: {exc}")
                )
        return scores

    def _safe_prepare(self, sample: Sample) -> tuple[Any, dict[str, Any]] | Score:
        try:
            return self.prepare(sample)
        except Exception as exc:
            return Score.error(f"preparing the sandbox job failed: {type(exc).__name__}: {exc}")

    async def ascore(self, sample: Sample) -> Score:
        return (await self.score_batch([sample]))[0]
