"""Step time of a tiny GRPO run on the CPU: vLLM colocate vs transformers generation, same run.

Both sides train the same config through ``grpo train`` (one subprocess each, back to back): the
harness's tiny Qwen2 at the size vLLM's CPU attention accepts (hidden 128, 4 heads: head_dim 32),
saved to a folder, the arithmetic task, the ``format`` reward; only ``vllm.mode`` differs. Printed:
the median step time after warm-up steps (TRL's ``step_time``), the wall time including set-up
(vLLM's import and engine load are paid once per run), and the ratios vLLM / HF.

Needs the CPU+vLLM venv (``make install-vllm``):

    .venv-vllm/bin/python benchmarks/vllm_colocate_step.py [--steps 20] [--completion 32]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

SHAPE = {"hidden_size": 128, "intermediate_size": 256, "num_attention_heads": 4, "num_key_value_heads": 2}
WARMUP = 3


def run(mode: str, model: Path, workdir: Path, steps: int, completion: int, batch: int) -> dict:
    config = {
        "name": f"bench-{mode}",
        "output_dir": str(workdir / mode),
        "model": {"name_or_path": str(model), "think_prefilled": True},
        "data": {"source": "arithmetic", "size": 512, "arithmetic": {"max_operand": 2}, "eval": None},
        "rewards": [{"verifier": "format", "options": {"mode": "soft", "think_prefilled": True}}],
        "trainer": {
            "max_steps": steps,
            "learning_rate": 1e-3,
            "per_device_train_batch_size": batch,
            "num_generations": 8,
            "max_completion_length": completion,
            "logging_steps": 1,
        },
        "vllm": {"mode": mode, "gpu_memory_utilization": 0.3},
    }
    config_file = workdir / f"{mode}.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.setdefault("VLLM_CACHE_ROOT", str(workdir / "vllm-cache"))
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "train", str(config_file)], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    rows = [json.loads(line) for line in (workdir / mode / "metrics.jsonl").read_text().splitlines()]
    times = [r["step_time"] for r in rows if "step_time" in r and r["step"] > WARMUP]
    lengths = [r["completions/mean_length"] for r in rows if "completions/mean_length" in r]
    return {
        "step_s": statistics.median(times),
        "wall_s": wall,
        "mean_length": statistics.mean(lengths),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--completion", type=int, default=32, help="max_completion_length")
    parser.add_argument("--batch", type=int, default=32, help="per_device_train_batch_size")
    args = parser.parse_args()
    from harness.config import load_config
    from harness.data import load_rows, task_texts
    from harness.tiny import save_tiny

    with tempfile.TemporaryDirectory(prefix="bench-vllm-") as tmp:
        workdir = Path(tmp)
        train, held_out = load_rows(load_config(None, []).data)
        save_tiny(workdir / "model", task_texts(train + held_out), SHAPE, seed=0)
        results = {
            mode: run(mode, workdir / "model", workdir, args.steps, args.completion, args.batch)
            for mode in ("off", "colocate")
        }
    hf, vl = results["off"], results["colocate"]
    print(f"tiny run: {args.steps} steps, batch {args.batch}, completions <= {args.completion} tokens")
    print(f"{'':22}{'HF generate':>14}{'vLLM colocate':>15}{'vLLM / HF':>11}")
    for label, key, digits in (("median step (s)", "step_s", 3), ("wall incl. set-up (s)", "wall_s", 1)):
        ratio = vl[key] / hf[key]
        print(f"{label:22}{hf[key]:>14.{digits}f}{vl[key]:>15.{digits}f}{ratio:>11.2f}")
    print(f"{'mean completion len':22}{hf['mean_length']:>14.1f}{vl['mean_length']:>15.1f}")


if __name__ == "__main__":
    main()
