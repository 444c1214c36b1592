"""Bad input to `grpo score`, `grpo plugins` and `grpo doctor`: exit 2 naming the problem before any
scoring, no traceback, no output replaced; Ctrl-C keeps finished rows only in a .partial file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "data" / "r1_format_sample.jsonl"
IMPOSTOR = ROOT / "tests" / "fixtures" / "impostor"
runner = CliRunner()


def grpo(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )


def with_impostor() -> dict:
    return {"PYTHONPATH": os.pathsep.join([str(IMPOSTOR), os.environ.get("PYTHONPATH", "")])}


def no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["-r", "format=nan"], "--reward 'format=nan': weight: must be a finite number"),
        (["-r", "format=inf"], "--reward 'format=inf': weight: must be a finite number"),
        (["-r", "format", "--on-error", "nan"], "--on-error 'nan': must be a finite number"),
        (["-r", "format", "--on-timeout", "inf"], "--on-timeout 'inf': must be a finite number"),
        (["-r", "format", "--on-timeout", "-Infinity"], "--on-timeout '-Infinity': must be a finite"),
        (["-r", "format", "--timeout", "inf"], "--timeout: must be a finite number"),
        (["-r", "format", "--option", "format.mode=NaN"], "--option 'format.mode=NaN': the value must be"),
        (["-r", "format", "--option", "format.mode=[1e999]"], "the value must be a finite number"),
    ],
)
def test_non_finite_numbers_exit_2_naming_the_field(args, field):
    result = runner.invoke(app, ["score", str(SAMPLE), *args])
    assert result.exit_code == 2, result.output
    assert field in " ".join(result.output.split())


def test_deeply_nested_row_exits_2_naming_file_and_line(tmp_path):
    path = tmp_path / "deep.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    path.write_text(json.dumps({"completion": "x"}) + "\n" + '{"completion": "x", "extra": ' + deep + "}\n")
    result = grpo("score", str(path), "-r", "format")
    assert result.returncode == 2, result.stderr
    assert f"{path}:2: JSON nested more than" in " ".join(result.stderr.split())
    no_traceback(result.stderr)


def test_moderately_nested_row_below_the_limit_still_scores(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text(json.dumps({"completion": "x", "meta": [[[[{"a": [1]}]]]]}) + "\n")
    assert runner.invoke(app, ["score", str(path), "-r", "format"]).exit_code == 0


def _special_targets(tmp_path: Path) -> list[tuple[Path, str]]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    real = tmp_path / "real.jsonl"
    real.write_text("keep me\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    directory = tmp_path / "adir"
    directory.mkdir()
    return [
        (Path("/dev/null"), "a character device"),
        (fifo, "a FIFO"),
        (link, "a symbolic link"),
        (directory, "a directory"),
    ]


@pytest.mark.parametrize("flag", ["-o", "--summary-json"])
def test_non_regular_output_targets_are_refused_and_left_alone(tmp_path, flag):
    for target, kind in _special_targets(tmp_path):
        before = os.lstat(target)
        result = runner.invoke(app, ["score", str(SAMPLE), "-r", "format", flag, str(target)])
        assert result.exit_code == 2, (target, result.output)
        assert f"is {kind}, not a regular file; refusing to replace it" in " ".join(result.output.split())
        after = os.lstat(target)
        assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert (tmp_path / "real.jsonl").read_text() == "keep me\n"


@pytest.mark.parametrize("flag", ["-o", "--summary-json"])
def test_bad_output_paths_are_found_before_any_scoring(tmp_path, flag):
    calls = tmp_path / "calls.log"
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"completion": "1"}) + "\n")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    option = ["--option", f"misbehaving.call_log={calls}"]
    result = runner.invoke(
        app, ["score", str(rows), "-r", "misbehaving", *option, flag, str(blocker / "out")]
    )
    assert result.exit_code == 2
    assert "not a directory" in result.output.lower()
    assert not calls.exists()  # nothing was scored


def test_output_equal_to_input_is_refused(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"completion": "x"}) + "\n")
    result = runner.invoke(app, ["score", str(rows), "-r", "format", "-o", str(rows)])
    assert result.exit_code == 2 and "is the input file" in result.output


def test_list_option_accepts_comma_separated_values_on_the_command_line(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"completion": "so \\boxed{3}", "answer": "3"}) + "\n")
    default = runner.invoke(app, ["score", str(rows), "-r", "math", "-o", str(tmp_path / "a.jsonl")])
    assert default.exit_code == 0, default.output
    narrowed = runner.invoke(
        app,
        ["score", str(rows), "-r", "math", "--option", "math.extraction_priority=answer_tag,final_answer"]
        + ["-o", str(tmp_path / "b.jsonl")],
    )
    assert narrowed.exit_code == 0, narrowed.output
    reward = [json.loads((tmp_path / n).read_text())["rewards"]["math"] for n in ("a.jsonl", "b.jsonl")]
    assert reward == [1.0, 0.0]  # the boxed answer is not looked at when boxed is not in the list


def test_ambiguous_verifier_exits_2_naming_both_distributions_and_the_fix():
    result = grpo("score", str(SAMPLE), "-r", "format", env=with_impostor())
    assert result.returncode == 2, result.stdout
    message = " ".join(result.stderr.split())
    assert "verifier 'format' is ambiguous" in message
    assert "'grpo-reward-format'" in message and "'grpo-impostor'" in message
    assert "'grpo-reward-format:format'" in message and "GRPO_DISABLE_PLUGINS=grpo-impostor" in message
    no_traceback(result.stderr)


def test_a_qualified_verifier_scores_with_the_real_plugin(tmp_path):
    out = tmp_path / "scored.jsonl"
    result = grpo(
        "score",
        str(SAMPLE),
        "-r",
        "grpo-reward-format:format",
        "-o",
        str(out),
        "--max-error-frac",
        "1",
        env=with_impostor(),
    )
    assert result.returncode == 0, result.stderr
    assert "reward format: verifier 'format' from grpo-reward-format" in result.stdout
    rewards = [json.loads(line)["rewards"]["format"] for line in out.read_text().splitlines()]
    assert 0.0 in rewards  # the impostor would have given 1.0 everywhere


def test_plugins_lists_clashes_partial_and_misspelled_plugins():
    result = grpo("plugins", env=with_impostor())
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "name clash: verifier 'format' is ambiguous" in text
    assert "name clash: sandbox backend 'subprocess' is ambiguous" in text
    assert "plugin 'partial' partly loaded (usable: part0," in text
    assert "plugin 'misspelled' failed: hook implementation 'register_verifier' matches no grpo hook" in text
    data = {p["name"]: p for p in json.loads(grpo("plugins", "--json", env=with_impostor()).stdout)}
    assert data["partial"]["status"] == "partial" and data["misspelled"]["status"] == "failed"
    assert any("ambiguous" in c for c in data["impostor"]["clashes"])


def test_plugins_show_and_json_describe_every_option():
    result = runner.invoke(app, ["plugins", "show", "format", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["distribution"] == "grpo-reward-format" and info["isolation"] == "inline"
    mode = next(o for o in info["options"] if o["name"] == "mode")
    assert mode["default"] == "strict" and "Literal" in mode["type"]
    table = runner.invoke(app, ["plugins", "show", "tag_count"])
    assert table.exit_code == 0 and "options of tag_count" in table.output
    listing = json.loads(runner.invoke(app, ["plugins", "--json"]).output)
    fmt = next(p for p in listing if p["name"] == "format")
    assert {o["name"] for o in fmt["verifier_details"]["format"]["options"]} >= {"mode", "think_tag"}
    unknown = runner.invoke(app, ["plugins", "show", "nope"])
    assert unknown.exit_code == 2 and "unknown verifier 'nope'" in unknown.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("grpo-core ")


def test_doctor_exits_1_when_it_finds_problems():
    result = grpo("doctor", env=with_impostor())
    assert result.returncode == 1, result.stdout
    assert "problems found" in result.stdout and "ambiguous" in result.stdout


@pytest.mark.timeout(120)
def test_ctrl_c_stops_quickly_and_keeps_finished_rows_only_in_a_partial_file(tmp_path):
    calls = tmp_path / "calls.log"
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"completion": c}) + "\n" for c in ["1"] * 4 + ["hang"] * 8))
    out = tmp_path / "scored.jsonl"
    command = [sys.executable, "-m", "harness.cli", "score", str(rows), "-r", "misbehaving"]
    command += ["--option", f"misbehaving.call_log={calls}", "--timeout", "120", "--batch-size", "4"]
    command += ["--workers", "2", "-o", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the first batch is done and a hang started
        if calls.exists() and any("hang" in line for line in calls.read_text().splitlines()):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert not out.exists()
    partial = tmp_path / "scored.partial.jsonl"
    kept = [json.loads(line) for line in partial.read_text().splitlines()]
    assert [r["rewards"]["misbehaving"] for r in kept] == [1.0] * 4
    assert "interrupted: 4 of 12 rows scored; they are in" in " ".join(stderr.split())
    no_traceback(stderr)
    assert "Task was destroyed" not in stderr and "KeyboardInterrupt" not in stderr


def test_train_check_names_reward_sources_and_refuses_an_ambiguous_name():
    ok = grpo("train", "--check")
    assert ok.returncode == 0, ok.stderr
    assert "reward format: verifier 'format' from grpo-reward-format" in ok.stdout
    clash = grpo("train", "--check", env=with_impostor())
    assert clash.returncode == 2
    assert "verifier 'format' is ambiguous" in " ".join(clash.stderr.split())
    no_traceback(clash.stderr)


def test_eval_defaults_model_to_the_config_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    result = grpo("eval", "--set", f"output_dir={run_dir}", "--limit", "1")
    assert result.returncode == 2
    assert f"--model '{run_dir}': no model here" in " ".join(result.stderr.split())
