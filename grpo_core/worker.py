"""Code that runs inside the engine's worker processes.

Kept import-light: a replacement worker (after a timeout kill) starts from the fork server, where
the verifiers' modules were preloaded, so it is ready in milliseconds.
"""

from __future__ import annotations

import importlib
import json
import os
import time
import traceback
from typing import Any

from grpo_core.sample import Sample
from grpo_core.verifier import Score, Verifier, to_score

_instances: dict[tuple[type, str], Verifier] = {}


def init_worker(memory_limit_mb: int | None) -> None:
    """Runs once in each new worker: cap its address space when asked, and ignore Ctrl-C.

    Ctrl-C at a terminal reaches the whole process group; the parent stops the workers itself,
    so a worker must not die mid-sample with a KeyboardInterrupt traceback of its own.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_limit_mb:
        import resource

        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _verifier(cls: type[Verifier] | bytes, options: dict[str, Any]) -> Verifier:
    if isinstance(cls, bytes):  # a class from the user's __main__, sent by value
        from grpo_core.workerstart import load_class

        cls = load_class(cls)
    key = (cls, json.dumps(options, sort_keys=True, default=str))
    verifier = _instances.get(key)
    if verifier is None:
        for module in cls.worker_preload:  # already imported when the fork server preloaded it
            importlib.import_module(module)
        verifier = cls(options)
        verifier.setup()
        _instances[key] = verifier
    return verifier


def run_score(
    cls: type[Verifier] | bytes, options: dict[str, Any], sample: dict[str, Any]
) -> tuple[Score, float]:
    """Score one sample; exceptions become an ``error`` Score so nothing unpicklable travels back."""
    started = time.perf_counter()
    try:
        result = to_score(_verifier(cls, options).score(Sample(sample)))
    except BaseException as exc:  # SystemExit/KeyboardInterrupt from verifier code too: one sample only
        tb = traceback.format_exc(limit=-3)
        result = Score.error(f"{type(exc).__name__}: {exc}", traceback=tb)
    return result, time.perf_counter() - started


def warm_worker(cls: type[Verifier] | bytes, options: dict[str, Any], hold_s: float = 0.2) -> int:
    """Build the verifier in this worker; holding briefly lets the other warm-up tasks reach the
    other workers instead of queueing behind this one."""
    _verifier(cls, options)
    time.sleep(hold_s)
    return os.getpid()
