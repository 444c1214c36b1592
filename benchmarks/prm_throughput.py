"""Throughput of the ``prm`` verifier: token-budget batching vs one sample at a time, same run.

    python benchmarks/prm_throughput.py --device cpu|cuda [--size tiny|small] [--samples N]
        [--adapter qwen_prm|math_shepherd|token_classification] [--token-budget T] [--json PATH]
        [--vllm]

Builds a PRM of the chosen adapter's shape from a config (random weights, a word-level tokenizer
trained here: nothing is downloaded) and GRPO-shaped completions: distinct reasoning chains of 2-12
paragraphs, 6-40 words each, so lengths vary as real rollouts do. Both paths run the same verifier
on the same loaded model (bf16 on CUDA, float32 on CPU):

- one-by-one: ``score_batch([sample])`` per sample (what a per-sample reward function does);
- batched: ``score_batch(all)``: length-sorted batches of at most ``--token-budget`` padded tokens.

Rounds alternate the two paths (one-by-one on an evenly spread subset of ``--baseline-samples``) so
load from other jobs hits both alike. Prints samples/s for both (median round), the speed-up per
round and the largest score difference between the two paths. Needs only torch, transformers,
grpo-core and grpo-reward-prm; with the defaults it finishes in well under two minutes.

``--vllm`` (run it with the vLLM venv's python, ``make install-vllm``) also serves the same saved
model with ``vllm serve DIR --runner pooling ...`` (float32 on CPU, bf16 on CUDA) and adds a third
path to each round: the same samples through served mode (``mode: served``, the verifier's default
request size and concurrency), with the largest difference from the local batched scores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

WORDS = (
    [
        "add",
        "the",
        "units",
        "then",
        "carry",
        "one",
        "to",
        "the",
        "tens",
        "so",
        "we",
        "get",
        "a",
        "sum",
        "of",
        "two",
        "numbers",
        "check",
        "that",
        "each",
        "term",
        "is",
        "right",
        "multiply",
        "both",
        "sides",
        "by",
        "x",
        "and",
        "divide",
        "by",
        "the",
        "common",
        "factor",
        "which",
        "gives",
        "an",
        "answer",
        "equal",
        "to",
    ]
    + [str(d) for d in range(10)]
    + ["+", "-", "=", "(", ")", ".", ","]
)


def make_samples(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        question = " ".join(rng.choices(WORDS, k=rng.randint(10, 30)))
        steps = [" ".join(rng.choices(WORDS, k=rng.randint(6, 40))) for _ in range(rng.randint(2, 12))]
        completion = "<think>" + "\n\n".join(steps) + "</think><answer>" + rng.choice(WORDS) + "</answer>"
        samples.append({"prompt": question, "completion": completion})
    return samples


def serve_arguments(model: str, adapter: str) -> list[str]:
    """The ``vllm serve`` flags for each family (plugins/prm/README.md, "Served mode")."""
    if adapter != "math_shepherd":
        return ["--runner", "pooling"]  # a *ForTokenClassification model: vLLM converts it itself
    from transformers import PreTrainedTokenizerFast

    tag = PreTrainedTokenizerFast.from_pretrained(model).convert_tokens_to_ids("ки")
    overrides = {"classifier_from_token": ["+", "-"], "method": "no_post_processing"}
    pooler = {"task": "token_classify", "tok_pooling_type": "STEP", "step_tag_id": tag}
    return ["--runner", "pooling", "--convert", "classify", "--hf-overrides", json.dumps(overrides)] + [
        "--pooler-config",
        json.dumps(pooler),
    ]


def start_vllm(model: str, adapter: str, device: str, log: Path) -> tuple[subprocess.Popen, str]:
    """``vllm serve`` of the saved PRM; returns once ``/health`` answers."""
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dtype = "float32" if device == "cpu" else "bfloat16"
    command = [str(Path(sys.executable).with_name("vllm")), "serve", model, *serve_arguments(model, adapter)]
    command += ["--dtype", dtype, "--host", "127.0.0.1", "--port", str(port)]
    env = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_CI_ENV": "1", **os.environ}
    with log.open("w") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(1)
    stop_vllm(proc)
    raise RuntimeError(f"vllm serve did not become healthy:\n{log.read_text(errors='replace')[-3000:]}")


def stop_vllm(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=40)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--size", choices=["tiny", "small"], default=None, help="default: tiny on cpu, small on cuda"
    )
    parser.add_argument(
        "--adapter", default="qwen_prm", choices=["qwen_prm", "math_shepherd", "token_classification"]
    )
    parser.add_argument("--samples", type=int, default=None, help="default: 256 on cpu, 1024 on cuda")
    parser.add_argument(
        "--token-budget", type=int, default=None, help="default: the verifier's for the device"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--baseline-samples", type=int, default=64, help="one-by-one samples per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--vllm", action="store_true", help="also measure served mode on `vllm serve`")
    args = parser.parse_args(argv)

    import torch
    from grpo_reward_prm import PRMVerifier
    from grpo_reward_prm.local import default_token_budget
    from grpo_reward_prm.tiny import save_tiny_prm

    from grpo_core import Sample

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda, but torch sees no CUDA device", file=sys.stderr)
        return 2
    size = args.size or ("small" if args.device == "cuda" else "tiny")
    count = args.samples or (1024 if args.device == "cuda" else 256)
    if args.threads:
        torch.set_num_threads(args.threads)
    budget = args.token_budget or default_token_budget(args.device)
    samples = [Sample(s) for s in make_samples(count, args.seed)]

    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        save_tiny_prm(directory, [" ".join(WORDS)], args.adapter, size=size, seed=args.seed)
        options = {"model": directory, "adapter": args.adapter, "device": args.device, "token_budget": budget}
        verifier = PRMVerifier(options)
        verifier.setup()
        setup_s = time.perf_counter() - started
        params = sum(p.numel() for p in verifier._model.model.parameters())
        lengths = [len(e.input_ids) for e in verifier._prepare(samples)]

        async def run(batch):
            return await verifier.score_batch(batch)

        async def singly(batch):
            return [(await verifier.score_batch([sample]))[0] for sample in batch]

        server, remote = None, None
        if args.vllm:
            started = time.perf_counter()
            server, url = start_vllm(directory, args.adapter, args.device, Path(directory) / "vllm.log")
            vllm_start_s = time.perf_counter() - started
            remote = PRMVerifier({"model": directory, "adapter": args.adapter, "mode": "served", "url": url})
            remote.setup()

        # One-by-one on an evenly spread subset (same length mix); rounds alternate the paths so
        # load from other jobs on a shared machine hits them alike; the median round is reported.
        subset = samples[:: max(1, count // args.baseline_samples)][: args.baseline_samples]
        rounds = []
        cpu_ratios = []  # CPU seconds per sample, one-by-one / batched: less swayed by other jobs
        served_rates: list[float] = []
        served_differences: list[float] = []
        try:
            asyncio.run(run(samples[:8]))  # warm-up: kernels, allocator
            if remote is not None:
                asyncio.run(remote.score_batch(samples[:8]))
            for _ in range(args.rounds):
                started, cpu = time.perf_counter(), time.process_time()
                together = asyncio.run(run(samples))
                batched_rate = count / (time.perf_counter() - started)
                batched_cpu = (time.process_time() - cpu) / count
                started, cpu = time.perf_counter(), time.process_time()
                alone = asyncio.run(singly(subset))
                single_rate = len(subset) / (time.perf_counter() - started)
                single_cpu = (time.process_time() - cpu) / len(subset)
                rounds.append((batched_rate / single_rate, batched_rate, single_rate))
                cpu_ratios.append(single_cpu / batched_cpu)
                if remote is not None:
                    started = time.perf_counter()
                    served = asyncio.run(remote.score_batch(samples))
                    served_rates.append(count / (time.perf_counter() - started))
                    failed = [r for r in served if r.value is None]
                    if failed:
                        raise RuntimeError(f"served mode failed on {len(failed)} samples: {failed[0]}")
                    served_differences += [abs(a.value - b.value) for a, b in zip(together, served)]
        finally:
            if server is not None:
                stop_vllm(server)
        ratio, batched_rate, single_rate = sorted(rounds)[len(rounds) // 2]
        cpu_ratio = sorted(cpu_ratios)[len(cpu_ratios) // 2]
        by_text = {s["completion"]: score for s, score in zip(samples, together)}

    differences = [abs(by_text[s["completion"]].value - score.value) for s, score in zip(subset, alone)]
    figures = {
        "device": args.device,
        "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "dtype": str(verifier._model.dtype).removeprefix("torch."),
        "adapter": args.adapter,
        "size": size,
        "parameters": params,
        "samples": count,
        "tokens_mean": sum(lengths) / len(lengths),
        "tokens_max": max(lengths),
        "token_budget": budget,
        "setup_s": setup_s,
        "rounds": args.rounds,
        "batched_samples_per_s": batched_rate,
        "one_by_one_samples": len(subset),
        "one_by_one_samples_per_s": single_rate,
        "speedup": ratio,
        "speedup_all_rounds": [r[0] for r in rounds],
        "cpu_time_speedup": cpu_ratio,
        "cpu_time_speedup_all_rounds": cpu_ratios,
        "max_score_difference": max(differences),
    }
    if served_rates:
        figures |= {
            "vllm_start_s": vllm_start_s,
            "served_samples_per_s": sorted(served_rates)[len(served_rates) // 2],
            "served_samples_per_s_all_rounds": served_rates,
            "served_max_score_difference": max(served_differences),
        }
    print(
        f"prm throughput: {args.adapter} PRM, {size} ({params / 1e6:.2f}M parameters, {figures['dtype']}) "
        f"on {figures['gpu'] or 'cpu'}; {count} samples, {figures['tokens_mean']:.0f} tokens mean, "
        f"{figures['tokens_max']} max; token budget {budget}; {torch.get_num_threads()} CPU thread(s)"
    )
    print(f"  one-by-one : {single_rate:9.1f} samples/s ({len(subset)} samples per round)")
    print(f"  batched    : {batched_rate:9.1f} samples/s ({count} samples per round)")
    spread = ", ".join(f"{r[0]:.2f}x" for r in rounds)
    print(f"  speed-up   : {ratio:9.2f}x median of {args.rounds} rounds ({spread})")
    if args.device == "cpu":
        cpu_spread = ", ".join(f"{r:.2f}x" for r in cpu_ratios)
        print(f"  CPU time   : {cpu_ratio:9.2f}x less per sample batched, median ({cpu_spread})")
    print(f"  largest score difference batched vs one-by-one: {max(differences):.1e}")
    if served_rates:
        spread = ", ".join(f"{r:.1f}" for r in served_rates)
        print(
            f"  vLLM served: {figures['served_samples_per_s']:9.1f} samples/s median ({spread}); "
            f"server up in {vllm_start_s:.0f} s"
        )
        print(f"  largest score difference served vs local batched: {max(served_differences):.1e}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
