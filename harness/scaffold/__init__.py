"""``grpo plugins new``: a working verifier-plugin package to start from.

The generated package has an entry point, a verifier that really scores (exact match of the final
answer against the row's ``answer`` column) and tests, so it passes before the author edits it.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from grpo_core.errors import ConfigError

NAME = re.compile(r"^[a-z][a-z0-9_]*$")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "grpo-reward-{dash}"
version = "0.1.0"
description = "grpo-core plugin: the `{name}` verifier"
requires-python = ">=3.11"
dependencies = ["grpo-core>=0.1"]

[project.optional-dependencies]
test = ["pytest"]

[project.entry-points.grpo]
{name} = "grpo_reward_{name}"

[tool.setuptools]
packages = ["grpo_reward_{name}"]
"""

MODULE = '''\
"""The `{name}` verifier: 1.0 when the completion's final answer equals the row's `answer`."""

from __future__ import annotations

import re

from grpo_core import Isolation, Sample, Score, Verifier, VerifierOptions, hookimpl

ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


class {cls}Options(VerifierOptions):
    case_sensitive: bool = False


class {cls}Verifier(Verifier):
    """Exact match of the last <answer>…</answer> (or the last line) against `answer`."""

    name = "{name}"
    columns = ("answer",)
    isolation = Isolation.INLINE  # PROCESS for CPU-heavy or possibly hanging checks
    Options = {cls}Options

    def extract(self, sample: Sample) -> str | None:
        text = sample.completion_text
        found = ANSWER.findall(text)
        if found:
            return found[-1].strip()
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        return lines[-1] if lines else None

    def score(self, sample: Sample) -> Score:
        predicted = self.extract(sample)
        if predicted is None:
            return Score.ok(0.0, reason="no answer found")
        gold = str(sample["answer"]).strip()
        if not self.options.case_sensitive:
            predicted, gold = predicted.lower(), gold.lower()
        return Score.ok(float(predicted == gold), extracted=predicted)

    def cache_key(self, sample: Sample):
        return (self.extract(sample), str(sample["answer"]))


@hookimpl
def register_verifiers(register):
    register({cls}Verifier)
'''

TEST = '''\
"""Tests of the `{name}` verifier: directly, through the grpo-core engine and the conformance kit."""

from grpo_core import Engine, PluginRegistry, Sample, Status
from grpo_core.testing import Example, VerifierConformance

import grpo_reward_{name}
from grpo_reward_{name} import {cls}Verifier


def test_exact_match():
    verifier = {cls}Verifier()
    assert verifier.score(Sample(completion="<answer>Paris</answer>", answer="paris")).value == 1.0
    assert verifier.score(Sample(completion="<answer>Lyon</answer>", answer="paris")).value == 0.0


def test_through_the_engine():
    registry = PluginRegistry()
    registry.add_plugin(grpo_reward_{name}, "{name}")
    rows = [{{"completion": "I think\\nParis", "answer": "Paris"}}, {{"completion": "x"}}]
    with Engine([{{"verifier": "{name}"}}], registry=registry) as engine:
        result = engine.score(rows)
    assert result.values("{name}") == [1.0, None]
    assert result.scores["{name}"][1].status is Status.INVALID_INPUT  # the row lacks `answer`


class Test{cls}Conformance(VerifierConformance):
    """One test per part of the verifier contract (bad input, determinism, cache keys, ...)."""

    verifier = {cls}Verifier
    plugin = grpo_reward_{name}
    examples = [
        Example({{"prompt": "Capital?", "completion": "<answer>Paris</answer>", "answer": "Paris"}}, 1.0),
        Example({{"prompt": "Capital?", "completion": "<answer>Lyon</answer>", "answer": "Paris"}}, 0.0),
        Example({{"prompt": "Capital?", "completion": "It is\\nparis", "answer": "Paris"}}, 1.0),
    ]
'''

README = """\
# grpo-reward-{dash}

A [grpo-core](https://pypi.org/project/grpo-core/) verifier plugin providing `{name}`.

```
pip install -e .            # registers the entry point
grpo plugins                # lists `{name}`
grpo score rows.jsonl --reward {name}
pytest                      # the plugin's tests
```
"""


def plugin_files(name: str) -> dict[str, str]:
    """Relative path -> content of a new plugin package for verifier ``name``."""
    if not NAME.match(name) or keyword.iskeyword(name):
        raise ConfigError(
            f"plugin name {name!r}: use lowercase letters, digits and '_', starting with a letter"
        )
    fields = {
        "name": name,
        "dash": name.replace("_", "-"),
        "cls": "".join(part.capitalize() for part in name.split("_")),
    }
    return {
        "pyproject.toml": PYPROJECT.format(**fields),
        "README.md": README.format(**fields),
        f"grpo_reward_{name}/__init__.py": MODULE.format(**fields),
        f"tests/test_{name}.py": TEST.format(**fields),
    }


def create_plugin(name: str, parent: Path) -> Path:
    """Write the package into ``parent/grpo-reward-<name>``; refuses to overwrite anything."""
    files = plugin_files(name)
    root = parent / f"grpo-reward-{name.replace('_', '-')}"
    if root.exists():
        raise ConfigError(f"{root} already exists; choose another name or directory (--dir)")
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root
