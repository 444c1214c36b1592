"""Throughput of the ``math`` verifier on a GRPO-shaped batch: engine vs an open-r1-style serial loop.

    python benchmarks/math_throughput.py [--prompts 256] [--group 16] [--adversarial 0] [--json PATH]

The batch has ``prompts x group`` completions (default 256 x 16 = 4096). Within a group the final
answers repeat, as real rollouts do: a handful of distinct answers (the gold, an equivalent rewrite,
a couple of wrong ones) spread over the 16 completions, each after a few hundred characters of
reasoning. Both paths score the same completions in the same run:

- engine: ``grpo_core.Engine`` with the ``math`` verifier (process isolation, one worker per CPU,
  in-batch de-duplication by ``cache_key``); timed cold (including worker start-up) and warm
  (a second engine started with ``Engine.start()`` before timing, as a trainer does; fresh cache).
- serial: the accuracy reward of open-r1 (``parse`` the gold and the completion, ``verify``) in
  one process, one completion after another, math-verify's default signal timeouts left on.

Prints both times, the speed-up (serial / engine) and the hang count (engine samples that hit the
wall-clock limit, serial samples slower than the limit). ``--adversarial K`` swaps K completions for
power towers and similar inputs to show the engine keeps going.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import time


def answer_family(p: int) -> tuple[str, list[str], list[str]]:
    """(gold, equivalent rewrites, wrong answers) for prompt ``p``: 16 forms, numbers vary with ``p``."""
    k = p // 16 + 2
    families = [
        (
            f"\\frac{{1}}{{{k}}}",
            [f"\\dfrac{{1}}{{{k}}}", f"\\frac{{2}}{{{2 * k}}}"],
            [f"\\frac{{1}}{{{k + 1}}}", f"{k}"],
        ),
        (f"{k}\\sqrt{{2}}", [f"\\sqrt{{{2 * k * k}}}", f"{k} \\sqrt 2"], [f"{k}\\sqrt{{3}}", f"{2 * k}"]),
        (f"{12 * k}", [f"{12 * k}.0", f"\\text{{{12 * k}}}"], [f"{12 * k + 1}", f"{12 * k - 1}"]),
        (
            f"({k}, {k + 1})",
            [f"({k},{k + 1})", f"\\left({k}, {k + 1}\\right)"],
            [f"({k + 1}, {k})", f"({k}, {k})"],
        ),
        (f"[0, {k})", [f"[0,{k})"], [f"[0, {k}]", f"(0, {k})"]),
        (f"x^2 - {k * k}", [f"(x-{k})(x+{k})", f"x^2-{k * k}"], [f"(x-{k})^2", f"x^2+{k * k}"]),
        (
            f"\\frac{{{k}+9a}}{{20}}",
            [f"\\frac{{9a+{k}}}{{20}}"],
            [f"\\frac{{9a+{k}}}{{21}}", f"\\frac{{{k}}}{{20}}"],
        ),
        (
            f"1 \\pm \\sqrt{{{k}}}",
            [f"1+\\sqrt{{{k}}}, 1-\\sqrt{{{k}}}"],
            [f"1+\\sqrt{{{k}}}", f"\\sqrt{{{k}}}"],
        ),
        (f"2, 3, {k + 3}", [f"{k + 3}, 3, 2", f"\\{{2, 3, {k + 3}\\}}"], ["2, 3", f"2, 3, {k + 4}"]),
        (f"{k}\\%", [f"{k}", f"{k}\\%"], [f"{k / 10}", f"{100 - k}\\%"]),
        (f"{1000 * k}", [f"{1000 * k:,}", f"{k} \\times 10^3"], [f"{100 * k}", f"{1000 * k + 1}"]),
        (
            f"\\frac{{\\pi}}{{{k}}}",
            [f"\\frac{{1}}{{{k}}}\\pi"],
            [f"\\frac{{\\pi}}{{{k + 1}}}", f"{180 // k}"],
        ),
        (
            f"(-\\infty, -{k}) \\cup ({k}, \\infty)",
            [f"({k}, \\infty) \\cup (-\\infty, -{k})"],
            [f"(-{k}, {k})", f"({k}, \\infty)"],
        ),
        (f"y = 2x + {k}", [f"2x + {k}", f"y={k}+2x"], [f"y = {k}x + 2", "2x"]),
        (
            f"\\begin{{pmatrix}} {k} & 2 \\\\ 3 & 4 \\end{{pmatrix}}",
            [f"\\begin{{bmatrix}} {k} & 2 \\\\ 3 & 4 \\end{{bmatrix}}"],
            [f"\\begin{{pmatrix}} {k} & 3 \\\\ 2 & 4 \\end{{pmatrix}}"],
        ),
        (f"{7425 * k}000", [f"{7425 * k * 1000:,}"], [f"{7425 * k}00"]),
    ]
    return families[p % len(families)]


ADVERSARIAL = [
    "\\boxed{5^{5^{5^{5^5}}}}",
    "\\boxed{10^{10^{10^{10}}}}",
    "\\boxed{" + "9" * 200_000 + "}",
    "\\boxed{" + "{" * 3000 + "1" + "}" * 3000 + "}",
    "\\boxed{\\log(\\log(\\log(\\log(\\log(\\log(x))))))}",
]

REASONING = (
    "Let us work through the problem step by step. First we set up the equation from the statement "
    "and simplify both sides. Substituting the known values, we find the intermediate quantity "
    "$t = 3$, and then $2t + 1 = 7$. Checking the constraints again confirms the case analysis. "
)


def make_batch(prompts: int, group: int, adversarial: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for p in range(prompts):
        gold, equivalents, wrongs = answer_family(p)
        # a few distinct answers per group, repeated: the gold's form, a rewrite, a wrong one
        distinct = [gold, rng.choice(equivalents), rng.choice(wrongs)]
        if rng.random() < 0.5:
            distinct.append(rng.choice(wrongs))
        for _ in range(group):
            answer = rng.choice(distinct)
            reasoning = REASONING * rng.randint(1, 4)
            rows.append(
                {
                    "prompt": f"Problem {p}: compute the requested quantity.",
                    "completion": f"{reasoning}\nThe final answer is $\\boxed{{{answer}}}$.",
                    "answer": gold,
                    "group": p,
                }
            )
    for i in range(adversarial):
        index = rng.randrange(len(rows))
        rows[index] = {**rows[index], "completion": ADVERSARIAL[i % len(ADVERSARIAL)]}
    return rows


def serial_open_r1(rows: list[dict], limit: float) -> tuple[float, list[float], int]:
    """open-r1's accuracy reward: parse gold and completion, verify; one process, in order."""
    from latex2sympy2_extended import NormalizationConfig
    from math_verify import LatexExtractionConfig, parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    rewards, slow = [], 0
    started = time.perf_counter()
    for row in rows:
        t0 = time.perf_counter()
        gold_parsed = parse(f"$\\boxed{{{row['answer']}}}$", extraction_mode="first_match")
        reward = 0.0
        if gold_parsed:
            answer_parsed = parse(
                row["completion"],
                extraction_config=[
                    LatexExtractionConfig(
                        normalization_config=NormalizationConfig(
                            nits=False, malformed_operators=False, basic_latex=True, boxed="all", units=True
                        ),
                        boxed_match_priority=0,
                        try_extract_without_anchor=False,
                    )
                ],
                extraction_mode="first_match",
            )
            try:
                reward = float(verify(gold_parsed, answer_parsed))
            except Exception:
                reward = 0.0
        rewards.append(reward)
        if time.perf_counter() - t0 > limit:
            slow += 1
    return time.perf_counter() - started, rewards, slow


def engine_run(rows: list[dict], timeout: float, warm: bool) -> tuple[float, list, dict]:
    from grpo_core.engine import Engine

    with Engine([{"verifier": "math", "timeout": timeout}]) as engine:
        if warm:
            engine.start()  # workers started and the verifier set up in each, as a trainer does
        started = time.perf_counter()
        result = engine.score(rows)
        elapsed = time.perf_counter() - started
        metrics = result.metrics["math"]
        summary = metrics.summary() if hasattr(metrics, "summary") else {}
    return elapsed, result.scores["math"], summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--group", type=int, default=16)
    ap.add_argument("--adversarial", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=5.0, help="engine wall-clock limit per sample")
    ap.add_argument("--rounds", type=int, default=3, help="alternating warm-engine / serial rounds")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    rows = make_batch(args.prompts, args.group, args.adversarial)
    distinct = len({(r["completion"].rsplit("The final answer", 1)[-1], r["answer"]) for r in rows})
    print(
        f"batch: {args.prompts} prompts x {args.group} completions = {len(rows)} "
        f"({distinct} distinct (answer, gold) pairs), cpus={len(os.sched_getaffinity(0))}"
    )

    if args.adversarial and os.environ.get("MATH_BENCH_SKIP_SERIAL_ADVERSARIAL", "1") == "1":
        serial_rows = [r for r in rows if "The final answer" in r["completion"]]
        print(f"(serial loop skips the {len(rows) - len(serial_rows)} adversarial rows: they hang it)")
    else:
        serial_rows = rows
    cold_s, scores, summary = engine_run(rows, args.timeout, warm=False)
    print(f"engine (cold, incl. worker start): {cold_s:7.2f} s  {len(rows) / cold_s:8.1f} samples/s")
    # alternate warm-engine and serial runs: the machine is shared, so compare runs taken side by side
    warm_times, serial_times, speedups = [], [], []
    serial_rewards: list[float] = []
    serial_slow = 0
    for round_no in range(args.rounds):
        warm_s, _, _ = engine_run(rows, args.timeout, warm=True)
        serial_s, serial_rewards, serial_slow = serial_open_r1(serial_rows, args.timeout)
        warm_times.append(warm_s)
        serial_times.append(serial_s)
        speedups.append((len(rows) / warm_s) / (len(serial_rows) / serial_s))
        print(
            f"round {round_no + 1}: engine (warm pool) {warm_s:6.2f} s ({len(rows) / warm_s:7.1f}/s) | "
            f"serial open-r1 loop {serial_s:6.2f} s ({len(serial_rows) / serial_s:7.1f}/s) | "
            f"speed-up {speedups[-1]:.2f}x"
        )
    warm_s, serial_s = statistics.median(warm_times), statistics.median(serial_times)
    serial_rate = len(serial_rows) / serial_s
    speedup_cold = (len(rows) / cold_s) / serial_rate
    speedup_warm = statistics.median(speedups)
    hangs = sum(1 for s in scores if s.status.value == "timeout")
    errors = sum(1 for s in scores if s.status.value == "error")
    print(
        f"speed-up (samples/s, engine / serial): median of rounds {speedup_warm:.2f}x "
        f"(range {min(speedups):.2f}-{max(speedups):.2f}x); cold engine vs median serial {speedup_cold:.2f}x"
    )
    print(
        f"hangs: engine {hangs} timeouts ({errors} errors) of {len(rows)}; "
        f"serial {serial_slow} samples over {args.timeout:g} s"
    )
    engine_values = [s.value for s in scores]
    agree = (
        sum(1 for r, e, s in zip(rows, engine_values, serial_rewards) if (e or 0.0) == s)
        if serial_rows is rows
        else None
    )
    mean = sum(v or 0.0 for v in engine_values) / len(engine_values)
    print(
        f"mean reward: engine {mean:.3f}, serial {sum(serial_rewards) / len(serial_rewards):.3f}"
        + (f"; same reward on {agree}/{len(rows)} samples" if agree is not None else "")
    )
    if summary:
        print(f"engine metrics: {json.dumps(summary, default=str)[:400]}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "samples": len(rows),
                    "engine_cold_s": cold_s,
                    "engine_warm_s": warm_s,
                    "serial_s": serial_s,
                    "serial_samples": len(serial_rows),
                    "speedup_cold": speedup_cold,
                    "speedup_warm": speedup_warm,
                    "speedups": speedups,
                    "engine_timeouts": hangs,
                    "serial_slow": serial_slow,
                },
                fh,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
