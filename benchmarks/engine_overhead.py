"""Engine time per 4096 samples vs a plain Python loop calling the same function, as ratios.

Run: .venv/bin/python benchmarks/engine_overhead.py [--samples 4096] [--repeats 3]
Every sample is distinct (no de-duplication or cache help): this measures the engine's own cost.
Both sides are measured in the same run, alternately; the best of the repeats is kept.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_verifiers import InlineCheap, ProcessCpu, cheap_check, cpu_check  # noqa: E402

from grpo_core import Engine, PluginRegistry, hookimpl  # noqa: E402


class _BenchPlugin:
    @hookimpl
    def register_verifiers(self, register):
        register(InlineCheap)
        register(ProcessCpu)


def make_samples(n: int) -> list[dict]:
    return [
        {"prompt": f"q{i}", "completion": f"<think>step {i}</think><answer>{i}</answer>" + " " * (i % 3)}
        for i in range(n)
    ]


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu-iterations", type=int, default=20000, help="work per sample, 'heavy' case")
    args = parser.parse_args()

    registry = PluginRegistry()
    registry.add_plugin(_BenchPlugin(), "bench")
    samples = make_samples(args.samples)
    texts = [s["completion"] for s in samples]
    cases = [
        ("inline, cheap regex", {"verifier": "bench_inline"}, lambda: [cheap_check(t) for t in texts]),
        ("process, cheap regex", {"verifier": "bench_process"}, lambda: [cheap_check(t) for t in texts]),
        (
            f"process, {args.cpu_iterations} loop steps",
            {"verifier": "bench_process", "options": {"iterations": args.cpu_iterations}},
            lambda: [cpu_check(t, args.cpu_iterations) for t in texts],
        ),
    ]
    print(f"{args.samples} distinct samples, best of {args.repeats}, {os.cpu_count()} CPUs")
    print(f"{'case':<32} {'plain loop s':>12} {'engine s':>10} {'ratio':>7} {'per sample':>11}")
    for label, spec, baseline in cases:
        with Engine([spec], registry=registry, cache_size=0) as engine:
            engine.score(samples[:64])  # start the worker pool outside the timing
            base = best_of(args.repeats, baseline)
            eng = best_of(args.repeats, lambda: engine.score(samples))  # noqa: B023
        overhead_us = (eng - base) / args.samples * 1e6
        print(f"{label:<32} {base:>12.3f} {eng:>10.3f} {eng / base:>6.2f}x {overhead_us:>+9.1f}us")
    print("ratio = engine time / plain loop time (< 1: the worker pool's parallelism wins)")


if __name__ == "__main__":
    main()
