"""``grpo serve`` throughput on loopback: requests/s and p95 latency at 1, 16 and 256 clients.

The server runs as a real ``grpo serve`` process (format + tag_count, inline verifiers); the clients
are aiohttp coroutines in this process, each sending a bounded number of ``/get_reward`` requests of
``--rows`` queries. The baseline, measured in the same run, is the same batches scored by an
in-process Engine with no HTTP: the ratio is what the HTTP hop costs.

    .venv/bin/python benchmarks/serve_throughput.py [--rows 8] [--requests-per-client 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

GOOD = "<think>\nadd them\n</think>\n<answer>\n{n}\n</answer>"
REWARDS = ["format=1.0", "tag_count=0.5"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def body(rows: int, seed: int) -> dict:
    queries = [
        ("Q: add. " + GOOD.format(n=seed * rows + i)) if i % 3 else f"Q: add. {i}" for i in range(rows)
    ]
    return {"query": queries, "prompts": ["Q: add."] * rows}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


async def load(url: str, clients: int, per_client: int, rows: int) -> tuple[float, float, int]:
    import aiohttp

    latencies: list[float] = []
    failures = 0

    async def client(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal failures
        for k in range(per_client):
            started = time.perf_counter()
            async with session.post(f"{url}/get_reward", json=body(rows, index * per_client + k)) as resp:
                reply = await resp.json()
                if resp.status != 200 or len(reply["rewards"]) != rows:
                    failures += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session, i) for i in range(clients)))
        elapsed = time.perf_counter() - started
    return clients * per_client / elapsed, p95(latencies) * 1000, failures


def baseline(rows: int, batches: int) -> float:
    """Batches per second through an in-process Engine (no HTTP), same rows."""
    from grpo_core import Engine

    specs = [{"verifier": r.split("=")[0], "weight": float(r.split("=")[1])} for r in REWARDS]
    with Engine(specs) as engine:
        data = [body(rows, k) for k in range(batches)]
        samples = [
            [{"prompt": p, "completion": q[len(p) :]} for q, p in zip(b["query"], b["prompts"])] for b in data
        ]
        engine.score(samples[0])
        started = time.perf_counter()
        for batch in samples:
            engine.score(batch)
        return batches / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=8, help="queries per request")
    parser.add_argument("--requests-per-client", type=int, default=10)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "harness", "serve", "--port", str(port), "--max-queue", "4096"]
    cmd += [arg for r in REWARDS for arg in ("--reward", r)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    why = server.stderr.read().decode() if server.stderr else ""
                    raise SystemExit(f"server did not start: {why}") from None
                time.sleep(0.2)
        base = baseline(args.rows, 500)
        print(f"baseline: in-process Engine, {args.rows} rows per batch: {base:.0f} batches/s")
        results = {"rows_per_request": args.rows, "baseline_batches_per_s": base, "levels": {}}
        print(
            f"{'clients':>8} {'requests':>9} {'req/s':>9} {'p95 ms':>9} {'vs in-process':>14} {'failed':>7}"
        )
        for clients in (1, 16, 256):
            per_client = args.requests_per_client if clients > 1 else args.requests_per_client * 20
            rps, lat, failed = asyncio.run(load(url, clients, per_client, args.rows))
            results["levels"][clients] = {"requests_per_s": rps, "p95_ms": lat, "failed": failed}
            line = f"{clients:>8} {clients * per_client:>9} {rps:>9.0f} {lat:>9.1f} {rps / base:>13.2f}x"
            print(f"{line} {failed:>7}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
