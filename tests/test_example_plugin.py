"""The external plugin example in CONTRIBUTING.md works against the real contract and engine."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from grpo_core import Engine, PluginRegistry

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plugins" / "grpo-reward-word-limit"


def test_example_plugin_declares_its_entry_point():
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["grpo"] == {"word_limit": "grpo_reward_word_limit"}


def test_example_plugin_scores_through_the_engine(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.delitem(sys.modules, "grpo_reward_word_limit", raising=False)  # restored afterwards
    import grpo_reward_word_limit

    registry = PluginRegistry()
    registry.add_plugin(grpo_reward_word_limit, "word_limit")
    spec = {"verifier": "word_limit", "options": {"max_words": 4}}
    with Engine([spec], registry=registry) as engine:
        result = engine.score(
            [{"completion": "a b c"}, {"completion": "a b c d e f"}, {"completion": "x " * 9}]
        )
    assert result.values("word_limit") == [1.0, 0.5, 0.0]
    assert result.scores["word_limit"][1].details == {"words": 6}
