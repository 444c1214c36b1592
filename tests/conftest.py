"""Test set-up: the throwaway plugin is put on sys.path (and PYTHONPATH for subprocesses)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

THROWAWAY = Path(__file__).parent / "fixtures" / "plugins"

if str(THROWAWAY) not in sys.path:
    sys.path.insert(0, str(THROWAWAY))
os.environ["PYTHONPATH"] = os.pathsep.join([str(THROWAWAY), *filter(None, [os.environ.get("PYTHONPATH")])])


@pytest.fixture(scope="session")
def registry():
    """The installed plugins plus the throwaway one, loaded through real entry points."""
    from grpo_core.plugins import get_registry

    registry = get_registry(refresh=True)
    assert "misbehaving" in registry.verifiers, registry.errors()
    return registry
