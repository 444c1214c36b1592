"""Plain functions as verifiers: file and module specs, every isolation kind, loud config errors."""

from __future__ import annotations

import os
import pickle
import textwrap
from pathlib import Path

import pytest

from grpo_core import ConfigError, Engine, PluginRegistry, Status, UnknownVerifierError
from grpo_core.functions import function_verifier_class, is_function_spec

REWARDS = textwrap.dedent(
    """
    import os
    import time

    from grpo_core import Score


    def exact(completion, answer):
        '''1.0 when the completion is the answer.'''
        return float(completion.strip() == str(answer))


    def with_optional(completion, answer, bonus=0.0):
        return min(1.0, float(completion.strip() == str(answer)) + bonus)


    def whole(sample, **row):
        return Score.ok(0.5, keys=sorted(row), prompt=sample.prompt_text)


    def where(completion):
        return Score.ok(1.0, pid=os.getpid())


    def hangs(completion):
        while True:
            time.sleep(0.05)


    def explodes(completion):
        raise RuntimeError("boom")


    async def remote(completion, answer):
        return 1.0 if answer in completion else 0.0


    def positional(completion, /):
        return 1.0


    NOT_A_FUNCTION = 3
    """
)


@pytest.fixture
def rewards_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_rewards.py"
    path.write_text(REWARDS)
    return path


def score(spec: str, rows: list[dict], **kwargs) -> list:
    reward = {"verifier": spec, "name": "fn", **kwargs}
    with Engine([reward], registry=PluginRegistry(), workers=1) as engine:
        return engine.score(rows).scores["fn"]


def test_file_function_inline(rewards_file: Path) -> None:
    rows = [{"completion": " 4 ", "answer": 4}, {"completion": "5", "answer": "4"}, {"completion": "4"}]
    scores = score(f"{rewards_file}:exact", rows)
    assert [s.value for s in scores] == [1.0, 0.0, None]
    assert scores[2].status is Status.INVALID_INPUT  # `answer` is a required parameter


def test_relative_path_and_optional_column(rewards_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(rewards_file.parent)
    rows = [{"completion": "3", "answer": "4", "bonus": 0.25}, {"completion": "3", "answer": "4"}]
    assert [s.value for s in score("my_rewards.py:with_optional", rows)] == [0.25, 0.0]


def test_module_function_with_sample_and_kwargs(rewards_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(rewards_file.parent))
    assert is_function_spec("my_rewards:whole")
    [result] = score("my_rewards:whole", [{"prompt": "p", "completion": "c", "extra": 1}])
    assert result.value == 0.5
    assert result.details == {"keys": ["completion", "extra", "prompt"], "prompt": "p"}


def test_process_isolation_runs_in_workers_and_times_out(rewards_file: Path) -> None:
    where = score(f"{rewards_file}:where", [{"completion": "x"}], options={"isolation": "process"})
    assert where[0].status is Status.OK and where[0].details["pid"] != os.getpid()
    hung = score(
        f"{rewards_file}:hangs", [{"completion": "x"}], options={"isolation": "process"}, timeout=0.5
    )
    assert hung[0].status is Status.TIMEOUT


def test_async_function_and_errors_are_errors(rewards_file: Path) -> None:
    cls = function_verifier_class(f"{rewards_file}:remote")
    assert cls.isolation.value == "async"
    assert [s.value for s in score(f"{rewards_file}:remote", [{"completion": "is 4", "answer": "4"}])] == [
        1.0
    ]
    [failed] = score(f"{rewards_file}:explodes", [{"completion": "x"}])
    assert failed.status is Status.ERROR and failed.value is None  # never a silent 0


def test_generated_class_pickles_by_reference(rewards_file: Path) -> None:
    cls = function_verifier_class(f"{rewards_file}:exact", {"isolation": "process"})
    assert pickle.loads(pickle.dumps(cls)) is cls
    assert cls.columns == ("answer",)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{dir}/missing.py:exact", "no file"),
        ("{file}:nothing_here", "has no function 'nothing_here'"),
        ("{file}:NOT_A_FUNCTION", "has no function"),
        ("{file}:positional", "positional-only"),
    ],
)
def test_bad_function_specs_are_config_errors(rewards_file: Path, spec: str, message: str) -> None:
    spec = spec.format(dir=rewards_file.parent, file=rewards_file)
    with pytest.raises(ConfigError, match=message):
        Engine([{"verifier": spec}], registry=PluginRegistry())


def test_bad_isolation_option(rewards_file: Path) -> None:
    with pytest.raises(ConfigError, match="isolation"):
        Engine(
            [{"verifier": f"{rewards_file}:exact", "options": {"isolation": "thread"}}],
            registry=PluginRegistry(),
        )


def test_broken_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("raise SystemExit(3)\n")
    with pytest.raises(ConfigError, match="failed to import"):
        Engine([{"verifier": f"{path}:f"}], registry=PluginRegistry())


def test_names_that_are_not_functions() -> None:
    """Distribution-qualified verifier names and unknown modules stay registry look-ups."""
    known = {"grpo-reward-math", "math"}
    assert not is_function_spec("math", known)
    assert not is_function_spec("grpo-reward-math:math", known)
    assert not is_function_spec("grpo_reward_math:math", known)  # a distribution wins over a module
    assert not is_function_spec("no_such_module_anywhere:fn", known)
    assert is_function_spec("anything/at/all.py:fn", known)
    assert is_function_spec("json:dumps", known)
    with pytest.raises(UnknownVerifierError):
        Engine([{"verifier": "no_such_module_anywhere:fn"}], registry=PluginRegistry())


def test_grpo_score_with_a_function(rewards_file: Path, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"completion": "4", "answer": "4"}\n{"completion": "5", "answer": "4"}\n')
    out = tmp_path / "scored.jsonl"
    grpo = Path(sys.executable).with_name("grpo")
    run = subprocess.run(
        [str(grpo), "score", str(rows), "--reward", f"{rewards_file}:exact=0.5", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert [json.loads(line)["reward"] for line in out.read_text().splitlines()] == [0.5, 0.0]
    rows.write_text('{"completion": "4"}\n')
    missing = subprocess.run(
        [str(grpo), "score", str(rows), "--reward", f"{rewards_file}:exact"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "lacks column 'answer'" in missing.stderr
