"""Adversarial inputs for the ``math`` verifier through the real Engine: time and outcome of each.

    python benchmarks/math_adversarial.py [--timeout 5]

Each input is scored alone (after the worker pool has started), so the printed wall-clock time is
that sample's; it must stay within the timeout plus one second. A last batch mixes them all with
ordinary rows to show the run goes on.
"""

from __future__ import annotations

import argparse
import time

from grpo_reward_math.adversarial import ADVERSARIAL_COMPLETIONS as CASES


def main() -> int:
    from grpo_core.engine import Engine

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args()
    worst = 0.0
    with Engine([{"verifier": "math", "timeout": args.timeout}]) as engine:
        engine.score([{"prompt": "", "completion": "\\boxed{1}", "answer": "1"}])
        print(f"{'case':<32} {'seconds':>8}  status   value  reason")
        for name, completion in CASES.items():
            started = time.perf_counter()
            result = engine.score([{"prompt": "", "completion": completion, "answer": "2"}])
            elapsed = time.perf_counter() - started
            worst = max(worst, elapsed)
            score = result.scores["math"][0]
            reason = str(dict(score.details).get("reason", ""))[:50]
            print(f"{name:<32} {elapsed:8.3f}  {score.status.value:<8} {score.value!s:<6} {reason}")
        rows = [{"prompt": "", "completion": c, "answer": "2"} for c in CASES.values()]
        rows += [{"prompt": "", "completion": "so \\boxed{2}", "answer": "2"}] * 3
        started = time.perf_counter()
        result = engine.score(rows)
        elapsed = time.perf_counter() - started
        values = result.values("math")
    print(f"worst single-sample time {worst:.3f} s (limit {args.timeout + 1:.1f} s)")
    print(
        f"mixed batch of {len(rows)}: {elapsed:.2f} s, ordinary rows scored {values[-3:]}, "
        f"adversarial rows rewarded: {sum(1 for v in values[:-3] if v)}"
    )
    return 0 if worst <= args.timeout + 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
