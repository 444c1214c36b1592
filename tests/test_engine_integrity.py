"""Engine integrity: inline timeouts, one setup() rule, finite numbers, bounded metrics, list options."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import pytest
from pydantic import ValidationError

from grpo_core import ConfigError, Engine, Isolation, RewardSpec, Status, Verifier, VerifierOptions, hookimpl
from grpo_core.inline import INLINE_TIMEOUT_LIMIT
from grpo_core.metrics import LATENCY_WINDOW, VerifierMetrics
from grpo_core.plugins import PluginRegistry

RELEASE = threading.Event()  # set at the end so abandoned threads finish


class Hangs(Verifier):
    """Inline verifier: 'hang' blocks until RELEASE, anything else scores 1."""

    name = "hangs"
    isolation = Isolation.INLINE
    default_timeout = 0.3

    def score(self, sample):
        if sample.completion_text == "hang":
            RELEASE.wait(30)
        return 1.0


class Exits(Verifier):
    name = "exits"

    def score(self, sample):
        raise SystemExit(3)


class SetupFails(Verifier):
    name = "setup_fails"
    attempts: ClassVar[int] = 0

    def setup(self):
        type(self).attempts += 1
        if type(self).attempts < 3:
            raise RuntimeError("model weights missing")

    def score(self, sample):
        return 1.0


class ListOptions(VerifierOptions):
    keys: tuple[str, ...] = ()


class Keys(Verifier):
    name = "keys"
    Options = ListOptions

    def score(self, sample):
        return float(len(self.options.keys))


class _Plugin:
    @hookimpl
    def register_verifiers(self, register):
        for cls in (Hangs, Exits, SetupFails, Keys):
            register(cls)


@pytest.fixture
def local():
    RELEASE.clear()
    registry = PluginRegistry()
    registry.add_plugin(_Plugin(), "local")
    yield registry
    RELEASE.set()


def rows(*texts):
    return [{"prompt": "p", "completion": t} for t in texts]


def test_an_inline_verifier_past_its_timeout_gets_timeout_and_the_rest_still_score(local):
    with Engine([{"verifier": "hangs"}], registry=local) as engine:
        started = time.monotonic()
        result = engine.score(rows("a", "hang", "b"))
        assert time.monotonic() - started < 10
    assert [s.status for s in result.scores["hangs"]] == [Status.OK, Status.TIMEOUT, Status.OK]
    assert result.values("hangs") == [1.0, None, 1.0]


def test_an_inline_verifier_that_keeps_timing_out_is_disabled_with_a_clear_error(local):
    with Engine([{"verifier": "hangs", "timeout": 0.2}], registry=local) as engine:
        for _ in range(INLINE_TIMEOUT_LIMIT):
            assert engine.score(rows("hang")).scores["hangs"][0].status is Status.TIMEOUT
        after = engine.score(rows("fine", "hang")).scores["hangs"]
    assert [s.status for s in after] == [Status.ERROR, Status.ERROR]
    assert "disabled" in after[0].details["error"] and "isolation 'process'" in after[0].details["error"]


def test_system_exit_in_an_inline_verifier_is_that_sample_s_error(local):
    with Engine([{"verifier": "exits"}], registry=local) as engine:
        score = engine.score(rows("x")).scores["exits"][0]
    assert score.status is Status.ERROR and "SystemExit" in score.details["error"]


def test_start_and_the_lazy_path_treat_a_failing_setup_alike(local):
    SetupFails.attempts = 0
    with Engine([{"verifier": "setup_fails"}], registry=local) as engine:
        assert engine.start() is engine  # does not raise
        assert "model weights missing" in engine.setup_errors["setup_fails"]
        first = engine.score(rows("x")).scores["setup_fails"][0]
        assert first.status is Status.ERROR and "setup() failed" in first.details["error"]
        assert engine.score(rows("x")).values("setup_fails") == [1.0]  # retried, now ready
        assert engine.setup_errors == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("weight", float("nan")),
        ("weight", float("inf")),
        ("on_error", float("nan")),
        ("on_timeout", -float("inf")),
    ],
)
def test_non_finite_weights_and_policy_values_are_refused(local, field, value):
    with pytest.raises(ValidationError, match="finite"):
        RewardSpec(verifier="keys", **{field: value})
    with pytest.raises(ConfigError, match=f"rewards\\[0\\].{field}: Input should be a finite number"):
        Engine([{"verifier": "keys", field: value}], registry=local)
    sneaked = RewardSpec.model_construct(verifier="keys", **{field: value})  # skips validation
    with pytest.raises(ConfigError, match=field):
        Engine([sneaked], registry=local)


def test_list_options_accept_comma_separated_text(local):
    with Engine([{"verifier": "keys", "options": {"keys": "a, b,c"}}], registry=local) as engine:
        assert engine.bound[0].verifier.options.keys == ("a", "b", "c")
        assert engine.score(rows("x")).values("keys") == [3.0]


def test_metrics_stay_bounded_and_exact_over_a_long_run():
    total = VerifierMetrics("m")
    for _batch in range(50):
        part = VerifierMetrics("m")
        for i in range(1000):
            part.record(float(i % 2), Status.OK, 0.001, cached=False)
        total.merge(part)
    summary = total.summary()
    assert summary["count"] == 50_000
    assert summary["mean"] == pytest.approx(0.5) and summary["std"] == pytest.approx(0.5)
    assert len(total.latencies_s) == LATENCY_WINDOW
    assert not hasattr(total, "values")


def test_duplicate_reward_names_use_the_shared_message(local):
    with pytest.raises(ConfigError, match=r"reward\(s\) \['keys'\] chosen twice"):
        Engine([{"verifier": "keys"}, {"verifier": "keys"}], registry=local)


def test_an_interrupted_batch_is_cancelled_and_close_is_quick_and_quiet(registry, caplog):
    import os
    import signal

    caplog.set_level("ERROR", logger="asyncio")
    engine = Engine([{"verifier": "async_batcher", "timeout": 600}], registry=registry)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))  # Ctrl-C while the batch hangs
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        engine.score(rows("hang", "x"))
    engine.close()  # must not wait for the 600 s timeout
    timer.join()
    assert "Task was destroyed" not in caplog.text
