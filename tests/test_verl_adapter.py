"""The verl adapter, called the way verl calls a ``custom_reward_function``.

verl is not installed here: ``load_like_verl`` does what verl's reward loading does (import the
file at ``custom_reward_function.path`` as a module, take ``name``, bind ``reward_kwargs`` with
functools.partial), and the calls use its managers' keyword conventions: the naive manager passes
``data_source, solution_str, ground_truth, extra_info`` per sample, the batch manager the plural
names, and a dict result's ``score`` is the reward while its other keys are logged.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

import grpo_core.verl_adapter as adapter
from grpo_core import ConfigError

GOOD = "<think>\nadd\n</think>\n<answer>\n\\boxed{4}\n</answer>"


def load_like_verl(name: str, **reward_kwargs):
    spec = importlib.util.spec_from_file_location("custom_module", adapter.__file__)
    module = importlib.util.module_from_spec(spec)
    sys.modules["custom_module"] = module
    spec.loader.exec_module(module)
    return functools.partial(getattr(module, name), **reward_kwargs)


@pytest.fixture(autouse=True)
def clean_engines():
    yield
    adapter.close_engines()
    if "custom_module" in sys.modules:
        sys.modules.pop("custom_module").close_engines()


def test_naive_manager_convention() -> None:
    compute_score = load_like_verl("compute_score", rewards="math=1.0,format=0.5")
    good = compute_score(data_source="gsm8k", solution_str=GOOD, ground_truth="4", extra_info={"index": 0})
    assert good == {"score": 1.5, "math": 1.0, "format": 1.0}
    wrong = compute_score(data_source="gsm8k", solution_str="\\boxed{5}", ground_truth="4", extra_info=None)
    assert wrong == {"score": 0.0, "math": 0.0, "format": 0.0}


def test_batch_manager_convention() -> None:
    compute = load_like_verl("compute_score_batch", rewards='[{"verifier": "math"}]')
    scores = compute(
        data_sources=["a", "b", "c"],
        solution_strs=["\\boxed{4}", "\\boxed{5}", "so 12"],
        ground_truths=["4", "4", "12"],
        extra_infos=[{}, {}, {}],
    )
    assert [s["score"] for s in scores] == [1.0, 0.0, 1.0]


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fn = tmp_path / "rw.py"
    fn.write_text("def match(completion, target):\n    return float(completion == target)\n")
    monkeypatch.setenv(adapter.REWARDS_ENV, f"{fn}:match=2.0")
    monkeypatch.setenv(adapter.LABEL_ENV, "target")
    compute_score = load_like_verl("compute_score")
    assert (
        compute_score(data_source="x", solution_str="yes", ground_truth="yes", extra_info={})["score"] == 2.0
    )
    assert (
        compute_score(data_source="x", solution_str="no", ground_truth="yes", extra_info={})["score"] == 0.0
    )


def test_extra_info_supplies_columns(tmp_path: Path) -> None:
    fn = tmp_path / "rw.py"
    fn.write_text("def lang(completion, language):\n    return float(language in completion)\n")
    compute_score = load_like_verl("compute_score", rewards=f"{fn}:lang")
    result = compute_score(
        data_source="d", solution_str="in python", ground_truth=None, extra_info={"language": "python"}
    )
    assert result["score"] == 1.0


def test_failures_raise_unless_a_value_is_chosen(tmp_path: Path) -> None:
    fn = tmp_path / "rw.py"
    fn.write_text("def broken(completion):\n    raise RuntimeError('verifier bug')\n")
    compute_score = load_like_verl("compute_score", rewards=f"{fn}:broken")
    with pytest.raises(RuntimeError, match="no verifier scored this sample"):
        compute_score(data_source="d", solution_str="x", ground_truth="1", extra_info={})
    chosen = load_like_verl("compute_score", rewards=f"{fn}:broken", on_missing=0.0)
    assert chosen(data_source="d", solution_str="x", ground_truth="1", extra_info={})["score"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "no rewards configured"),
        ({"rewards": "math=heavy"}, "not a number"),
        ({"rewards": "[not json"}, "not valid JSON"),
        ({"rewards": "math", "on_missing": "zero"}, "expected a number"),
        ({"rewards": "no_such_verifier"}, "unknown verifier"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(adapter.REWARDS_ENV, raising=False)
    with pytest.raises(ConfigError, match=message):
        adapter.compute_score(data_source="d", solution_str="x", ground_truth="1", extra_info={}, **kwargs)


def test_batch_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        adapter.compute_score_batch(["a"], ["x", "y"], ["1", "2"], None, rewards="format")


def test_module_doc_names_the_verl_config() -> None:
    assert "custom_reward_function" in textwrap.dedent(adapter.__doc__ or "")
