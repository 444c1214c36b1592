"""The kit as a pytest plugin (entry point ``pytest11``): a ``verifier_kit`` fixture and a header
line naming grpo-core, in every project that has grpo-core installed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def pytest_report_header(config: pytest.Config) -> str:
    from grpo_core import __version__

    return f"grpo-core {__version__} conformance kit (grpo_core.testing)"


@pytest.fixture
def verifier_kit() -> Callable[..., Any]:
    """``verifier_kit(VerifierClass, examples, options=..., plugin=...)`` -> a :class:`Kit`."""
    from grpo_core.testing.kit import Kit

    def make(verifier: type, examples: Any, **kwargs: Any) -> Kit:
        return Kit(verifier, examples, **kwargs)

    return make
