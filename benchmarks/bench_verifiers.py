"""Verifiers used by the benchmarks (importable, so worker processes can load them)."""

from __future__ import annotations

import re

from grpo_core import Isolation, Sample, Verifier, VerifierOptions

TEMPLATE = re.compile(r"\A\s*<think>.*?</think>\s*<answer>(.*?)</answer>\s*\Z", re.DOTALL)


def cheap_check(text: str) -> float:
    """A format-style check: a regex match, microseconds."""
    return 1.0 if TEMPLATE.match(text) else 0.0


def cpu_check(text: str, iterations: int) -> float:
    """Stand-in for symbolic verification: a fixed amount of pure-Python CPU work per sample."""
    acc = 0
    for i in range(iterations):
        acc = (acc * 31 + i + len(text)) % 1_000_003
    return float(acc % 2)


class CpuOptions(VerifierOptions):
    iterations: int = 0


class InlineCheap(Verifier):
    name = "bench_inline"
    isolation = Isolation.INLINE

    def score(self, sample: Sample) -> float:
        return cheap_check(sample.completion_text)


class ProcessCpu(Verifier):
    name = "bench_process"
    isolation = Isolation.PROCESS
    Options = CpuOptions

    def score(self, sample: Sample) -> float:
        text = sample.completion_text
        return cpu_check(text, self.options.iterations) if self.options.iterations else cheap_check(text)
