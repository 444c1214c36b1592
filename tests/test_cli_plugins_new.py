"""`grpo plugins new` writes a plugin package whose own tests pass against the real engine."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

from typer.testing import CliRunner

from harness.cli import app

runner = CliRunner()


def test_new_plugin_package_works(tmp_path):
    result = runner.invoke(app, ["plugins", "new", "exact_answer", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "grpo-reward-exact-answer"
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["name"] == "grpo-reward-exact-answer"
    assert project["entry-points"]["grpo"] == {"exact_answer": "grpo_reward_exact_answer"}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "12 passed" in tests.stdout  # 2 own tests + one per conformance check


def test_scaffold_round_trip_generate_install_list_test(tmp_path):
    """Generate, install (a real wheel build, into a private target dir), list, run its tests."""
    assert runner.invoke(app, ["plugins", "new", "capital", "--dir", str(tmp_path)]).exit_code == 0
    root, target = tmp_path / "grpo-reward-capital", tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--no-index", "--target", str(target), str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    listing = subprocess.run(
        [sys.executable, "-m", "harness", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    [plugin] = [p for p in json.loads(listing.stdout) if p["distribution"] == "grpo-reward-capital"]
    assert plugin["verifiers"] == ["capital"] and not plugin["errors"]
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "12 passed" in tests.stdout


def test_new_plugin_refuses_bad_names_and_overwrites(tmp_path):
    bad = runner.invoke(app, ["plugins", "new", "Bad-Name", "--dir", str(tmp_path)])
    assert bad.exit_code == 2 and "lowercase letters" in bad.output
    assert runner.invoke(app, ["plugins", "new", "dup", "--dir", str(tmp_path)]).exit_code == 0
    again = runner.invoke(app, ["plugins", "new", "dup", "--dir", str(tmp_path)])
    assert again.exit_code == 2 and "already exists" in again.output


def test_plugins_listing_still_default():
    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0 and '"grpo-reward-format"' in result.output
