"""The seeds' three relationships on the embedded demo, through ``grpo sweep`` (examples/sweep_seeds.sh).

Runs the three sweeps (beta, temperature, learning rate; 2 runs each, 2 at a time, each evaluated on
the held-out split) for each ``--seed`` and prints one Markdown table per seed plus whether each
relationship held:

* beta 0.01 vs 0.5: mean KL lower for 0.5;
* temperature 0.5 vs 1.5: mean entropy and mean reward std within groups higher, and fewer groups
  with zero reward std, for 1.5 (TRL's batch-wide reward std is shown too, not checked: it follows
  how accuracy differs between groups, not how diverse each group is);
* learning rate 1e-3 (the demo's) vs 3e-2, both at beta 1.0: mean grad norm higher and final reward
  lower for 3e-2 (its largest grad norm is shown too, not checked: single spikes are seed-dependent).

    python benchmarks/sweep_relationships.py --seed 0 --seed 1 [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = ("beta", "temperature", "learning_rate")
# (sweep, metric, which run should be higher: index into the sweep's 2 runs)
CHECKS = (
    ("beta", "mean_kl", 0, "KL lower for beta 0.5"),
    ("temperature", "mean_entropy", 1, "entropy higher at T 1.5"),
    ("temperature", "mean_group_reward_std", 1, "reward std within groups higher at T 1.5"),
    ("temperature", "mean_zero_std_frac", 0, "fewer zero-std groups at T 1.5"),
    ("learning_rate", "mean_grad_norm", 1, "mean grad norm higher at 30x LR"),
    ("learning_rate", "final_reward", 0, "final reward lower at 30x LR"),
)
COLUMNS = (
    "final_reward",
    "mean_group_reward_std",
    "mean_reward_std",
    "mean_zero_std_frac",
    "mean_entropy",
    "mean_kl",
    "mean_grad_norm",
    "max_grad_norm",
    "eval_pass_at_1",
)


def run_seed(seed: int, steps: int, out: Path) -> dict[str, list[dict]]:
    grpo = Path(sys.executable).with_name("grpo")
    env = {**os.environ, "GRPO": str(grpo)}
    command = ["bash", str(ROOT / "examples" / "sweep_seeds.sh"), str(out), "--set", f"seed={seed}"]
    command += ["--set", f"trainer.max_steps={steps}"]
    subprocess.run(command, check=True, cwd=ROOT, env=env)
    runs = {
        name: json.loads((out / name / "sweep_summary.json").read_text(encoding="utf-8"))["runs"]
        for name in SWEEPS
    }
    for entries in runs.values():  # the largest logged gradient norm: the spikes a mean hides
        for entry in entries:
            metrics = Path(entry["run_dir"]) / "metrics.jsonl"
            lines = [line for line in metrics.read_text().splitlines() if line.strip()]
            norms = [json.loads(line).get("grad_norm") for line in lines]
            entry["max_grad_norm"] = max((n for n in norms if isinstance(n, (int, float))), default=None)
    return runs


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, action="append")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--plots", type=Path, default=None, help="copy each sweep's plot to this folder")
    args = parser.parse_args()
    all_held = True
    for seed in args.seed or [0]:
        with tempfile.TemporaryDirectory(prefix="sweep-seeds-") as tmp:
            started = time.perf_counter()
            runs = run_seed(seed, args.steps, Path(tmp))
            wall = time.perf_counter() - started
            if args.plots is not None:
                args.plots.mkdir(parents=True, exist_ok=True)
                for name in SWEEPS:
                    shutil.copy(
                        Path(tmp) / name / "sweep_rewards.png", args.plots / f"sweep_{name}_seed{seed}.png"
                    )
        print(f"\n### seed {seed} ({args.steps} steps per run, {wall:.0f} s for the three sweeps)\n")
        print("| sweep | run | " + " | ".join(COLUMNS) + " |")
        print("|---|---|" + "---|" * len(COLUMNS))
        for name in SWEEPS:
            for run in runs[name]:
                cells = " | ".join(_fmt(run.get(col)) for col in COLUMNS)
                print(f"| {name} | {run['name']} | {cells} |")
        print()
        for sweep, metric, higher, label in CHECKS:
            values = [run.get(metric) for run in runs[sweep]]
            held = None not in values and values[higher] > values[1 - higher]
            all_held &= held
            print(f"- {label}: {'held' if held else 'DID NOT HOLD'} ({_fmt(values[0])} vs {_fmt(values[1])})")
    return 0 if all_held else 1


if __name__ == "__main__":
    raise SystemExit(main())
