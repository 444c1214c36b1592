"""Every built-in plugin's metadata: Python 3.11+ (core uses StrEnum) and an SPDX license string
(the table form makes setuptools print deprecation warnings on every install)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECTS = sorted([ROOT / "pyproject.toml", *ROOT.glob("plugins/*/pyproject.toml")])


@pytest.mark.parametrize("path", PYPROJECTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_requires_python_311_and_spdx_license(path):
    data = tomllib.loads(path.read_text())
    project = data["project"]
    assert project["requires-python"] == ">=3.11"
    assert isinstance(project["license"], str) and project["license"] == "Apache-2.0"
    setuptools_req = next(r for r in data["build-system"]["requires"] if r.startswith("setuptools"))
    assert setuptools_req == "setuptools>=77"  # the first release that reads SPDX license strings


def test_one_group_is_not_plural(tmp_path):
    import json

    from typer.testing import CliRunner

    from harness.cli import app

    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"completion": "x", "group": 1}) + "\n" for _ in range(2)))
    result = CliRunner().invoke(app, ["score", str(rows), "-r", "format"])
    assert result.exit_code == 0, result.output
    assert "; 1 group, " in result.output
