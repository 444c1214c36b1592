"""Choosing a sandbox backend from the plugin registry: by name, or ``auto`` down a preference list.

The registry is the only source of backends: grpo-core's own (docker, bwrap, subprocess) register
through its ``sandboxes`` entry point like any third-party package's, so ``GRPO_DISABLE_PLUGINS=
sandboxes`` really removes them. Every setting is checked before anything starts: the backend names
(bare or ``distribution:name``), the preference list and each backend's settings (its ``Options``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from sandboxes.base import (
    UNSAFE_ENV,
    BackendOptions,
    BackendOptionsError,
    Limits,
    SandboxBackend,
    SandboxError,
    SandboxUnavailable,
)

#: ``auto`` tries these in order and takes the first whose availability check passes
DEFAULT_PREFERENCE: tuple[str, ...] = ("docker", "bwrap")
#: the entry-point name under which grpo-core registers its built-in backends
BUILTIN_PLUGIN = "sandboxes"


def _registry() -> Any:
    from grpo_core.plugins import get_registry

    return get_registry()


def backend_classes() -> dict[str, type[SandboxBackend]]:
    """Backends registered by installed plugins (``register_sandbox_backends``), by bare name.

    A name claimed by two plugins is left out here (see :func:`resolve`, which refuses it)."""
    return dict(_registry().sandbox_backends)


def _builtin_hint() -> str:
    """Why grpo-core's own backends are missing, and the fix; empty when they are registered."""
    from grpo_core.plugins import DISABLE_ENV, LOAD_ENV, _plugin_selected

    info = _registry().plugins.get(BUILTIN_PLUGIN)
    if info is not None and not info.errors:
        return ""
    if info is not None:
        return f" (grpo-core's `{BUILTIN_PLUGIN}` plugin failed to load: {'; '.join(info.errors)})"
    if not _plugin_selected(BUILTIN_PLUGIN, "grpo-core"):
        return (
            f" (grpo-core's built-in backends docker, bwrap and subprocess register through its "
            f"`{BUILTIN_PLUGIN}` plugin, which {DISABLE_ENV}/{LOAD_ENV} leave out: remove "
            f"'{BUILTIN_PLUGIN}' from {DISABLE_ENV}, or add it to {LOAD_ENV})"
        )
    return (
        " (grpo-core's built-in backends are not registered: its entry points are missing, e.g. run "
        "from a source tree that is not installed; pip install -e . there)"
    )


def _known() -> str:
    names = sorted(backend_classes())
    return ", ".join(names) if names else "none"


def resolve(name: str) -> type[SandboxBackend]:
    """The backend class behind ``name`` or ``distribution:name``.

    Raises AmbiguousNameError (a ConfigError) for a name two plugins claim, and
    :class:`SandboxUnavailable` naming the registered backends for an unknown one.
    """
    from grpo_core.errors import AmbiguousNameError, ConfigError

    registry = _registry()
    try:
        claim = registry.sandbox_backend_claim(name)
    except AmbiguousNameError:
        raise
    except ConfigError:
        raise SandboxUnavailable(
            f"unknown sandbox backend {name!r}; registered: {_known()}{_builtin_hint()}"
        ) from None
    cls = claim.obj
    if not (isinstance(cls, type) and issubclass(cls, SandboxBackend)):
        raise SandboxUnavailable(
            f"sandbox backend {name!r} from {claim.source} is not a sandboxes.SandboxBackend subclass; "
            f"uninstall that package or disable it with GRPO_DISABLE_PLUGINS={claim.qualifier}"
        )
    return cls


def check_preference(preference: Sequence[str]) -> list[type[SandboxBackend]]:
    """The classes of a preference list: each name registered, none unsafe, none twice."""
    if isinstance(preference, str) or not preference:
        raise BackendOptionsError("give a non-empty list of backend names, e.g. [docker, bwrap]")
    classes = []
    for name in preference:
        cls = resolve(name)
        if not cls.safe:
            raise BackendOptionsError(
                f"{name!r} gives no isolation and is never chosen automatically; "
                f"choose it explicitly (backend={name}, allow_unsafe=true)"
            )
        if cls in classes:
            raise BackendOptionsError(f"{name!r} is listed twice")
        classes.append(cls)
    return classes


def check_options(options: Mapping[str, Any] | None) -> dict[type[SandboxBackend], BackendOptions]:
    """Each backend's settings, validated by that backend: ``{backend name: {setting: value}}``."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise BackendOptionsError(
            "backend_options: expected a mapping of backend name to its settings, e.g. "
            '{"docker": {"image": "grpo-sandbox-python:latest"}}'
        )
    checked: dict[type[SandboxBackend], BackendOptions] = {}
    for name, settings in options.items():
        try:
            cls = resolve(str(name))
        except SandboxUnavailable as exc:
            raise BackendOptionsError(f"backend_options.{name}: {exc}") from None
        if cls in checked:
            raise BackendOptionsError(
                f"backend_options.{name}: the {cls.name} backend's settings are given twice"
            )
        checked[cls] = cls.parse_options(settings, where=f"backend_options.{name}")
    return checked


def unsafe_allowed(allow_unsafe: bool) -> bool:
    return allow_unsafe or os.environ.get(UNSAFE_ENV) == "1"


def get_backend(
    name: str = "auto",
    options: Mapping[str, Any] | None = None,
    *,
    preference: Sequence[str] = DEFAULT_PREFERENCE,
    limits: Limits | None = None,
    allow_unsafe: bool = False,
) -> SandboxBackend:
    """Build a backend by name, or with ``auto`` the first of ``preference`` available here.

    ``options``: settings per backend, ``{name: {...}}``, each validated by that backend (all of
    them, before anything starts; the chosen one's are used). ``limits``: the caller's usual per-job
    limits. A backend without isolation (``safe = False``) needs ``allow_unsafe`` (or
    ``GRPO_SANDBOX_ALLOW_UNSAFE=1``) and is never chosen by ``auto``.

    Raises :class:`SandboxUnavailable` (with every reason) when nothing can run,
    :class:`BackendOptionsError` for bad settings, AmbiguousNameError for a name claimed twice.
    """
    settings = check_options(options)
    if name != "auto":
        cls = resolve(name)
        if not cls.safe and not unsafe_allowed(allow_unsafe):
            raise SandboxUnavailable(
                f"the {cls.name!r} backend runs untrusted code without any isolation; opt in with "
                f"allow_unsafe=True (code verifier: allow_unsafe=true) or {UNSAFE_ENV}=1"
            )
        return cls.from_options(settings.get(cls), limits=limits, allow_unsafe=unsafe_allowed(allow_unsafe))
    try:
        candidates = check_preference(preference)
    except SandboxError as exc:
        raise type(exc)(f"backend preference: {exc}") from None
    reasons = []
    for cls in candidates:
        try:
            ok, why = cls.available()
        except Exception as exc:  # a plugin's broken check is a reason to skip it, with the reason
            ok, why = False, f"availability check failed: {type(exc).__name__}: {exc}"
        if ok:
            # the first that answers is used; its own errors (e.g. image not built) surface as they are
            return cls.from_options(settings.get(cls), limits=limits)
        reasons.append(f"{cls.name}: {why}")
    raise SandboxUnavailable(
        "no safe sandbox backend available (tried " + "; ".join(reasons) + "). Start a Docker engine, "
        "install bubblewrap, choose another registered backend (registered: " + _known() + "), or "
        "explicitly opt into the unsafe `subprocess` backend." + _builtin_hint()
    )
