"""Failures are loud: truncated completions earn nothing, failing verifiers are reported and stop a run."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from rich.console import Console

from grpo_core import Isolation, Score, Verifier, hookimpl
from grpo_core.engine import Engine
from grpo_core.errors import ConfigError
from grpo_core.plugins import PluginRegistry
from harness.config import load_config
from harness.health import VerifierHealth
from harness.progress import verifier_cell
from harness.rewards import make_reward_function, trl_rewards
from harness.train import RunFailed, preflight, run_training

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class AlwaysFails(Verifier):
    """Every sample: an infrastructure error (as a verifier whose backend is down would give)."""

    name = "always_fails"
    isolation = Isolation.INLINE

    def score(self, sample):
        raise RuntimeError("backend unreachable: connection refused")


def failing_registry() -> PluginRegistry:
    plugin = types.SimpleNamespace()

    @hookimpl
    def register_verifiers(register):
        register(AlwaysFails)

    plugin.register_verifiers = register_verifiers
    registry = PluginRegistry.from_entry_points()
    registry.add_plugin(plugin, "always_fails_plugin")
    assert "always_fails" in registry.verifiers, registry.errors()
    return registry


def test_truncated_completions_earn_nothing_and_are_not_verified():
    with Engine([{"verifier": "format", "weight": 1.0, "options": {"mode": "soft"}}]) as engine:
        reward = make_reward_function(engine, "format", stop_ids={1, 0})
        good = "<think>a</think><answer>7</answer>"
        metrics = {}
        extra = {}
        values = asyncio.run(
            reward(
                prompts=["p", "p", "p"],
                completions=[good, good, good],
                completion_ids=[[5, 6, 1], [5, 6, 7], [5, 6, 0]],  # ends EOS / cut / ends pad
                log_metric=metrics.__setitem__,
                log_extra=extra.__setitem__,
            )
        )
    assert values == [1.0, 0.0, 1.0]  # the cut one is well-formed text, and still earns nothing
    assert extra["format/status"] == ["ok", "truncated", "ok"]
    assert metrics["verifiers/format/truncated_frac"] == pytest.approx(1 / 3)


def test_health_reports_first_messages_once_per_period_and_stops_on_share():
    health = VerifierHealth({"math": 0.5, "format": 1.0}, window=4)
    bad = [Score.error("boom 1"), Score.error("boom 2"), Score.timeout(3.0), Score.ok(1.0)]
    health.record("math", bad)
    health.record("format", [Score.ok(1.0)] * 4)
    entries = health.report(step=5)
    assert entries == [
        {
            "step": 5,
            "verifier": "math",
            "samples": 4,
            "errors": 2,
            "timeouts": 1,
            "first_error": "boom 1",
            "first_timeout": "timed out after 3.0 s",
        }
    ]
    assert health.report(step=6) == []  # a new period: nothing failed since
    assert health.check() is None  # one batch is not enough to judge
    health.record("math", bad)
    health.record("math", bad)
    message = health.check()
    assert message and "'math'" in message and "75%" in message and "max_error_frac 0.5" in message
    ok = VerifierHealth({"math": 0.5}, window=3)
    for _ in range(5):
        ok.record("math", [Score.ok(0.0), Score.error("x"), Score.ok(1.0)])
    assert ok.check() is None  # 33% <= 50%


def test_console_cell_shows_status_not_dash():
    assert (
        verifier_cell({"rewards/math/mean": None, "verifiers/math/error_frac": 1.0}, "math") == "error 100%"
    )
    assert verifier_cell({"verifiers/math/timeout_frac": 0.5}, "math") == "timeout 50%"
    assert (
        verifier_cell({"rewards/math/mean": 0.5, "verifiers/math/error_frac": 0.25}, "math")
        == "0.500 !25% failed"
    )
    assert verifier_cell({"rewards/math/mean": 0.5}, "math") == "0.500"
    assert verifier_cell({}, "math") == "no reward"


@pytest.mark.timeout(900)
def test_a_run_whose_verifier_always_fails_stops_loudly(tmp_path):
    config = load_config(
        None,
        [
            f"output_dir={tmp_path / 'run'}",
            "rewards=[{verifier: always_fails, weight: 1.0}, {verifier: format, weight: 1.0}]",
            "cold_start.steps=2",
            "data.size=200",
            "trainer.max_steps=20",
            "trainer.logging_steps=1",
            "trainer.per_device_train_batch_size=16",
            "trainer.num_generations=4",
            "error_window=3",
            "truncated_completions=score",  # the untrained model's cut completions are verified too
        ],
    )
    out = tmp_path / "console.txt"
    failed = r"verifier 'always_fails' failed .* 100% .* max_error_frac 0.5"
    with open(out, "w") as handle, pytest.raises(RunFailed, match=failed):
        run_training(preflight(config, registry=failing_registry()), console=Console(file=handle, width=200))
    printed = out.read_text()
    assert "verifier always_fails: 16 error(s)" in printed and "backend unreachable" in printed
    table_rows = [line for line in printed.splitlines() if line.strip()[:1].isdigit()]
    assert table_rows and all("error 100%" in line for line in table_rows)  # a status, not "-"
    entries = [json.loads(line) for line in (tmp_path / "run" / "errors.jsonl").read_text().splitlines()]
    assert {e["verifier"] for e in entries} == {"always_fails"}
    assert entries[0]["first_error"] and "backend unreachable" in entries[0]["first_error"]
    assert len(entries) <= 3  # stopped at the first step where the window was full
    assert not (tmp_path / "run" / "final").exists()  # a failed run does not pose as finished


def test_trl_rewards_needs_explicit_weights_and_checks_specs():
    with pytest.raises(ConfigError, match=r"rewards\[1\]\.weight: state the weight of 'format'"):
        trl_rewards([{"verifier": "math", "weight": 2.0}, {"verifier": "format"}])
    with pytest.raises(ConfigError, match=r"rewards\[0\]\.weight"):
        trl_rewards([{"verifier": "math", "weight": "heavy"}])
    with pytest.raises(ConfigError, match=r"finite number"):
        trl_rewards([{"verifier": "math", "weight": float("nan")}])
    with pytest.raises(ConfigError, match="unknown verifier 'nope'"):
        trl_rewards([{"verifier": "nope", "weight": 1.0}])
    with pytest.raises(ConfigError, match="format.mode"):
        trl_rewards([{"verifier": "format", "weight": 1.0, "options": {"mode": "loose"}}])
    with trl_rewards([{"verifier": "math", "weight": 2.0}, {"verifier": "format", "weight": 0.5}]) as rewards:
        funcs, weights = rewards
        assert [f.__name__ for f in funcs] == ["math", "format"] and weights == [2.0, 0.5]
        assert asyncio.iscoroutinefunction(funcs[1])


@pytest.mark.timeout(900)
def test_the_trl_example_script_trains_with_the_stated_weights(tmp_path):
    script = Path(__file__).resolve().parents[2] / "examples" / "trl_own_script.py"
    done = subprocess.run(
        [sys.executable, str(script), "--output-dir", str(tmp_path / "out"), "--max-steps", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "weights used by TRL: [2.0, 1.0]" in done.stdout
