"""GPU check: the harness on CUDA in bf16, HF generation (vLLM is not on the lent machines).

Two cases, each in its own process so that peak-memory figures do not mix:

* ``tiny-bf16``: the embedded default (``grpo train`` with no config) on CUDA, bf16 mixed precision;
* ``qwen2-0.5b-bf16``: the same task and harness with a random-init Qwen2 of ~0.5B parameters
  (hidden 1024, 28 layers, 16 heads, 2 KV heads, MLP 4864; the tiny word-level tokenizer, so the
  embeddings are small), a few steps.

Per case it prints and saves: parameters, step time (median over the steps after the first, the
first one separately: CUDA kernels warm up there), peak GPU memory (allocated and reserved by
torch's allocator), wall time and the first/last logged reward. ``--out DIR`` writes
``gpu_check.json`` and ``gpu_check.md`` there.

    python benchmarks/gpu_check.py --out /tmp/gpu          # on a CUDA machine
    python benchmarks/gpu_check.py --allow-cpu --steps 2   # dry run of the script itself on CPU
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

QWEN2_05B = [
    "model.tiny.hidden_size=1024",
    "model.tiny.intermediate_size=4864",
    "model.tiny.num_hidden_layers=28",
    "model.tiny.num_attention_heads=16",
    "model.tiny.num_key_value_heads=2",
    "trainer.learning_rate=1.0e-5",
    "trainer.per_device_train_batch_size=32",
    "trainer.num_generations=8",
    "trainer.max_completion_length=32",
    "trainer.logging_steps=1",
    "cold_start.steps=0",  # the path and its cost, not learning: no SFT stage, no before/after eval
    "final_eval=false",
]

# name -> (overrides, default number of steps; None: the config's own)
CASES: dict[str, tuple[list[str], int | None]] = {
    "tiny-bf16": ([], None),
    "qwen2-0.5b-bf16": (QWEN2_05B, 8),
}


def step_timer():
    """A TrainerCallback that records each optimiser step's wall time (CUDA synchronised)."""
    from transformers import TrainerCallback

    def sync() -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self._start = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            sync()
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            sync()
            self.times.append(time.perf_counter() - self._start)

    return StepTimer()


def run_case(name: str, steps: int | None, allow_cpu: bool) -> dict[str, Any]:
    """Train one case in this process and return its figures."""
    import torch

    from harness.config import load_config
    from harness.train import preflight, run_training

    on_cuda = torch.cuda.is_available()
    if not on_cuda and not allow_cpu:
        raise SystemExit("gpu_check: no CUDA device (use --allow-cpu for a dry run of the script)")
    overrides, _ = CASES[name]
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        settings = [*overrides, f"output_dir={tmp}/{name}", f"name={name}"]
        if steps is not None:
            settings.append(f"trainer.max_steps={steps}")
        if on_cuda:
            settings.append("trainer.bf16=true")
        config = load_config(None, settings)
        timer = step_timer()
        if on_cuda:
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        summary = run_training(preflight(config), extra_callbacks=[timer])
        wall = time.perf_counter() - started
        model_dir = Path(tmp) / name / "final"
        params = _count_parameters(model_dir)
    later = timer.times[1:] or timer.times
    return {
        "case": name,
        "device": torch.cuda.get_device_name(0) if on_cuda else "cpu",
        "torch": torch.__version__,
        "parameters": params,
        "steps": len(timer.times),
        "first_step_s": round(timer.times[0], 4) if timer.times else None,
        "median_step_s": round(statistics.median(later), 4) if later else None,
        "mean_step_s": round(statistics.fmean(later), 4) if later else None,
        "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if on_cuda else None,
        "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 3) if on_cuda else None,
        "wall_s": round(wall, 1),
        "reward_first": summary["first"].get("reward"),
        "reward_last": summary["last"].get("reward"),
        "eval_pass_at_1": {
            label: result.get("pass_at_k", {}).get("pass@1")
            for label, result in summary.get("eval", {}).items()
        },
    }


def _count_parameters(model_dir: Path) -> int | None:
    from safetensors import safe_open

    total = 0
    files = sorted(model_dir.glob("*.safetensors"))
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open has no __iter__
                total += _numel(handle, key)
    return total or None


def _numel(handle: Any, key: str) -> int:
    count = 1
    for size in handle.get_slice(key).get_shape():
        count *= size
    return count


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| case | device | params | steps | first step s | median step s | peak alloc GiB "
        "| peak reserved GiB | wall s | reward first -> last | eval pass@1 before -> after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['case']} | failed: {r['error']} ||||||||||")
            continue
        params = f"{r['parameters'] / 1e6:.1f}M" if r["parameters"] else "?"
        reward = f"{_fmt(r['reward_first'])} -> {_fmt(r['reward_last'])}"
        lines.append(
            f"| {r['case']} | {r['device']} | {params} | {r['steps']} | {r['first_step_s']} | "
            f"{r['median_step_s']} | {r['peak_allocated_gib']} | {r['peak_reserved_gib']} | "
            f"{r['wall_s']} | {reward} | {_pass(r.get('eval_pass_at_1') or {})} |"
        )
    return "\n".join(lines)


def _pass(evaluation: dict[str, float | None]) -> str:
    if not evaluation:
        return "n/a"
    return f"{_fmt(evaluation.get('before'))} -> {_fmt(evaluation.get('after'))}"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", choices=sorted(CASES), action="append", help="default: every case")
    parser.add_argument("--steps", type=int, default=None, help="override each case's number of steps")
    parser.add_argument("--allow-cpu", action="store_true", help="dry run without CUDA")
    parser.add_argument("--out", type=Path, default=None, help="folder for gpu_check.json/.md")
    parser.add_argument("--timeout", type=float, default=420, help="seconds per case")
    parser.add_argument("--child-json", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cases = args.case or list(CASES)
    if args.child_json is not None:  # one case in this process
        name = cases[0]
        result = run_case(name, args.steps or CASES[name][1], args.allow_cpu)
        args.child_json.write_text(json.dumps(result), encoding="utf-8")
        return 0
    results = []
    for name in cases:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            child_json = Path(handle.name)
        command = [sys.executable, __file__, "--case", name, "--child-json", str(child_json)]
        if args.steps:
            command += ["--steps", str(args.steps)]
        if args.allow_cpu:
            command.append("--allow-cpu")
        print(f"== {name}", flush=True)
        try:
            proc = subprocess.run(command, cwd=ROOT, timeout=args.timeout, env=os.environ.copy())
            if proc.returncode == 0:
                results.append(json.loads(child_json.read_text(encoding="utf-8")))
            else:
                results.append({"case": name, "error": f"exit {proc.returncode}"})
        except subprocess.TimeoutExpired:
            results.append({"case": name, "error": f"timeout after {args.timeout:.0f}s"})
        finally:
            child_json.unlink(missing_ok=True)
        print(json.dumps(results[-1]), flush=True)
    table = markdown(results)
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_check.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
        (args.out / "gpu_check.md").write_text(table + "\n", encoding="utf-8")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
