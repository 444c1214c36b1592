"""Code-execution backends for code rewards; backends register through ``register_sandbox_backends``.

The contract (:mod:`sandboxes.base`): a :class:`Job` (files + command + stdin + :class:`Limits`) runs into
a :class:`Result` (exit code, stdout, stderr, truncated flags, timed_out, elapsed, ``error`` for an
infrastructure failure). A backend declares its settings (``Options``, a pydantic model) and an
availability check. Built-in backends, registered by grpo-core's ``sandboxes`` entry point exactly as
a third-party package registers its own: ``docker`` (warm pool of hardened containers), ``bwrap``
(bubblewrap + rlimits) and ``subprocess`` (no isolation; explicit opt-in only). Choosing one:
:mod:`sandboxes.choose`.

Nothing here imports the Docker SDK at import time.
"""

from __future__ import annotations

from sandboxes.base import (
    BackendOptions,
    BackendOptionsError,
    ConcurrencyLimit,
    Job,
    Limits,
    Result,
    SandboxBackend,
    SandboxError,
    SandboxUnavailable,
)
from sandboxes.choose import DEFAULT_PREFERENCE, backend_classes, get_backend

__all__ = [
    "DEFAULT_PREFERENCE",
    "BackendOptions",
    "BackendOptionsError",
    "ConcurrencyLimit",
    "Job",
    "Limits",
    "Result",
    "SandboxBackend",
    "SandboxError",
    "SandboxUnavailable",
    "backend_classes",
    "get_backend",
]
