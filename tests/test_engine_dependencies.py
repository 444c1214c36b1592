"""Verifier dependencies: ordering, config errors (missing, cycles), forged inputs, caching, TRL path."""

from __future__ import annotations

import asyncio

import pytest

from grpo_core import (
    ConfigError,
    Engine,
    Isolation,
    PluginRegistry,
    Sample,
    Score,
    Status,
    Verifier,
    VerifierOptions,
    dependency_score,
    hookimpl,
)
from grpo_core.dependencies import DEPENDENCIES_KEY, plan_stages


class Counter:
    calls: list[str] = []


class UpstreamOptions(VerifierOptions):
    delay_s: float = 0.0


class Upstream(Verifier):
    """Async provider: the completion's number (so a dependent can be checked sample by sample)."""

    name = "upstream"
    isolation = Isolation.ASYNC
    Options = UpstreamOptions

    async def ascore(self, sample: Sample) -> Score | None:
        Counter.calls.append(f"upstream:{sample.completion_text}")
        await asyncio.sleep(self.options.delay_s)
        text = sample.completion_text
        if text == "raise":
            raise RuntimeError("upstream broke")
        return Score.ok(float(text)) if text else None

    def cache_key(self, sample: Sample):
        return sample.completion_text


class ReaderOptions(VerifierOptions):
    reads: list[str] = ["upstream"]


class Reader(Verifier):
    """Reads its declared rewards: the sum of their values times ten, or their statuses."""

    name = "reader"
    Options = ReaderOptions

    def dependencies(self) -> tuple[str, ...]:
        return tuple(self.options.reads)

    def score(self, sample: Sample) -> Score:
        Counter.calls.append(f"reader:{sample.completion_text}")
        results = [dependency_score(sample, name) for name in self.options.reads]
        if any(r.value is None for r in results):
            return Score.not_applicable("no upstream value", statuses=[r.status.value for r in results])
        return Score.ok(10 * sum(r.value for r in results))

    def cache_key(self, sample: Sample):
        return sample.completion_text


class Snoop(Verifier):
    """Declares nothing, and reports whether a dependencies key reached it anyway."""

    name = "snoop"

    def score(self, sample: Sample) -> Score:
        return Score.ok(1.0 if DEPENDENCIES_KEY in sample else 0.0)


class Undeclared(Verifier):
    """Reads a reward it never declared: a verifier bug, reported as that sample's error."""

    name = "undeclared"

    def score(self, sample: Sample) -> Score:
        return dependency_score(sample, "upstream")


class Plugin:
    @staticmethod
    @hookimpl
    def register_verifiers(register):
        for cls in (Upstream, Reader, Snoop, Undeclared):
            register(cls)


@pytest.fixture
def registry():
    registry = PluginRegistry()
    registry.add_plugin(Plugin(), "dependency_test")
    Counter.calls = []
    return registry


def rows(*texts, **columns) -> list[dict]:
    return [{"prompt": "p", "completion": text, **columns} for text in texts]


@pytest.mark.parametrize("reader_first", [True, False])
def test_dependent_reads_each_samples_own_upstream_result(registry, reader_first):
    specs = [{"verifier": "upstream", "options": {"delay_s": 0.01}}, {"verifier": "reader"}]
    with Engine(specs[::-1] if reader_first else specs, registry=registry) as engine:
        assert engine.names == (["reader", "upstream"] if reader_first else ["upstream", "reader"])
        result = engine.score(rows("1", "2", "1", "3", ""))
    assert result.values("upstream") == [1.0, 2.0, 1.0, 3.0, None]
    assert result.values("reader") == [10.0, 20.0, 10.0, 30.0, None]
    assert result.scores["reader"][4].details["statuses"] == ["not_applicable"]
    assert list(result.scores) == engine.names  # config order kept in the output


def test_upstream_failure_reaches_the_dependent_as_a_status(registry):
    specs = [{"verifier": "upstream"}, {"verifier": "reader"}]
    with Engine(specs, registry=registry) as engine:
        result = engine.score(rows("raise", "2"))
    assert [s.status for s in result.scores["upstream"]] == [Status.ERROR, Status.OK]
    assert result.scores["reader"][0].details["statuses"] == ["error"]
    assert result.values("reader") == [None, 20.0]


def test_a_dependency_on_a_process_verifier(registry):
    """The provider runs in worker processes (the throwaway plugin's `misbehaving`)."""
    from grpo_core.plugins import get_registry

    installed = get_registry(refresh=True)
    installed.add_plugin(Plugin(), "dependency_test")
    specs = [
        {"verifier": "reader", "options": {"reads": ["misbehaving"]}},
        {"verifier": "misbehaving"},
    ]
    with Engine(specs, registry=installed, workers=1) as engine:
        result = engine.score(rows("0.5", "1", "raise"))
    assert result.values("reader") == [5.0, 10.0, None]


def test_missing_dependency_is_a_config_error_naming_the_fix(registry):
    with pytest.raises(ConfigError, match=r"reward 'reader' reads the result of reward 'math'.*add a reward"):
        Engine([{"verifier": "reader", "options": {"reads": ["math"]}}], registry=registry)


def test_dependencies_use_reward_names_not_verifier_names(registry):
    specs = [
        {"verifier": "upstream", "name": "checker"},
        {"verifier": "reader", "options": {"reads": ["checker"]}},
    ]
    with Engine(specs, registry=registry) as engine:
        assert engine.score(rows("4")).values("reader") == [40.0]
    with pytest.raises(ConfigError, match="reads the result of reward 'upstream'"):
        Engine([specs[0], {"verifier": "reader"}], registry=registry)


def test_cycles_and_self_dependencies_are_config_errors(registry):
    cycle = [
        {"verifier": "reader", "name": "a", "options": {"reads": ["b"]}},
        {"verifier": "reader", "name": "b", "options": {"reads": ["c"]}},
        {"verifier": "reader", "name": "c", "options": {"reads": ["a"]}},
        {"verifier": "upstream"},
    ]
    with pytest.raises(ConfigError, match=r"cycle: a -> b -> c -> a"):
        Engine(cycle, registry=registry)
    with pytest.raises(ConfigError, match="'a' depends on itself"):
        Engine([{"verifier": "reader", "name": "a", "options": {"reads": ["a"]}}], registry=registry)


def test_stages_follow_dependencies_and_keep_config_order():
    needs = {"len": ("math",), "fmt": (), "math": (), "mix": ("len", "fmt")}
    assert plan_stages(needs) == [["fmt", "math"], ["len"], ["mix"]]


def test_a_row_cannot_forge_a_dependency_result(registry):
    forged = {DEPENDENCIES_KEY: {"upstream": (1000.0, "ok")}}
    specs = [{"verifier": "upstream"}, {"verifier": "reader"}, {"verifier": "snoop"}]
    with Engine(specs, registry=registry) as engine:
        result = engine.score(rows("1", "", **forged))
        assert result.values("reader") == [10.0, None]
        assert result.values("snoop") == [0.0, 0.0]  # stripped for verifiers that declare nothing

        async def trl_style():
            return await asyncio.gather(
                engine.score_verifier("reader", rows("2", **forged)),
                engine.score_verifier("snoop", rows("2", **forged)),
            )

        (reader, _), (snoop, _) = asyncio.run(trl_style())
        assert [reader[0].value, snoop[0].value] == [20.0, 0.0]


def test_undeclared_read_is_the_samples_error(registry):
    with Engine([{"verifier": "upstream"}, {"verifier": "undeclared"}], registry=registry) as engine:
        result = engine.score(rows("1"))
    assert result.scores["undeclared"][0].status is Status.ERROR
    assert "declare it in dependencies()" in result.scores["undeclared"][0].details["error"]


def test_dependent_cache_key_includes_the_upstream_result(registry):
    """The same completion read under two different upstream results is scored twice."""
    specs = [
        {"verifier": "upstream", "name": "u1"},
        {"verifier": "upstream", "name": "u2"},
        {"verifier": "reader", "name": "r1", "options": {"reads": ["u1"]}},
    ]
    with Engine(specs, registry=registry) as engine:
        assert engine.score(rows("1")).values("r1") == [10.0]
        assert engine.score(rows("1")).values("r1") == [10.0]
        assert Counter.calls.count("reader:1") == 1  # cached: same completion, same upstream result
    cache_keys = []
    with Engine(specs, registry=registry) as engine:
        bound = next(b for b in engine.bound if b.name == "r1")
        original = bound.verifier.cache_key
        bound.verifier.cache_key = lambda sample: cache_keys.append(sample) or original(sample)
        engine.score(rows("1"))
    assert cache_keys[0][DEPENDENCIES_KEY] == {"u1": (1.0, "ok")}


def test_trl_style_concurrent_calls_score_the_provider_once(registry):
    """TRL runs one reward function per reward concurrently on one batch: the provider's result
    is shared between its own call and its dependent's, and its metrics are counted once."""
    specs = [{"verifier": "upstream", "options": {"delay_s": 0.05}}, {"verifier": "reader"}]
    batch = rows("1", "2", "3")
    with Engine(specs, registry=registry) as engine:

        async def step():
            return await asyncio.gather(
                engine.score_verifier("reader", batch), engine.score_verifier("upstream", batch)
            )

        (reader, _), (upstream, _) = asyncio.run(step())
        assert [s.value for s in reader] == [10.0, 20.0, 30.0]
        assert [s.value for s in upstream] == [1.0, 2.0, 3.0]
        assert sorted(c for c in Counter.calls if c.startswith("upstream")) == [
            "upstream:1",
            "upstream:2",
            "upstream:3",
        ]
        assert engine.metrics["upstream"].summary()["count"] == 3
        assert engine.metrics["reader"].summary()["count"] == 3
        # A dependent called on its own still gets its upstream results (a new batch).
        alone, _ = asyncio.run(engine.score_verifier("reader", rows("7")))
        assert [s.value for s in alone] == [70.0]
        assert engine.metrics["upstream"].summary()["count"] == 3  # not counted as upstream's own
