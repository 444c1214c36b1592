"""Talking to the in-sandbox runner: the job payload it reads and the result line it prints."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any

from sandboxes.base import Job, Result

MARK = b"GRPO-RESULT "
#: seconds the runner may need beyond the job's wall time (start-up, kill, clean-up)
RUNNER_GRACE = 5.0
#: the largest file a session's runner keeps: the script of a ``script_entry`` job (the code
#: verifier's 30 KB driver, the same in every job) then crosses once per sandbox, and later jobs send
#: only its digest. How many it keeps is the runner's to say (``_runner.py``; its results list them).
KEEP_BYTES = 1 << 20


@lru_cache(maxsize=1)
def runner_source() -> str:
    return (Path(__file__).with_name("_runner.py")).read_text()


def runner_command(python: str = "python3") -> list[str]:
    return [python, "-I", "-S", "-c", runner_source()]


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else bytes(data)
    return base64.b64encode(raw).decode("ascii")


def rlimits_for(job: Job, *, address_space: bool) -> dict[str, int | None]:
    limits = job.limits
    cpu_seconds = int(math.ceil(limits.wall_time * max(limits.cpus, 1.0))) + 1
    out: dict[str, int | None] = {
        "RLIMIT_CORE": 0,
        "RLIMIT_CPU": cpu_seconds,
        "RLIMIT_FSIZE": limits.file_size_mb * 1024 * 1024,
        "RLIMIT_NOFILE": limits.open_files,
    }
    if address_space:
        out["RLIMIT_AS"] = limits.memory_mb * 1024 * 1024
    return out


def keepable_file(job: Job) -> str | None:
    """The one file of ``job`` a session may send once: the script of a ``script_entry`` job (the
    host's own code, shared by every job; never a program, never tests), up to KEEP_BYTES."""
    if job.script_entry and job.preloaded_python and len(job.command) > 2:
        name = job.command[2]
        content = job.files.get(name)
        if isinstance(content, str | bytes) and _digest(content)[1] <= KEEP_BYTES:
            return name
    return None


@lru_cache(maxsize=16)
def _digest(content: str | bytes) -> tuple[str, int]:
    """(sha256, size in bytes) of a file's content: the same script comes with every job."""
    raw = content.encode() if isinstance(content, str) else bytes(content)
    return hashlib.sha256(raw).hexdigest(), len(raw)


def _file_entries(job: Job, kept: frozenset[str] | None) -> dict[str, dict[str, str]]:
    keep = keepable_file(job) if kept is not None else None
    entries = {}
    for name, content in job.files.items():
        if name != keep:
            entries[name] = {"b64": _b64(content)}
            continue
        digest = _digest(content)[0]
        entries[name] = {"kept": digest} if digest in kept else {"b64": _b64(content), "keep": digest}
    return entries


def kept_files(raw: dict[str, Any]) -> frozenset[str]:
    """The digests of the files a session's runner says it keeps (from its result)."""
    kept = raw.get("kept")
    return frozenset(d for d in kept if isinstance(d, str)) if isinstance(kept, list) else frozenset()


def new_nonce() -> str:
    return secrets.token_hex(12)


def encode_job(
    job: Job,
    *,
    nonce: str = "",
    workroot: str,
    kill_all: bool,
    address_space_limit: bool = False,
    path: str | None = None,
    extra_rlimits: dict[str, int] | None = None,
    kept: frozenset[str] | None = None,
) -> bytes:
    """The job as the runner reads it. ``kept``: for a session (None: not one), the digests of the
    files its runner already keeps (see ``KEEP_BYTES``)."""
    if not job.command:
        raise ValueError("job.command is empty")
    rlimits = rlimits_for(job, address_space=address_space_limit)
    rlimits.update(extra_rlimits or {})
    payload: dict[str, Any] = {
        "command": list(job.command),
        "files": _file_entries(job, kept),
        "stdin": _b64(job.stdin or b""),
        "wall_time": job.limits.wall_time,
        "output_bytes": job.limits.output_bytes,
        "workroot": workroot,
        "kill_all": kill_all,
        "rlimits": rlimits,
        "env": dict(job.env),
        "preloaded_python": bool(job.preloaded_python),
        "script_entry": job.script_entry,
        "path": path,
        "nonce": nonce,
    }
    body = json.dumps(payload).encode()
    return str(len(body)).encode() + b"\n" + body


def max_reply_bytes(job: Job) -> int:
    """The most a well-behaved runner prints (JSON escapes can grow text up to 6x)."""
    return 12 * job.limits.output_bytes + 256 * 1024


def result_end(stdout: bytes | bytearray, nonce: str) -> int:
    """Where the runner's complete result line for ``nonce`` ends in ``stdout`` (-1: not yet)."""
    start = stdout.rfind(b"\n" + MARK + nonce.encode() + b" ")
    if start < 0:
        return -1
    end = stdout.find(b"\n", start + 1)
    return end + 1 if end >= 0 else -1


def decode_result(
    stdout: bytes, stderr: bytes, backend: str, elapsed: float, nonce: str = ""
) -> tuple[Result, dict[str, Any]]:
    """The runner's reply -> (Result, raw dict). A missing or broken reply is an infrastructure error.

    Only the line carrying this job's ``nonce`` counts (the program cannot learn it: the runner is
    not dumpable), and the runner's line starts after a raw newline that JSON-escaped output lacks.
    """
    marker = b"\n" + MARK + nonce.encode() + b" "
    index = stdout.rfind(marker)
    if index < 0:
        tail = stderr.decode("utf-8", "replace")[-500:].strip()
        return Result.failure(
            f"sandbox runner gave no result{': ' + tail if tail else ''}", backend, elapsed
        ), {}
    try:
        line = stdout[index + len(marker) :].split(b"\n", 1)[0]
        raw = json.loads(line.decode("utf-8", "replace"))
    except json.JSONDecodeError as exc:
        return Result.failure(f"sandbox runner reply unreadable: {exc}", backend, elapsed), {}
    if raw.get("error"):
        return Result.failure(str(raw["error"]), backend, elapsed), raw
    result = Result(
        exit_code=raw.get("exit_code"),
        stdout=raw.get("stdout", ""),
        stderr=raw.get("stderr", ""),
        stdout_truncated=bool(raw.get("stdout_truncated")),
        stderr_truncated=bool(raw.get("stderr_truncated")),
        timed_out=bool(raw.get("timed_out")),
        elapsed=float(raw.get("run_elapsed") or elapsed),
        signal=raw.get("signal"),
        output_limit_exceeded=bool(raw.get("output_limit_exceeded")),
        backend=backend,
    )
    if raw.get("via_zygote"):
        result.extra["via_zygote"] = True
    return result, raw


def reusable_after(state: str, result: Result, raw: dict[str, Any]) -> bool:
    """May the sandbox (a warm session) take another job after this one?

    Only when the runner answered in time and its clean-up left nothing behind: no process, no IPC
    object, a usable work root, no file it could not remove, its zygote intact, its own and the
    zygote's limits, scheduling and affinity as they started, the work tmpfs mostly free. Anything
    else and the sandbox is discarded, so no job can leave state for the next.
    """
    return (
        state == "done"
        and result.error is None
        and not result.timed_out
        and not raw.get("leftover_processes")
        and not raw.get("ipc_leftovers")
        and raw.get("workroot_ok", True)
        and not raw.get("cleanup_failed")
        and not raw.get("zygote_lost")
        and not raw.get("runner_tampered")
        and not raw.get("runner_starved")
        and (raw.get("work_free_fraction") or 0.0) > 0.5
    )
