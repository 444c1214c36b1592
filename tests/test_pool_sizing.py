"""Worker-count defaults: an explicit setting wins; training ranks on a node share the CPUs."""

from __future__ import annotations

import os

from grpo_core.pool import default_workers


def test_env_override(monkeypatch):
    monkeypatch.setenv("GRPO_WORKERS", "3")
    assert default_workers() == 3


def test_ranks_share_the_cpus(monkeypatch):
    monkeypatch.delenv("GRPO_WORKERS", raising=False)
    cpus = len(os.sched_getaffinity(0))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert default_workers() == cpus
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(cpus * 4))
    assert default_workers() == 1
