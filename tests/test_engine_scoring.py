"""De-duplication, caching, weights, columns, async batching and option validation."""

from __future__ import annotations

import time

import pytest

from grpo_core import ConfigError, Engine, Status, UnknownVerifierError


def rows(*texts, **columns) -> list[dict]:
    return [{"prompt": "p", "completion": text, **columns} for text in texts]


def test_process_verifier_scores_each_distinct_answer_once(registry, tmp_path):
    log = tmp_path / "calls.log"
    spec = {"verifier": "misbehaving", "options": {"call_log": str(log)}}
    batch = rows(*(["1"] * 40 + ["0"] * 40 + ["0.5"] * 48))
    with Engine([spec], registry=registry, workers=2) as engine:
        first = engine.score(batch)
        assert len(log.read_text().splitlines()) == 3  # in-batch de-duplication
        second = engine.score(batch)
        assert len(log.read_text().splitlines()) == 3  # LRU cache across batches
    assert first.values("misbehaving") == second.values("misbehaving")
    assert first.values("misbehaving")[:41] == [1.0] * 40 + [0.0]
    assert first.metrics["misbehaving"].summary()["cache_hit_rate"] == pytest.approx(125 / 128)
    assert second.metrics["misbehaving"].summary()["cache_hit_rate"] == 1.0


def test_inline_verifier_dedup_and_lru_eviction(registry):
    from grpo_throwaway import InlineEcho

    InlineEcho.calls = 0
    with Engine([{"verifier": "inline_echo"}], registry=registry, cache_size=2) as engine:
        engine.score(rows("1", "1", "2", "3"))
        assert InlineEcho.calls == 3
        engine.score(rows("3", "2"))  # both still cached (size 2 keeps the last two)
        assert InlineEcho.calls == 3
        engine.score(rows("1"))  # evicted earlier
        assert InlineEcho.calls == 4


def test_errors_are_not_cached(registry, tmp_path):
    log = tmp_path / "calls.log"
    spec = {"verifier": "misbehaving", "options": {"call_log": str(log)}}
    with Engine([spec], registry=registry, workers=1) as engine:
        engine.score(rows("raise"))
        engine.score(rows("raise"))
    assert len(log.read_text().splitlines()) == 2


def test_inline_errors_and_bad_types_are_contained(registry):
    with Engine([{"verifier": "inline_echo"}], registry=registry) as engine:
        result = engine.score(rows("raise", "object", "0.5", ""))
    assert [s.status for s in result.scores["inline_echo"]] == [
        Status.ERROR,
        Status.ERROR,
        Status.OK,
        Status.NOT_APPLICABLE,
    ]


def test_weighted_sum_skips_missing_values(registry):
    specs = [{"verifier": "inline_echo", "weight": 2.0}, {"verifier": "needs_answer", "weight": 0.5}]
    with Engine(specs, registry=registry) as engine:
        result = engine.score(
            [
                {"completion": "1", "answer": "1"},
                {"completion": "", "answer": "x"},
                {"completion": "0.25", "answer": "1"},
            ]
        )
    assert result.rewards == [2.5, 0.0, 0.5]
    fields = result.row_fields(0)
    assert fields["rewards"] == {"inline_echo": 1.0, "needs_answer": 1.0}
    assert fields["status"] == {"inline_echo": "ok", "needs_answer": "ok"}


def test_all_verifiers_missing_gives_no_reward(registry):
    with Engine([{"verifier": "inline_echo"}], registry=registry) as engine:
        assert engine.score(rows("")).rewards == [None]


def test_missing_column_is_invalid_input_for_that_sample(registry):
    with Engine([{"verifier": "needs_answer"}], registry=registry) as engine:
        assert engine.missing_columns({"completion": "x"}) == [("needs_answer", "answer")]
        result = engine.score([{"completion": "1"}, {"completion": "1", "answer": 1}])
    assert [s.status for s in result.scores["needs_answer"]] == [Status.INVALID_INPUT, Status.OK]


def test_chat_message_completions(registry):
    completion = [{"role": "assistant", "content": [{"type": "text", "text": "0.5"}]}]
    with Engine([{"verifier": "inline_echo"}], registry=registry) as engine:
        assert engine.score([{"prompt": [], "completion": completion}]).values("inline_echo") == [0.5]


def test_async_verifier_batches_and_times_out_per_batch(registry):
    from grpo_throwaway import AsyncBatcher

    AsyncBatcher.batch_sizes = []
    with Engine([{"verifier": "async_batcher"}], registry=registry) as engine:
        started = time.perf_counter()
        result = engine.score(rows(*["ab"] * 9, "hang"))
        elapsed = time.perf_counter() - started
    assert sorted(AsyncBatcher.batch_sizes) == [2, 4, 4]
    statuses = [s.status for s in result.scores["async_batcher"]]
    assert statuses[:8] == [Status.OK] * 8
    assert statuses[8:] == [Status.TIMEOUT] * 2  # the batch holding the hang
    assert result.values("async_batcher")[0] == pytest.approx(0.2)
    assert elapsed < 1.0 + 2.5


def test_unknown_verifier_lists_installed_ones(registry):
    with pytest.raises(UnknownVerifierError) as info:
        Engine([{"verifier": "nope"}], registry=registry)
    assert "format" in str(info.value) and "misbehaving" in str(info.value)


def test_bad_options_name_the_key_path(registry):
    with pytest.raises(ConfigError, match=r"misbehaving\.sleep_s"):
        Engine([{"verifier": "misbehaving", "options": {"sleep_s": "slow"}}], registry=registry)
    with pytest.raises(ConfigError, match=r"misbehaving\.colour: Extra inputs"):
        Engine([{"verifier": "misbehaving", "options": {"colour": 1}}], registry=registry)
    with pytest.raises(ConfigError, match=r"rewards\[0\]\.weight"):
        Engine([{"verifier": "inline_echo", "weight": "heavy"}], registry=registry)
    with pytest.raises(ConfigError, match="chosen twice"):
        Engine([{"verifier": "inline_echo"}, {"verifier": "inline_echo"}], registry=registry)


def test_same_verifier_twice_under_different_names(registry):
    specs = [{"verifier": "inline_echo"}, {"verifier": "inline_echo", "name": "echo_again", "weight": 3}]
    with Engine(specs, registry=registry) as engine:
        assert engine.score(rows("1")).rewards == [4.0]


def test_non_mapping_sample_is_a_clear_error(registry):
    with (
        Engine([{"verifier": "inline_echo"}], registry=registry) as engine,
        pytest.raises(TypeError, match="sample 0 is a str"),
    ):
        engine.score(["1"])


def test_async_samples_fail_alone(registry):
    with Engine([{"verifier": "async_per_sample"}], registry=registry) as engine:
        result = engine.score(rows("ok", "hang", "raise", "ok"))
    assert [s.status for s in result.scores["async_per_sample"]] == [
        Status.OK,
        Status.TIMEOUT,
        Status.ERROR,
        Status.OK,
    ]


def test_batch_verifier_returning_garbage_is_an_error_not_a_crash(registry):
    specs = [{"verifier": "async_forgets_return"}, {"verifier": "inline_echo"}]
    with Engine(specs, registry=registry) as engine:
        result = engine.score(rows("1"))
    assert result.scores["async_forgets_return"][0].status is Status.ERROR
    assert result.values("inline_echo") == [1.0]


def test_failing_setup_is_an_error_for_that_verifier_only(registry):
    specs = [{"verifier": "broken_setup"}, {"verifier": "inline_echo"}]
    with Engine(specs, registry=registry) as engine:
        result = engine.score(rows("1"))
    broken = result.scores["broken_setup"][0]
    assert broken.status is Status.ERROR and "model file missing" in broken.details["error"]
    assert result.values("inline_echo") == [1.0]


def test_numpy_scalars_are_rewards():
    np = pytest.importorskip("numpy")
    from grpo_core.verifier import to_score

    assert to_score(np.float32(0.5)).value == 0.5
    assert to_score(np.int64(1)).status is Status.OK


def test_repeated_sync_calls_inside_a_running_loop_share_one_loop(registry):
    import asyncio
    import threading

    with Engine([{"verifier": "inline_echo"}], registry=registry) as engine:

        async def main():
            for _ in range(50):
                engine.score(rows("1"))

        before = threading.active_count()
        asyncio.run(main())
        assert threading.active_count() <= before + 1  # the engine's one loop thread at most
        assert engine.score(rows("0.5")).values("inline_echo") == [0.5]
    assert threading.active_count() <= before
