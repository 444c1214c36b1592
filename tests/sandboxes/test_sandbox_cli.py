"""``grpo sandbox check`` / ``build`` through the CLI."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from harness.cli import app


def test_sandbox_check_docker_passes(docker_backend):
    result = CliRunner().invoke(app, ["sandbox", "check", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) >= 10 and all(row["passed"] for row in rows), rows


def test_sandbox_check_bwrap_table(bwrap_backend):
    result = CliRunner().invoke(app, ["sandbox", "check", "--backend", "bwrap"])
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output and "FAIL" not in result.output


def test_sandbox_check_unknown_backend_fails_clearly():
    result = CliRunner().invoke(app, ["sandbox", "check", "--backend", "nope"])
    assert result.exit_code == 1
    assert "unknown sandbox backend" in result.output


def test_sandbox_build_reports_errors(tmp_path, monkeypatch):
    import sandboxes.images as images
    from sandboxes import SandboxError

    def fail(**kwargs):
        raise SandboxError("offline build needs `mmdebstrap`")

    monkeypatch.setattr(images, "build_image", fail)
    result = CliRunner().invoke(app, ["sandbox", "build", "--offline"])
    assert result.exit_code == 1 and "mmdebstrap" in result.output
