#!/usr/bin/env bash
# The seeds' experiment on the embedded demo, on CPU in a few minutes: three small sweeps that show
#   beta (KL weight) 0.01 vs 0.5      -> the larger beta keeps the KL to the reference lower;
#   temperature 0.5 vs 1.5            -> the higher temperature gives higher entropy and reward std;
#   learning rate demo vs 30x         -> the larger one gives a larger mean gradient norm and lower reward
#                                        (at beta 1: the wrecked policy's gradient is its pull back to the
#                                        reference, which grows with beta; see benchmarks/RESULTS.md).
# Usage: bash examples/sweep_seeds.sh [ROOT_DIR] [extra grpo sweep options, e.g. --set seed=1]
# Each sweep writes ROOT_DIR/<name>/sweep_summary.json and sweep_rewards.png; runs go 2 at a time.
set -euo pipefail
root=${1:-runs/seeds}
shift || true
grpo=${GRPO:-grpo}
common=(--parallel 2 --eval --eval-samples 2 --overwrite
        --set "output_dir=$root/base" --set trainer.max_steps=40 --set trainer.logging_steps=2
        --set data.eval.size=32 "$@")
"$grpo" sweep --name beta --grid trainer.beta=0.01,0.5 "${common[@]}"
"$grpo" sweep --name temperature --grid trainer.temperature=0.5,1.5 "${common[@]}"
"$grpo" sweep --name learning_rate --grid trainer.learning_rate=1.0e-3,3.0e-2 --set trainer.beta=1.0 "${common[@]}"
