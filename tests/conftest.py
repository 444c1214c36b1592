"""Test set-up: the throwaway plugin is put on sys.path (and PYTHONPATH for subprocesses)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

THROWAWAY = Path(__file__).parent / "fixtures" / "plugins"

if str(THROWAWAY) not in sys.path:
    sys.path.insert(0, str(THROWAWAY))
os.environ["PYTHONPATH"] = os.pathsep.join([str(THROWAWAY), *filter(None, [os.environ.get("PYTHONPATH")])])

# A shell starts background jobs with SIGINT ignored, and Python (and every process it starts) keeps
# an inherited "ignore": the Ctrl-C tests would then test nothing, or fail, depending on how the
# suite was launched. Tests behave as in a terminal: Python's own handler here, the default in
# children (a handled signal is reset on exec).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def registry():
    """The installed plugins plus the throwaway one, loaded through real entry points."""
    from grpo_core.plugins import get_registry

    registry = get_registry(refresh=True)
    assert "misbehaving" in registry.verifiers, registry.errors()
    return registry
