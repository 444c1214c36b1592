"""``grpo serve``'s app on several ASGI servers: requests/s and p95 latency at 1, 16 and 256 clients.

The same Starlette app (:func:`harness.serve.build_app`: format + tag_count, inline verifiers,
``--max-queue 4096``) runs in its own process on each server in turn:

- ``uvicorn``: uvicorn with its pure-Python stack (h11 parser, asyncio loop), today's CPU default;
  the baseline every ratio is against, measured in the same run;
- ``uvicorn-fast``: uvicorn with httptools and uvloop (``uvicorn[standard]``);
- ``hypercorn``: Hypercorn (h11, asyncio);
- ``granian``: Granian (Rust HTTP server, one worker).

The clients are aiohttp coroutines in this process, each sending a bounded number of ``/get_reward``
requests of ``--rows`` queries over loopback, then as many ``GET /health`` (no scoring: what the
server itself costs per request). Servers are measured in interleaved rounds (every
server once per round) and each figure is the median over rounds, so slow drift in the machine's
load does not favour whichever server ran first. A server that is not installed is reported and
skipped.

    .venv/bin/python benchmarks/serve_stacks.py [--rounds 3] [--rows 8] [--requests-per-client 10]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from serve_throughput import body, free_port, load, p95

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
REWARDS = [{"verifier": "format", "weight": 1.0}, {"verifier": "tag_count", "weight": 0.5}]
#: server -> modules it needs
STACKS = {
    "uvicorn": ["uvicorn"],
    "uvicorn-fast": ["uvicorn", "httptools", "uvloop"],
    "hypercorn": ["hypercorn"],
    "granian": ["granian"],
}
BASELINE = "uvicorn"
LEVELS = (1, 16, 256)


def make_app():
    """The app ``grpo serve --reward format=1.0 --reward tag_count=0.5 --max-queue 4096`` serves."""
    from grpo_core import Engine
    from harness.serve import RewardServer, ServeLimits, build_app

    engine = Engine(REWARDS)
    engine.start().check_setup()
    return build_app(RewardServer(engine, ServeLimits(max_queue=4096)))


def run_server(stack: str, port: int) -> None:
    """Serve :func:`make_app` on ``stack`` until killed (this process is the server)."""
    if stack in ("uvicorn", "uvicorn-fast"):
        import uvicorn

        http, loop = ("h11", "asyncio") if stack == "uvicorn" else ("httptools", "uvloop")
        uvicorn.run(
            make_app(), host=HOST, port=port, http=http, loop=loop, backlog=4096, log_level="warning",
            access_log=False,
        )  # fmt: skip
    elif stack == "hypercorn":
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"{HOST}:{port}"]
        config.backlog = 4096
        config.accesslog = None
        config.loglevel = "WARNING"
        asyncio.run(serve(make_app(), config))
    elif stack == "granian":
        from granian import Granian

        # the worker process imports this module by name (PYTHONPATH holds benchmarks/) and builds the app
        Granian(
            "serve_stacks:make_app", address=HOST, port=port, interface="asgi", workers=1, factory=True,
            backlog=4096, log_enabled=False,
        ).serve()  # fmt: skip
    else:
        raise SystemExit(f"unknown stack {stack!r}; known: {sorted(STACKS)}")


def missing(stack: str) -> list[str]:
    return [module for module in STACKS[stack] if importlib.util.find_spec(module) is None]


def start(stack: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__)), "--serve", stack, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True,
    )  # fmt: skip
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).read()
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                why = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                raise SystemExit(f"{stack} did not start: {why}") from None
            time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    """The server and any worker processes it started (its own session)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            continue


async def load_health(url: str, clients: int, per_client: int) -> tuple[float, float, int]:
    """``GET /health`` (no scoring, a tiny reply): what the server itself costs per request."""
    import aiohttp

    latencies: list[float] = []
    failures = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        for _ in range(per_client):
            started = time.perf_counter()
            async with session.get(f"{url}/health") as resp:
                await resp.read()
                failures += resp.status != 200
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return clients * per_client / elapsed, p95(latencies) * 1000, failures


def measure(url: str, rows: int, per_client: int) -> dict[str, dict[int, dict[str, float]]]:
    # warm-up: connections, code paths, the engine's first batch
    for k in range(20):
        request = urllib.request.Request(
            f"{url}/get_reward", json.dumps(body(rows, k)).encode(), {"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=30).read()
    figures: dict[str, dict[int, dict[str, float]]] = {"get_reward": {}, "health": {}}
    for clients in LEVELS:
        requests = per_client * 20 if clients == 1 else per_client
        for endpoint in figures:
            if endpoint == "get_reward":
                rps, p95_ms, failed = asyncio.run(load(url, clients, requests, rows))
            else:
                rps, p95_ms, failed = asyncio.run(load_health(url, clients, requests))
            figures[endpoint][clients] = {
                "requests": clients * requests, "requests_per_s": rps, "p95_ms": p95_ms, "failed": failed
            }  # fmt: skip
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; figures are medians")
    parser.add_argument("--rows", type=int, default=8, help="queries per request")
    parser.add_argument("--requests-per-client", type=int, default=10, help="x20 at 1 client")
    parser.add_argument("--stacks", default=",".join(STACKS), help="comma-separated, baseline first")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_server(args.serve, args.port)
        return

    stacks = [s.strip() for s in args.stacks.split(",") if s.strip()]
    unknown = [s for s in stacks if s not in STACKS]
    if unknown or not stacks or stacks[0] != BASELINE:
        raise SystemExit(f"--stacks: known {sorted(STACKS)}, {BASELINE} first; got {stacks}")
    for stack in list(stacks):
        if missing(stack):
            print(f"skipping {stack}: not installed ({', '.join(missing(stack))})")
            stacks.remove(stack)
    print(f"load average before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; rounds: {args.rounds}")
    runs: dict[str, list[dict[str, dict[int, dict[str, float]]]]] = {s: [] for s in stacks}
    for round_index in range(args.rounds):
        order = stacks[round_index % len(stacks) :] + stacks[: round_index % len(stacks)]  # rotate
        for stack in order:
            proc, url = start(stack)
            try:
                runs[stack].append(measure(url, args.rows, args.requests_per_client))
            finally:
                stop(proc)
            print(f"round {round_index + 1}: {stack} done (load {os.getloadavg()[0]:.2f})", flush=True)

    def median(stack: str, endpoint: str, clients: int, key: str) -> float:
        return statistics.median(run[endpoint][clients][key] for run in runs[stack])

    results: dict[str, dict] = {}
    for endpoint in ("get_reward", "health"):
        what = f"POST /get_reward, {args.rows} rows" if endpoint == "get_reward" else "GET /health"
        print(f"\n{what}: medians over {args.rounds} rounds")
        print(
            f"{'server':<13} {'clients':>7} {'requests':>9} {'req/s':>8} {'p95 ms':>9} "
            f"{'req/s vs uvicorn':>17} {'p95 vs uvicorn':>15} {'failed':>7}"
        )
        for stack in stacks:
            table = results.setdefault(endpoint, {}).setdefault(stack, {})
            for clients in LEVELS:
                rps = median(stack, endpoint, clients, "requests_per_s")
                p95_ms = median(stack, endpoint, clients, "p95_ms")
                base_rps = median(BASELINE, endpoint, clients, "requests_per_s")
                base_p95 = median(BASELINE, endpoint, clients, "p95_ms")
                failed = sum(run[endpoint][clients]["failed"] for run in runs[stack])
                requests = runs[stack][0][endpoint][clients]["requests"]
                table[clients] = {
                    "requests": requests, "requests_per_s": rps, "p95_ms": p95_ms, "failed": failed,
                    "rps_ratio": rps / base_rps, "p95_ratio": p95_ms / base_p95,
                    "rounds": [run[endpoint][clients] for run in runs[stack]],
                }  # fmt: skip
                print(
                    f"{stack:<13} {clients:>7} {requests:>9} {rps:>8.0f} {p95_ms:>9.1f} "
                    f"{rps / base_rps:>16.2f}x {p95_ms / base_p95:>14.2f}x {failed:>7}"
                )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"rows_per_request": args.rows, "servers": results}, indent=2))


if __name__ == "__main__":
    main()
