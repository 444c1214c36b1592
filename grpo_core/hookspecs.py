"""The pluggy hook specification every grpo plugin implements.

Hooks follow the ``register(...)`` callback style: a hook receives a ``register`` function and calls
it once per thing it provides, so one package can ship several verifiers or backends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT_NAME = "grpo"
ENTRY_POINT_GROUP = "grpo"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_verifiers(register: Callable[[type], None]) -> None:
    """Register verifier classes: call ``register(VerifierSubclass)`` once per verifier.

    Each class must subclass :class:`grpo_core.Verifier` and carry a unique ``name``.
    """


@hookspec
def register_sandbox_backends(register: Callable[[Any], None]) -> None:
    """Register code-execution backends: call ``register(BackendClass)`` once per backend.

    A backend class carries a unique ``name``; its run contract lives in :mod:`sandboxes`.
    """
