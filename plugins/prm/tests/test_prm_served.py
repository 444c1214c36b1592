"""Served mode against a real local HTTP server (Starlette on uvicorn) with vLLM's /pooling shape,
running the tiny PRMs: same scores as local mode; a server that is down, slow, failing or answering
garbage gives status error (never a 0); retries; bounded concurrency."""

from __future__ import annotations

import asyncio
import json

import pytest
from grpo_reward_prm import PRMVerifier

from grpo_core import Engine, PluginRegistry, Sample, Status

KINDS = ("qwen_prm", "math_shepherd", "token_classification")


@pytest.fixture
def served(pooling_servers):
    """(url, behaviour) per kind, with the behaviour reset after each test."""
    yield pooling_servers
    for _, behaviour in pooling_servers.values():
        behaviour.reset()


def make(path: str, kind: str, url: str, mode: str = "served", **options) -> PRMVerifier:
    options = {"request_timeout": 5.0, "retries": 1, **options}
    verifier = PRMVerifier({"model": path, "adapter": kind, "mode": mode, "url": url, **options})
    verifier.setup()
    return verifier


def run(verifier: PRMVerifier, samples):
    return asyncio.run(verifier.score_batch(samples))


def samples_for(corpus, count: int = 5) -> list[Sample]:
    return [
        Sample(prompt=corpus.question, completion=corpus.think(*corpus.steps[i : i + 1 + i % 3]))
        for i in range(count)
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_served_scores_equal_local_scores(tiny_prms, served, corpus, kind):
    url, behaviour = served[kind]
    samples = samples_for(corpus)
    remote = run(make(tiny_prms[kind], kind, url, request_size=2), samples)
    local = run(make(tiny_prms[kind], kind, url, mode="local", device="cpu"), samples)
    assert behaviour.requests == 3  # 5 inputs, 2 per request
    for a, b in zip(remote, local):
        assert a.status is Status.OK, a
        assert a.details["step_scores"] == pytest.approx(b.details["step_scores"], abs=1e-4)
        assert a.value == pytest.approx(b.value, abs=1e-4)


def test_too_long_inputs_are_not_sent(tiny_prms, served, corpus):
    url, behaviour = served["qwen_prm"]
    verifier = make(tiny_prms["qwen_prm"], "qwen_prm", url, max_length=50)
    long = Sample(prompt=corpus.question, completion=corpus.think(*corpus.steps))
    (result,) = run(verifier, [long])
    assert result.status is Status.NOT_APPLICABLE and result.details["reason"] == "too_long"
    assert behaviour.requests == 0


def test_a_server_that_is_down_is_an_error_not_a_zero(tiny_prms, corpus, dead_url):
    verifier = make(tiny_prms["qwen_prm"], "qwen_prm", dead_url, retries=2)
    results = run(verifier, samples_for(corpus, 2))
    assert [r.status for r in results] == [Status.ERROR, Status.ERROR]
    assert all(r.value is None for r in results)
    assert "failed 3 time(s)" in results[0].details["error"]


def test_a_slow_server_times_out_as_an_error(tiny_prms, served, corpus):
    url, behaviour = served["qwen_prm"]
    behaviour.mode, behaviour.delay = "slow", 3.0
    verifier = make(tiny_prms["qwen_prm"], "qwen_prm", url, request_timeout=0.3, retries=1)
    results = run(verifier, samples_for(corpus, 2))
    assert [r.status for r in results] == [Status.ERROR, Status.ERROR]
    assert "no answer within 0.3 s" in results[0].details["error"]
    assert behaviour.requests == 2  # the first try and one retry


def test_failures_are_retried_then_succeed(tiny_prms, served, corpus):
    url, behaviour = served["token_classification"]
    behaviour.failures = 2
    verifier = make(tiny_prms["token_classification"], "token_classification", url, retries=2)
    results = run(verifier, samples_for(corpus, 1))
    assert results[0].status is Status.OK
    assert behaviour.requests == 3


def test_client_errors_are_not_retried(tiny_prms, served, corpus):
    url, behaviour = served["token_classification"]
    behaviour.failures, behaviour.status = 5, 400
    verifier = make(tiny_prms["token_classification"], "token_classification", url, retries=3)
    (result,) = run(verifier, samples_for(corpus, 1))
    assert result.status is Status.ERROR and "HTTP 400" in result.details["error"]
    assert behaviour.requests == 1


def item(data, index=0) -> dict:
    return {"index": index, "object": "pooling", "data": data}


# Each case gets the sample's token count n; every body is wrong in exactly one way.
GARBAGE = {
    "not json": lambda n: "<html>oops</html>",
    "no data": lambda n: json.dumps({"object": "list"}),
    "too few items": lambda n: json.dumps({"data": []}),
    "index out of range": lambda n: json.dumps({"data": [item([[0.5, 0.5]] * n, index=7)]}),
    "index twice": lambda n: json.dumps({"data": [item([[0.5, 0.5]] * n)] * 2}),
    "rows not a list": lambda n: json.dumps({"data": [item(0.9)]}),
    "wrong row count": lambda n: json.dumps({"data": [item([[0.5, 0.5]] * (n - 1))]}),
    "a scalar per token": lambda n: json.dumps({"data": [item([0.7] * n)]}),
    "one label": lambda n: json.dumps({"data": [item([[1.0]] * n)]}),
    "not probabilities": lambda n: json.dumps({"data": [item([[3.0, 9.0]] * n)]}),
    "negative probability": lambda n: json.dumps({"data": [item([[-0.5, 1.5]] * n)]}),
    "strings": lambda n: json.dumps({"data": [item([["0.1", "0.9"]] * n)]}),
    "booleans": lambda n: json.dumps({"data": [item([[False, True]] * n)]}),
    "NaN": lambda n: '{"data": [{"index": 0, "data": [' + ",".join(["[NaN, 1.0]"] * n) + "]}]}",
    "Infinity": lambda n: '{"data": [{"index": 0, "data": [' + ",".join(["[Infinity, 0]"] * n) + "]}]}",
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_garbage_answers_are_errors_never_zeros(tiny_prms, served, corpus, case):
    url, behaviour = served["qwen_prm"]
    verifier = make(tiny_prms["qwen_prm"], "qwen_prm", url)
    samples = samples_for(corpus, 1)
    tokens = len(verifier._prepare(samples)[0].input_ids)
    behaviour.mode, behaviour.body = "garbage", GARBAGE[case](tokens)
    (result,) = run(verifier, samples)
    assert result.status is Status.ERROR and result.value is None, (case, result)
    assert "garbage" in result.details["error"], result.details
    behaviour.body = json.dumps({"data": [item([[0.25, 0.75]] * tokens)]})  # the same, well-formed
    (result,) = run(verifier, samples)
    assert result.status is Status.OK and result.value == 0.75


def test_per_step_rows_whose_count_matches_neither_are_rejected_but_per_step_rows_work(
    tiny_prms, served, corpus
):
    """A STEP pooler answers one row per step: accepted; the good column follows the adapter."""
    url, behaviour = served["qwen_prm"]
    sample = Sample(prompt=corpus.question, completion=corpus.think(*corpus.steps[:3]))
    behaviour.mode = "garbage"
    behaviour.body = json.dumps({"data": [{"index": 0, "data": [[0.1, 0.9], [0.4, 0.6], [0.8, 0.2]]}]})
    (result,) = run(make(tiny_prms["qwen_prm"], "qwen_prm", url), [sample])
    assert result.status is Status.OK and result.details["step_scores"] == [0.9, 0.6, 0.2]
    assert result.value == pytest.approx(0.2)
    behaviour.body = json.dumps({"data": [{"index": 0, "data": [[0.1, 0.9], [0.4, 0.6]]}]})
    (result,) = run(make(tiny_prms["qwen_prm"], "qwen_prm", url), [sample])
    assert result.status is Status.ERROR


def test_logits_output_option(tiny_prms, served, corpus):
    url, behaviour = served["qwen_prm"]
    sample = Sample(prompt=corpus.question, completion=corpus.think(*corpus.steps[:2]))
    behaviour.mode = "garbage"
    behaviour.body = json.dumps({"data": [{"index": 0, "data": [[0.0, 0.0], [-50.0, 50.0]]}]})
    (result,) = run(make(tiny_prms["qwen_prm"], "qwen_prm", url, served_output="logits"), [sample])
    assert result.details["step_scores"] == pytest.approx([0.5, 1.0])


def test_concurrency_is_bounded(tiny_prms, served, corpus):
    url, behaviour = served["token_classification"]
    behaviour.mode, behaviour.delay = "slow", 0.2
    verifier = make(
        tiny_prms["token_classification"], "token_classification", url, request_size=1, concurrency=2
    )
    results = run(verifier, samples_for(corpus, 6))
    assert all(r.status is Status.OK for r in results)
    assert behaviour.requests == 6 and behaviour.max_in_flight == 2


def test_served_mode_through_the_engine_and_its_cache(tiny_prms, served, corpus):
    import grpo_reward_prm

    url, behaviour = served["math_shepherd"]
    registry = PluginRegistry()
    registry.add_plugin(grpo_reward_prm, "prm")
    options = {"model": tiny_prms["math_shepherd"], "adapter": "math_shepherd", "mode": "served", "url": url}
    rows = [{"prompt": corpus.question, "completion": corpus.think(*corpus.steps[:2])}] * 4
    with Engine([{"verifier": "prm", "weight": 0.5, "options": options}], registry=registry) as engine:
        first = engine.score(rows)
        second = engine.score(rows)
    assert [s.status for s in first.scores["prm"]] == [Status.OK] * 4
    assert second.values("prm") == first.values("prm")
    assert behaviour.requests == 1  # 4 identical texts, then a cached batch: one request in all
