"""The engine contains verifiers that hang, raise, exit or crash, and keeps scoring."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time

import pytest

from grpo_core import Engine, Status

TIMEOUT = 1.0
#: Slack allowed over the timeout on a loaded 2-core machine; a hang would blow far past it.
MARGIN = 2.5


def rows(*texts: str) -> list[dict]:
    return [{"prompt": "p", "completion": text} for text in texts]


@pytest.fixture(scope="module")
def engine(registry):
    with Engine([{"verifier": "misbehaving", "timeout": TIMEOUT}], registry=registry, workers=2) as engine:
        engine.score(rows("1"))  # start the pool outside the timed tests
        yield engine


def statuses(result, name="misbehaving"):
    return [score.status for score in result.scores[name]]


def test_hang_times_out_and_the_rest_of_the_batch_completes(engine):
    started = time.perf_counter()
    result = engine.score(rows("1", "hang", "0.25"))
    elapsed = time.perf_counter() - started
    assert statuses(result) == [Status.OK, Status.TIMEOUT, Status.OK]
    assert result.values("misbehaving") == [1.0, None, 0.25]
    assert elapsed < TIMEOUT + MARGIN


def test_several_hangs_in_one_batch_are_killed_in_parallel(engine):
    started = time.perf_counter()
    result = engine.score(rows("hang", "hang", "1", "hang", "hang"))
    elapsed = time.perf_counter() - started
    assert statuses(result).count(Status.TIMEOUT) == 4
    # Two workers: four hangs need two rounds of kills, never one per hang serially plus a stall.
    assert elapsed < 2 * TIMEOUT + MARGIN


def test_raise_is_an_error_for_that_sample_only(engine):
    result = engine.score(rows("raise", "1"))
    first, second = result.scores["misbehaving"]
    assert first.status is Status.ERROR and first.value is None
    assert "RuntimeError: boom" in first.details["error"]
    assert second.status is Status.OK and second.value == 1.0


@pytest.mark.parametrize("crash", ["exit", "segfault", "sysexit"])
def test_worker_death_is_an_error_and_the_pool_recovers(engine, crash):
    result = engine.score(rows(crash, "1", crash))
    assert statuses(result) == [Status.ERROR, Status.OK, Status.ERROR]
    assert result.scores["misbehaving"][0].details["error"]
    again = engine.score(rows("0.5", "0.75"))
    assert again.values("misbehaving") == [0.5, 0.75]


def test_bad_return_values_are_errors_not_zeros(engine):
    result = engine.score(rows("nan", "none", "invalid"))
    assert statuses(result) == [Status.ERROR, Status.NOT_APPLICABLE, Status.INVALID_INPUT]
    assert result.values("misbehaving") == [None, None, None]


def test_process_verifiers_run_outside_the_calling_process(registry):
    with Engine([{"verifier": "worker_pid"}], registry=registry, workers=2) as engine:
        result = engine.score(rows(*["x"] * 8))
    pids = {score.details["pid"] for score in result.scores["worker_pid"]}
    assert pids and os.getpid() not in pids


def test_slow_samples_run_concurrently(registry):
    spec = {"verifier": "misbehaving", "options": {"sleep_s": 0.5}, "timeout": 5}
    with Engine([spec], registry=registry, workers=2) as engine:
        engine.score(rows("1"))
        started = time.perf_counter()
        result = engine.score(rows("sleep", "sleep", "sleep", "sleep"))
        elapsed = time.perf_counter() - started
    assert result.values("misbehaving") == [1.0] * 4
    assert elapsed < 4 * 0.5  # two workers: ~1 s, never the 2 s of a serial loop


def test_failure_policy_turns_timeouts_and_errors_into_values(registry):
    spec = {"verifier": "misbehaving", "timeout": TIMEOUT, "on_timeout": -1.0, "on_error": 0.0}
    with Engine([spec], registry=registry, workers=2) as engine:
        result = engine.score(rows("hang", "raise", "1"))
    scores = result.scores["misbehaving"]
    assert [(s.value, s.status) for s in scores] == [
        (-1.0, Status.TIMEOUT),
        (0.0, Status.ERROR),
        (1.0, Status.OK),
    ]


def test_timeouts_hold_when_called_off_the_main_thread(engine):
    """Trainers call rewards from threads; signal-based timeouts would fail there."""
    out = {}

    def call():
        started = time.perf_counter()
        out["result"] = engine.score(rows("hang", "1"))
        out["elapsed"] = time.perf_counter() - started

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert statuses(out["result"]) == [Status.TIMEOUT, Status.OK]
    assert out["elapsed"] < TIMEOUT + MARGIN


def test_sync_score_works_inside_a_running_event_loop(engine):
    async def main():
        return engine.score(rows("0.5")), await engine.score_async(rows("0.25"))

    sync_result, async_result = asyncio.run(main())
    assert sync_result.values("misbehaving") == [0.5]
    assert async_result.values("misbehaving") == [0.25]


def test_metrics_count_statuses_and_latency(registry):
    with Engine([{"verifier": "misbehaving", "timeout": TIMEOUT}], registry=registry, workers=2) as engine:
        result = engine.score(rows("1", "0", "raise", "hang", "none"))
    summary = result.metrics["misbehaving"].summary()
    assert summary["count"] == 5
    assert summary["status"] == {
        "ok": 2,
        "not_applicable": 1,
        "timeout": 1,
        "error": 1,
        "invalid_input": 0,
    }
    assert summary["mean"] == 0.5
    assert summary["latency_p50_ms"] is not None
    assert summary["latency_p95_ms"] >= TIMEOUT * 1000  # the timed-out sample counts at its limit


def test_memory_cap_turns_a_runaway_allocation_into_an_error(registry):
    spec = {"verifier": "misbehaving", "timeout": 10}
    with Engine([spec], registry=registry, workers=1, worker_memory_mb=512) as engine:
        result = engine.score(rows("alloc", "1"))
    first, second = result.scores["misbehaving"]
    assert first.status is Status.ERROR and "MemoryError" in first.details["error"]
    assert second.status is Status.OK


def test_workers_are_recycled_after_max_tasks():
    from grpo_core.pool import WorkerPool

    pool = WorkerPool(workers=1, max_tasks_per_worker=2)
    try:
        from grpo_throwaway import FileWriter

        async def pids():
            return [
                (await pool.score(FileWriter, {}, {"completion": "x"}, 10))[0].details["pid"]
                for _ in range(4)
            ]

        seen = asyncio.run(pids())
    finally:
        pool.close()
    assert seen[0] == seen[1] and seen[2] == seen[3] and seen[0] != seen[2]


def test_start_warms_every_worker_before_the_first_batch(registry, tmp_path):
    log = tmp_path / "setup.log"
    spec = {"verifier": "setup_logger", "options": {"log": str(log)}}
    with Engine([spec], registry=registry, workers=2) as engine:
        engine.start()
        assert len(set(log.read_text().split())) == 2  # setup() ran once in each of the two workers
        assert engine.score(rows("x")).values("setup_logger") == [1.0]
    assert len(log.read_text().split()) == 2  # and not again for the first batch


PRELOAD_SCRIPT = """
from grpo_core import Engine
with Engine([{"verifier": "preloaded"}], workers=1) as engine:
    print(engine.score([{"completion": "x"}]).scores["preloaded"][0].details["warm"])
"""


def test_worker_preload_modules_are_imported_by_the_fork_server():
    # A fresh interpreter: the fork server is per process and reads its preload list once.
    result = subprocess.run(
        [sys.executable, "-c", PRELOAD_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
