"""`grpo plugins` and `grpo score` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "data" / "r1_format_sample.jsonl"
runner = CliRunner()

# Strict `format` reward of each row of the bundled sample, worked out by hand.
EXPECTED_FORMAT = [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
EXPECTED_TAG_COUNT = [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0]


def grpo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=120
    )


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_plugins_json_lists_format_with_its_distribution():
    result = grpo("plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["format"]["distribution"] == "grpo-reward-format"
    assert plugins["format"]["version"] == "0.1.0"
    assert set(plugins["format"]["verifiers"]) >= {"format", "tag_count"}


def test_plugins_table_names_broken_plugins(monkeypatch):
    broken = Path(__file__).parent / "fixtures" / "broken_plugins"
    monkeypatch.setenv("PYTHONPATH", f"{broken}:{ROOT / 'tests' / 'fixtures' / 'plugins'}")
    result = grpo("plugins")
    assert result.returncode == 0
    assert "plugin 'broken_import' failed" in result.stdout
    assert "grpo-reward-format" in result.stdout


def test_score_sample_gives_expected_format_rewards(tmp_path):
    out, summary_path = tmp_path / "scored.jsonl", tmp_path / "summary.json"
    result = grpo(
        "score",
        str(SAMPLE),
        "--reward",
        "format",
        "--reward",
        "tag_count=0.5",
        "-o",
        str(out),
        "--summary-json",
        str(summary_path),
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["rewards"]["format"] for r in rows] == EXPECTED_FORMAT
    assert [r["rewards"]["tag_count"] for r in rows] == EXPECTED_TAG_COUNT
    assert [r["reward"] for r in rows] == [f + 0.5 * t for f, t in zip(EXPECTED_FORMAT, EXPECTED_TAG_COUNT)]
    assert all(r["status"] == {"format": "ok", "tag_count": "ok"} for r in rows)
    assert rows[0]["details"]["format"]["answer"] == "84"
    assert rows[0]["prompt"].startswith("Solve")  # input fields are kept
    summary = json.loads(summary_path.read_text())
    assert summary["rows"] == 12
    assert summary["verifiers"]["format"]["mean"] == pytest.approx(6 / 12)
    assert summary["verifiers"]["format"]["status"]["ok"] == 12
    assert summary["groups"] == {"count": 2, "zero_std_fraction": 0.5}
    assert summary["verifiers"]["format"]["zero_std_group_fraction"] == 0.5
    assert "format" in result.stdout and "zero reward std" in result.stdout


def test_score_options_change_the_verifier(tmp_path):
    out = tmp_path / "soft.jsonl"
    result = runner.invoke(
        app, ["score", str(SAMPLE), "-r", "format", "--option", "format.mode=soft", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    values = [json.loads(line)["rewards"]["format"] for line in out.read_text().splitlines()]
    assert values[2] == 1.0 and values[3] == 1.0  # text around the tags is fine in soft mode


def test_score_to_stdout(tmp_path):
    result = grpo("score", str(SAMPLE), "-r", "format", "-o", "-")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 12 and json.loads(lines[0])["rewards"]["format"] == 1.0


def test_unknown_verifier_exits_2_and_lists_known():
    result = runner.invoke(app, ["score", str(SAMPLE), "-r", "nope"])
    assert result.exit_code == 2
    assert "unknown verifier 'nope'" in result.output and "format" in result.output


def test_malformed_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"completion": "x"}\n{"completion": oops}\n')
    result = runner.invoke(app, ["score", str(path), "-r", "format"])
    assert result.exit_code == 2
    assert "bad.jsonl:2: invalid JSON" in result.output


def test_missing_column_is_named(tmp_path):
    path = write_rows(tmp_path / "rows.jsonl", [{"completion": "1", "answer": "1"}, {"completion": "2"}])
    result = runner.invoke(app, ["score", str(path), "-r", "needs_answer"])
    assert result.exit_code == 2
    assert "rows.jsonl:2: row lacks column 'answer'" in result.output
    assert "needs_answer" in result.output


def test_missing_completion_is_named(tmp_path):
    path = write_rows(tmp_path / "rows.jsonl", [{"prompt": "p"}])
    result = runner.invoke(app, ["score", str(path), "-r", "format"])
    assert result.exit_code == 2 and "rows.jsonl:1: row has no 'completion'" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--option", "format.mode=lenient"], "format.mode: Input should be 'strict' or 'soft'"),
        (["--option", "format.colour=red"], "format.colour: Extra inputs are not permitted"),
        (["--option", "tag_count.think_tag=x"], "'tag_count' is not among the chosen --reward"),
        (["--option", "format-mode"], "expected NAME.key=value"),
        (["--on-timeout", "maybe"], "--on-timeout 'maybe': expected 'none' or a number"),
    ],
)
def test_bad_options_exit_2_with_the_key(args, message):
    result = runner.invoke(app, ["score", str(SAMPLE), "-r", "format", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_bad_weight_exits_2():
    result = runner.invoke(app, ["score", str(SAMPLE), "-r", "format=heavy"])
    assert result.exit_code == 2 and "weight 'heavy' is not a number" in result.output


def test_failed_run_leaves_existing_output_untouched(tmp_path):
    out = tmp_path / "scored.jsonl"
    out.write_text("previous results\n")
    path = write_rows(tmp_path / "rows.jsonl", [{"completion": "1"}, {"prompt": "no completion"}])
    result = runner.invoke(app, ["score", str(path), "-r", "format", "-o", str(out)])
    assert result.exit_code == 2
    assert out.read_text() == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl", "scored.jsonl"]


def test_misbehaving_verifier_through_the_cli(tmp_path):
    path = write_rows(
        tmp_path / "rows.jsonl", [{"completion": c} for c in ["1", "hang", "raise", "exit", "0"]]
    )
    out = tmp_path / "scored.jsonl"
    result = grpo(
        "score", str(path), "-r", "misbehaving", "--timeout", "1", "--on-error", "0", "-o", str(out)
    )
    # 3 of 5 rows failed: above the default --max-error-frac, so exit 1; the rows are still written
    assert result.returncode == 1, result.stderr
    assert "verifier 'misbehaving' failed on 60% of rows (2 error, 1 timeout)" in result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["status"]["misbehaving"] for r in rows] == ["ok", "timeout", "error", "error", "ok"]
    assert [r["rewards"]["misbehaving"] for r in rows] == [1.0, None, 0.0, 0.0, 0.0]


def test_error_share_at_the_limit_passes_and_above_it_fails(tmp_path):
    path = write_rows(tmp_path / "rows.jsonl", [{"completion": c} for c in ["1", "raise", "0", "1"]])
    ok = runner.invoke(app, ["score", str(path), "-r", "misbehaving", "--max-error-frac", "0.25"])
    assert ok.exit_code == 0, ok.output
    failed = runner.invoke(app, ["score", str(path), "-r", "misbehaving", "--max-error-frac", "0.2"])
    assert failed.exit_code == 1
    assert "failed on 25% of rows (1 error, 0 timeout), above --max-error-frac 0.2" in failed.output


def test_score_header_names_the_distribution_serving_each_reward():
    result = runner.invoke(app, ["score", str(SAMPLE), "-r", "format", "-r", "tag_count=0.5"])
    assert result.exit_code == 0, result.output
    assert "reward format: verifier 'format' from grpo-reward-format 0.1.0 (weight 1)" in result.output
    assert "reward tag_count: verifier 'tag_count' from grpo-reward-format 0.1.0 (weight 0.5)" in (
        result.output
    )


def test_progress_and_batches_on_long_inputs(tmp_path):
    rows = [{"completion": "<think>w</think><answer>1</answer>", "group": i // 8} for i in range(2100)]
    path = write_rows(tmp_path / "rows.jsonl", rows)
    out = tmp_path / "scored.jsonl"
    result = runner.invoke(app, ["score", str(path), "-r", "format", "--batch-size", "500", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 2100


def test_group_labels_of_any_json_type_and_ungrouped_rows(tmp_path):
    rows = [
        {"completion": "<think>w</think><answer>1</answer>", "group": [1, "a"]},
        {"completion": "<think>w</think><answer>1</answer>", "group": [1, "a"]},
        {"completion": "no tags"},
        {"completion": "<think>w</think><answer>1</answer>"},
    ]
    path = write_rows(tmp_path / "rows.jsonl", rows)
    summary_path = tmp_path / "summary.json"
    result = runner.invoke(app, ["score", str(path), "-r", "format", "--summary-json", str(summary_path)])
    assert result.exit_code == 0, result.output
    groups = json.loads(summary_path.read_text())["groups"]
    # one real group (flat) plus two rows that are groups of their own (each trivially flat)
    assert groups == {"count": 3, "zero_std_fraction": 1.0}
