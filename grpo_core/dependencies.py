"""Verifier dependencies: a verifier may read other rewards' results for the same sample.

A length reward conditioned on correctness needs the ``math`` (or ``code``) score of the very
sample it judges. A verifier says so with :meth:`Verifier.dependencies` (reward names, i.e. the
``name`` of another chosen reward, which defaults to its verifier name); the engine then

- checks at construction that every named reward is chosen in the same run and that no rewards
  depend on each other in a cycle (a :class:`ConfigError` naming the rewards and the fix);
- scores the rewards in stages, each after the ones it reads, and hands the dependent verifier a
  copy of each sample that carries the results under :data:`DEPENDENCIES_KEY`, which the verifier
  reads with :func:`dependency_score`. The engine always writes that key itself: a dataset column
  of the same name is dropped, so a row cannot forge a dependency's result;
- folds the dependencies' results into the dependent's cache key, so a cached score is reused only
  for the same upstream results.

TRL calls one reward function per reward, concurrently, on the same batch. So that a dependency
is not scored twice (once for itself, once for its dependent), :class:`DependencyRunner` shares a
provider's result for a batch between those calls, by a fingerprint of the batch's contents.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from grpo_core.errors import ConfigError
from grpo_core.sample import Sample
from grpo_core.verifier import Score, Status

if TYPE_CHECKING:
    from grpo_core.engine import BoundVerifier
    from grpo_core.metrics import VerifierMetrics

#: the sample key under which a dependent verifier receives the results it declared.
DEPENDENCIES_KEY = "__grpo_dependencies__"

ScoreFn = Callable[["BoundVerifier", list[Sample]], Awaitable[tuple[list[Score], "VerifierMetrics"]]]


def dependency_score(sample: Mapping[str, Any], name: str) -> Score:
    """The result of reward ``name`` for this sample, as the engine handed it to a dependent.

    Raises ``KeyError`` when the verifier did not declare ``name`` in ``dependencies()`` (a bug in
    the verifier, which the engine reports as that sample's error)."""
    results = sample.get(DEPENDENCIES_KEY)
    if not isinstance(results, Mapping) or name not in results:
        raise KeyError(f"no result of reward {name!r} for this sample: declare it in dependencies()")
    value, status = results[name]
    return Score(value, Status(status), {})


def declared_dependencies(bound: Sequence[BoundVerifier]) -> dict[str, tuple[str, ...]]:
    """Reward name -> the reward names it reads, as each verifier declares them."""
    needs: dict[str, tuple[str, ...]] = {}
    for b in bound:
        names = b.verifier.dependencies()
        if isinstance(names, str) or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(
                f"reward {b.name!r}: dependencies() must return reward names (strings), got {names!r}"
            )
        needs[b.name] = tuple(dict.fromkeys(names))
    return needs


def plan_stages(needs: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Group rewards into stages so each runs after every reward it reads (config order kept).

    Raises ConfigError for a dependency on a reward the run does not choose, and for cycles."""
    for name, deps in needs.items():
        for dep in deps:
            if dep == name:
                raise ConfigError(f"reward {name!r} depends on itself; a reward cannot read its own result")
            if dep not in needs:
                chosen = ", ".join(repr(n) for n in needs)
                raise ConfigError(
                    f"reward {name!r} reads the result of reward {dep!r}, which this run does not choose "
                    f"(chosen: {chosen}); add a reward named {dep!r} (weight 0 if it should not count) "
                    f"or point {name!r} at one of the chosen rewards in its options"
                )
    stages: list[list[str]] = []
    done: set[str] = set()
    remaining = list(needs)
    while remaining:
        ready = [n for n in remaining if all(d in done for d in needs[n])]
        if not ready:
            raise ConfigError(f"rewards depend on each other in a cycle: {_cycle(needs, remaining)}")
        stages.append(ready)
        done.update(ready)
        remaining = [n for n in remaining if n not in done]
    return stages


def _cycle(needs: Mapping[str, Sequence[str]], remaining: list[str]) -> str:
    """One cycle among the unplaceable rewards, as ``a -> b -> a``."""
    path: list[str] = []
    node = remaining[0]
    while node not in path:
        path.append(node)
        node = next(d for d in needs[node] if d in remaining)
    cycle = path[path.index(node) :] + [node]
    return " -> ".join(cycle)


def attach(batch: list[Sample], deps: Sequence[str], scores: Mapping[str, list[Score]]) -> list[Sample]:
    """Copies of the samples carrying exactly the declared dependencies' results (or none)."""
    if not deps:
        if not any(DEPENDENCIES_KEY in s for s in batch):
            return batch
        return [Sample({k: v for k, v in s.items() if k != DEPENDENCIES_KEY}) for s in batch]
    out = []
    for i, sample in enumerate(batch):
        copy = Sample(sample)
        copy[DEPENDENCIES_KEY] = {d: (scores[d][i].value, scores[d][i].status.value) for d in deps}
        out.append(copy)
    return out


def dependency_cache_key(key: Hashable | None, sample: Mapping[str, Any]) -> Hashable | None:
    """A dependent's cache key includes the upstream results it was given."""
    results = sample.get(DEPENDENCIES_KEY)
    if key is None or not isinstance(results, Mapping):
        return key
    return (key, tuple(sorted((name, tuple(r)) for name, r in results.items())))


def fingerprint(batch: list[Sample]) -> str | None:
    """A digest of the batch's contents (dependencies' results excluded), or None if not repr-able."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        for sample in batch:
            items = sorted((k, v) for k, v in sample.items() if k != DEPENDENCIES_KEY)
            digest.update(repr(items).encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
    except Exception:
        return None
    return digest.hexdigest()


class DependencyRunner:
    """Runs the engine's rewards in dependency order, for whole batches or one reward at a time."""

    def __init__(self, bound: Sequence[BoundVerifier], score: ScoreFn, *, keep: int = 64) -> None:
        self.needs = declared_dependencies(bound)
        self.stages = plan_stages(self.needs)
        self._bound = {b.name: b for b in bound}
        self._score = score
        readers: dict[str, int] = {}
        for deps in self.needs.values():
            for dep in deps:
                readers[dep] = readers.get(dep, 0) + 1
        #: provider name -> how many calls consume one shared result (itself + each reader)
        self._consumers = {name: 1 + n for name, n in readers.items()}
        self._shared: OrderedDict[tuple[str, str, int], list[Any]] = OrderedDict()
        self._keep = keep

    async def score_all(self, batch: list[Sample]) -> dict[str, tuple[list[Score], VerifierMetrics]]:
        """Every reward on the batch, stage by stage, the rewards of a stage concurrently."""
        outcomes: dict[str, tuple[list[Score], VerifierMetrics]] = {}
        for stage in self.stages:
            results = await asyncio.gather(
                *(self._score(self._bound[name], self._inputs(name, batch, outcomes)) for name in stage)
            )
            outcomes.update(zip(stage, results))
        return outcomes

    def _inputs(
        self, name: str, batch: list[Sample], outcomes: Mapping[str, tuple[list[Score], Any]]
    ) -> list[Sample]:
        return attach(batch, self.needs[name], {d: outcomes[d][0] for d in self.needs[name]})

    async def score_one(self, name: str, batch: list[Sample]) -> tuple[list[Score], VerifierMetrics]:
        """One reward on the batch, its dependencies first (what one TRL reward function needs).

        A reward that others read shares its result for this batch with their calls."""
        if name in self._consumers:
            return await self._shared_result(name, batch)
        return await self._run(name, batch)

    async def _run(self, name: str, batch: list[Sample]) -> tuple[list[Score], VerifierMetrics]:
        deps = self.needs[name]
        results = await asyncio.gather(*(self._shared_result(dep, batch) for dep in deps))
        inputs = attach(batch, deps, {dep: scores for dep, (scores, _) in zip(deps, results)})
        return await self._score(self._bound[name], inputs)

    async def _shared_result(self, name: str, batch: list[Sample]) -> tuple[list[Score], VerifierMetrics]:
        digest = fingerprint(batch)
        if digest is None:
            return await self._run(name, batch)
        key = (name, digest, id(asyncio.get_running_loop()))  # tasks belong to one loop
        entry = self._shared.get(key)
        if entry is None:
            task = asyncio.ensure_future(self._run(name, batch))
            entry = [task, self._consumers.get(name, 1)]
            self._shared[key] = entry
            while len(self._shared) > self._keep:
                self._shared.popitem(last=False)
        entry[1] -= 1
        if entry[1] <= 0:
            self._shared.pop(key, None)
        return await asyncio.shield(entry[0])
