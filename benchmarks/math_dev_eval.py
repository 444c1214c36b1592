"""Dev-set (or any labelled pair set) accuracy of the ``math`` verifier, scored through ``grpo score``.

    python benchmarks/math_dev_eval.py [PAIRS.jsonl] [--template] [--baseline]

Rows are ``{"answer": GOLD, "prediction": PRED, "equivalent": bool}``. By default the prediction is
the completion as is (the dev set holds raw model text); ``--template`` wraps it as
``The final answer is $\\boxed{PRED}$`` (the held-out protocol). ``--baseline`` also scores plain
math-verify called the usual way, ``verify(parse(gold), parse(completion))``, in one process.
Prints accuracy, precision, recall (= sensitivity) and specificity with counts, and the misses.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "math_equivalence_dev.jsonl"
if not DEFAULT.exists():  # the copy kept beside the plugin's tests
    DEFAULT = ROOT / "plugins" / "math" / "tests" / "data" / "math_equivalence_dev.jsonl"


def metrics(labels: list[bool], preds: list[bool]) -> dict[str, float | int]:
    tp = sum(1 for y, p in zip(labels, preds) if y and p)
    tn = sum(1 for y, p in zip(labels, preds) if not y and not p)
    fp = sum(1 for y, p in zip(labels, preds) if not y and p)
    fn = sum(1 for y, p in zip(labels, preds) if y and not p)
    n = len(labels)
    return {
        "n": n,
        "tp": tp,
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "accuracy": (tp + tn) / n if n else 0.0,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "specificity": tn / (tn + fp) if tn + fp else 1.0,
    }


def show(name: str, m: dict[str, float | int]) -> None:
    print(
        f"{name:<22} n={m['n']} acc={m['accuracy']:.4f} precision={m['precision']:.4f} "
        f"recall={m['recall']:.4f} specificity={m['specificity']:.4f} "
        f"(tp={m['tp']} fn={m['fn']} tn={m['tn']} fp={m['fp']})"
    )


def completion_of(row: dict, template: bool) -> str:
    pred = row["prediction"]
    return f"The final answer is $\\boxed{{{pred}}}$" if template else pred


def score_with_grpo(rows: list[dict], template: bool, timeout: float) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        with src.open("w") as fh:
            for row in rows:
                fh.write(
                    json.dumps({"completion": completion_of(row, template), "answer": row["answer"]}) + "\n"
                )
        grpo = Path(sys.executable).with_name("grpo")
        cmd = [str(grpo), "score", str(src), "--reward", "math", "-o", str(out), "--timeout", str(timeout)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "120"})
        return [json.loads(line) for line in out.open()]


def baseline(rows: list[dict], template: bool, wrap_gold: bool = False) -> list[bool]:
    """Plain math-verify: ``verify(parse(gold), parse(completion))`` (default timeouts, main thread).

    ``wrap_gold``: the gold is handed over as ``$gold$`` (how some trainers help bare LaTeX golds).
    """
    import logging

    logging.disable(logging.WARNING)
    from math_verify import parse, verify

    preds = []
    for row in rows:
        gold = f"${row['answer']}$" if wrap_gold else row["answer"]
        try:
            preds.append(bool(verify(parse(gold), parse(completion_of(row, template)))))
        except Exception:
            preds.append(False)
    return preds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pairs", nargs="?", default=str(DEFAULT))
    ap.add_argument("--template", action="store_true", help="wrap predictions as 'final answer is boxed'")
    ap.add_argument("--baseline", action="store_true", help="also score plain math-verify")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--quiet", action="store_true", help="do not list the misses")
    args = ap.parse_args()
    with open(args.pairs) as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    labels = [bool(r["equivalent"]) for r in rows]
    scored = score_with_grpo(rows, args.template, args.timeout)
    values = [s["rewards"]["math"] for s in scored]
    preds = [v is not None and v >= 1.0 for v in values]
    statuses: dict[str, int] = {}
    for s in scored:
        statuses[s["status"]["math"]] = statuses.get(s["status"]["math"], 0) + 1
    print(f"{args.pairs}  ({'template' if args.template else 'raw completions'})  statuses: {statuses}")
    show("math verifier", metrics(labels, preds))
    if not args.quiet:
        for row, s, y, p in zip(rows, scored, labels, preds):
            if y != p:
                det = s["details"]["math"]
                print(
                    f"  MISS label={y} gold={row['answer'][:60]!r} pred={row['prediction'][-80:]!r} "
                    f"status={s['status']['math']} details={json.dumps(det)[:160]}"
                )
    if args.baseline:
        show("plain math-verify", metrics(labels, baseline(rows, args.template)))
        show("math-verify, $gold$", metrics(labels, baseline(rows, args.template, wrap_gold=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
