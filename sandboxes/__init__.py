"""Code-execution backends for code rewards; backends register through ``register_sandbox_backends``.

The contract (:mod:`sandboxes.base`): a :class:`Job` (files + command + stdin + :class:`Limits`) runs into
a :class:`Result` (exit code, stdout, stderr, truncated flags, timed_out, elapsed, ``error`` for an
infrastructure failure). Built-in backends: ``docker`` (warm pool of hardened containers), ``bwrap``
(bubblewrap + rlimits) and ``subprocess`` (no isolation; explicit opt-in only).

Nothing here imports the Docker SDK at import time.
"""

from __future__ import annotations

from typing import Any

from sandboxes.base import (
    ConcurrencyLimit,
    Job,
    Limits,
    Result,
    SandboxBackend,
    SandboxError,
    SandboxUnavailable,
)

BUILTIN_BACKENDS = {
    "docker": "sandboxes.docker_backend:DockerBackend",
    "bwrap": "sandboxes.local:BwrapBackend",
    "subprocess": "sandboxes.local:SubprocessBackend",
}


def builtin_backend_classes() -> dict[str, type[SandboxBackend]]:
    from sandboxes.docker_backend import DockerBackend
    from sandboxes.local import BwrapBackend, SubprocessBackend

    return {cls.name: cls for cls in (DockerBackend, BwrapBackend, SubprocessBackend)}


def backend_classes() -> dict[str, type[SandboxBackend]]:
    """Backends registered by installed plugins (``register_sandbox_backends``), plus the built-ins."""
    found: dict[str, Any] = {}
    try:
        from grpo_core.plugins import get_registry

        found.update(get_registry().sandbox_backends)
    except Exception:
        pass
    for name, cls in builtin_backend_classes().items():
        found.setdefault(name, cls)
    return found


def _refuse_ambiguous(name: str) -> None:
    """A backend name claimed by two distributions is never settled by falling back to a built-in:
    raise the registry's AmbiguousNameError (it names both and how to choose)."""
    from grpo_core.plugins import get_registry

    registry = get_registry()
    clashing = {c["name"] for c in registry.clashes() if c["kind"] == "sandbox backend"}
    for candidate in [name] if name != "auto" else ["docker", "bwrap"]:
        if candidate in clashing:
            registry.sandbox_backend_class(candidate)  # raises, naming the claimants


def get_backend(name: str = "auto", **options: Any) -> SandboxBackend:
    """Instantiate a backend by name. ``auto``: docker when an engine is reachable, else bwrap.

    ``options`` go to the chosen backend (with ``auto``: to docker only).

    Raises :class:`SandboxUnavailable` with the reasons when nothing safe can run here; the unsafe
    ``subprocess`` backend is never chosen automatically.
    """
    classes = backend_classes()
    _refuse_ambiguous(name)
    if name != "auto":
        if name not in classes:
            raise SandboxUnavailable(f"unknown sandbox backend {name!r}; known: {sorted(classes)}")
        return classes[name](**options)
    reasons = []
    docker_ok, docker_why = classes["docker"].available()
    if docker_ok:
        # An engine answers: use it, and let its own errors (e.g. image not built) surface clearly.
        return classes["docker"](**options)
    reasons.append(f"docker: {docker_why}")
    bwrap_ok, bwrap_why = classes["bwrap"].available()
    if bwrap_ok:
        return classes["bwrap"]()
    reasons.append(f"bwrap: {bwrap_why}")
    raise SandboxUnavailable(
        "no safe sandbox backend available (" + "; ".join(reasons) + "). Start a Docker engine, install "
        "bubblewrap, or explicitly opt into the unsafe `subprocess` backend."
    )


__all__ = [
    "BUILTIN_BACKENDS",
    "ConcurrencyLimit",
    "Job",
    "Limits",
    "Result",
    "SandboxBackend",
    "SandboxError",
    "SandboxUnavailable",
    "backend_classes",
    "builtin_backend_classes",
    "get_backend",
]
