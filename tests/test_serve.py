"""``grpo serve`` over real HTTP on loopback, and the ``remote`` verifier against real servers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("aiohttp")

from grpo_core import Engine, Isolation, PluginRegistry, Sample, Score, Status, Verifier, hookimpl  # noqa: E402
from grpo_core.remote import RemoteVerifier  # noqa: E402
from harness.serve import BackgroundServer, ServeLimits  # noqa: E402


class Exact(Verifier):
    """1.0 when the completion (stripped) equals `answer`."""

    name = "exact"
    columns = ("answer",)

    def score(self, sample: Sample) -> Score:
        return Score.ok(float(sample.completion_text.strip() == str(sample["answer"])))


class Slow(Verifier):
    name = "slow"
    isolation = Isolation.ASYNC

    async def ascore(self, sample: Sample) -> Score:
        await asyncio.sleep(0.4)
        return Score.ok(1.0)


class Broken(Verifier):
    name = "broken"

    def score(self, sample: Sample) -> Score:
        raise RuntimeError("verifier bug")


class Plugin:
    @hookimpl
    def register_verifiers(self, register: Any) -> None:
        for cls in (Exact, Slow, Broken, RemoteVerifier):
            register(cls)


def registry() -> PluginRegistry:
    reg = PluginRegistry()
    reg.add_plugin(Plugin(), "serve-test")
    return reg


def engine(*rewards: dict[str, Any]) -> Engine:
    return Engine(list(rewards), registry=registry())


def post(url: str, body: Any, raw: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def server():
    with engine({"verifier": "exact", "weight": 2.0}) as eng, BackgroundServer(eng) as srv:
        yield srv


def test_get_reward_openrlhf_protocol(server: BackgroundServer) -> None:
    body = {
        "query": ["Q: 2+2? A: 4", "Q: 2+2? A: 5", "Q: 1+1? 2"],
        "prompts": ["Q: 2+2? A:", "Q: 2+2? A:", "Q: 1+1?"],
        "labels": ["4", "4", None],
    }
    status, _, reply = post(f"{server.url}/get_reward", body)
    assert status == 200
    assert reply["rewards"] == [2.0, 0.0, None]  # no label: no reward, never a silent 0
    assert reply["scores"] == reply["rewards"]
    assert reply["extra_logs"] == {"exact": [1.0, 0.0, None]}


def test_score_endpoint_health_and_metrics(server: BackgroundServer) -> None:
    rows = [{"prompt": "p", "completion": "7", "answer": "7", "id": 1}, {"completion": "8", "answer": 7}]
    status, _, reply = post(f"{server.url}/score", {"rows": rows})
    assert status == 200
    assert [r["reward"] for r in reply["rows"]] == [2.0, 0.0]
    assert reply["rows"][0]["id"] == 1 and reply["rows"][0]["status"] == {"exact": "ok"}
    assert get(f"{server.url}/health") == (200, {"status": "ok", "rewards": {"exact": 2.0}})
    status, metrics = get(f"{server.url}/metrics")
    assert status == 200
    assert metrics["server"]["rows"] == 2 and metrics["verifiers"]["exact"]["status"]["ok"] == 2


@pytest.mark.parametrize(
    ("path", "body", "raw", "code", "message"),
    [
        ("/get_reward", None, b"{not json", 400, "not valid JSON"),
        ("/get_reward", None, b"\xff\xfe", 400, "not valid JSON"),
        ("/get_reward", [1, 2], None, 422, "JSON object"),
        ("/get_reward", {"prompts": []}, None, 422, "'query' must be a list of strings"),
        ("/get_reward", {"query": ["a", 3]}, None, 422, "'query' must be a list of strings"),
        ("/get_reward", {"query": ["a"], "prompts": ["a", "b"]}, None, 422, "'prompts' has 2 items"),
        ("/get_reward", {"query": ["a"], "labels": "x"}, None, 422, "'labels' must be a list of 1"),
        ("/score", {"rows": "x"}, None, 422, "'rows'"),
        ("/score", {"rows": [1]}, None, 422, r"rows\[0\] is a int"),
        ("/score", {"rows": [{"prompt": "p"}]}, None, 422, "has no 'completion'"),
        ("/score", {"rows": [{"completion": "x"}] * 11}, None, 413, "exceed the limit of 10"),
        ("/score", {"rows": [{"completion": "x" * 5000}]}, None, 413, "exceeds the limit of 4096 bytes"),
    ],
)
def test_malformed_requests_get_clear_4xx(
    path: str, body: Any, raw: bytes | None, code: int, message: str
) -> None:
    limits = ServeLimits(max_rows=10, max_body_bytes=4096)
    with engine({"verifier": "exact"}) as eng, BackgroundServer(eng, limits) as srv:
        status, _, reply = post(f"{srv.url}{path}", body, raw)
        assert status == code
        assert re.search(message, reply["error"])
        assert get(f"{srv.url}/health")[0] == 200  # the server is still fine


def test_wrong_method_and_path(server: BackgroundServer) -> None:
    assert get(f"{server.url}/get_reward")[0] == 405
    assert get(f"{server.url}/nothing")[0] == 404


def test_chunked_body_over_the_limit_is_refused() -> None:
    """No Content-Length (chunked): the limit still holds while the body streams in."""
    with engine({"verifier": "exact"}) as eng, BackgroundServer(eng, ServeLimits(max_body_bytes=1000)) as srv:
        host, port = srv.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            chunk = b'{"rows": [' + b" " * 3000 + b"]}"
            head = "POST /score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            sock.sendall(head.encode() + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n")
            reply = sock.recv(65536).decode()
        assert reply.startswith("HTTP/1.1 413")


def test_errors_are_null_never_zero() -> None:
    with engine({"verifier": "broken"}) as eng, BackgroundServer(eng) as srv:
        status, _, reply = post(f"{srv.url}/get_reward", {"query": ["x"]})
        assert status == 200 and reply["rewards"] == [None]
        status, _, reply = post(f"{srv.url}/score", {"rows": [{"completion": "x"}]})
        assert reply["rows"][0]["status"] == {"broken": "error"} and reply["rows"][0]["reward"] is None


def test_concurrent_load_gets_every_answer_right(server: BackgroundServer) -> None:
    import aiohttp

    async def one(session: aiohttp.ClientSession, i: int) -> tuple[int, list]:
        rows = [{"completion": str(i), "answer": str(i)}, {"completion": str(i), "answer": str(i + 1)}]
        async with session.post(f"{server.url}/score", json={"rows": rows}) as resp:
            body = await resp.json()
            return resp.status, [r["reward"] for r in body["rows"]]

    async def main() -> list[tuple[int, list]]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            return await asyncio.gather(*(one(session, i) for i in range(300)))

    results = asyncio.run(main())
    assert all(status == 200 and rewards == [2.0, 0.0] for status, rewards in results)
    assert server.app_server.stats.rows == 600


def test_back_pressure_refuses_with_503_and_retry_after() -> None:
    limits = ServeLimits(max_concurrency=1, max_queue=1)
    with engine({"verifier": "slow"}) as eng, BackgroundServer(eng, limits) as srv:
        results: list[tuple[int, dict]] = []

        def call() -> None:
            status, headers, _ = post(f"{srv.url}/score", {"rows": [{"completion": "x"}]})
            results.append((status, headers))

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(status for status, _ in results)
        assert codes.count(200) >= 2 and codes.count(503) >= 1 and set(codes) <= {200, 503}
        assert all(h.get("retry-after", h.get("Retry-After")) == "1" for s, h in results if s == 503)
        assert srv.app_server.stats.rejected_busy == codes.count(503)


def test_graceful_shutdown_finishes_in_flight_requests() -> None:
    with engine({"verifier": "slow"}) as eng:
        srv = BackgroundServer(eng).__enter__()
        results: list[int] = []
        worker = threading.Thread(
            target=lambda: results.append(post(f"{srv.url}/score", {"rows": [{"completion": "x"}]})[0])
        )
        worker.start()
        time.sleep(0.15)  # the request is in flight (the verifier sleeps 0.4 s)
        srv.stop()
        worker.join()
        assert results == [200]
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{srv.url}/health", timeout=2)


# -- the remote verifier ---------------------------------------------------------------------------
def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # closed again: connection refused


def test_remote_verifier_round_robin_and_retries() -> None:
    rows = [{"completion": "4", "answer": "4"}, {"completion": "5", "answer": "4"}]
    with (
        engine({"verifier": "exact", "weight": 0.5}) as e1,
        engine({"verifier": "exact", "weight": 0.5}) as e2,
        BackgroundServer(e1) as s1,
        BackgroundServer(e2) as s2,
    ):
        if True:
            urls = [s1.url, dead_url(), s2.url]
            spec = {"verifier": "remote", "options": {"urls": urls, "batch_size": 1, "retries": 1}}
            with engine(spec) as client:
                for _ in range(3):
                    result = client.score(rows)
                    assert result.values("remote") == [0.5, 0.0]
            assert s1.app_server.stats.requests > 0 and s2.app_server.stats.requests > 0
            one = {"verifier": "remote", "options": {"urls": [s1.url], "reward": "exact"}}
            with engine(one) as client:
                assert client.score(rows).values("remote") == [1.0, 0.0]
                [missing] = client.score([{"completion": "4"}]).scores["remote"]
                assert missing.status is Status.INVALID_INPUT  # the server's status comes back


def test_remote_verifier_failures_are_errors_never_zero() -> None:
    spec = {"verifier": "remote", "options": {"urls": [dead_url(), dead_url()], "retries": 3}}
    with engine(spec) as client:
        [score] = client.score([{"completion": "x"}]).scores["remote"]
    assert score.status is Status.ERROR and score.value is None
    assert "Connect" in score.details["error"] or "connect" in score.details["error"]
    with engine({"verifier": "exact"}) as e1, BackgroundServer(e1) as srv:
        spec = {"verifier": "remote", "options": {"urls": [srv.url], "reward": "nope"}}
        with engine(spec) as client:
            [score] = client.score([{"completion": "x", "answer": "x"}]).scores["remote"]
        assert score.status is Status.ERROR and "no reward 'nope'" in score.details["error"]


@pytest.mark.parametrize(
    "reply",
    [
        {"rows": [{"reward": "1.0", "status": {"a": "ok"}}]},  # a string is not a number
        {"rows": [{"reward": True, "status": {"a": "ok"}}]},
        {"rows": []},  # wrong count
        {"rows": [{"reward": 1.0}]},  # no status
        [1],
    ],
)
def test_remote_verifier_rejects_forged_replies(reply: Any) -> None:
    """A server that breaks the protocol cannot hand out reward."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def forged(request: Any) -> JSONResponse:
        return JSONResponse(reply)

    app = Starlette(routes=[Route("/score", forged, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with engine({"verifier": "remote", "options": {"urls": [url], "retries": 0}}) as client:
            [score] = client.score([{"completion": "x"}]).scores["remote"]
        assert score.status is Status.ERROR and score.value is None
    finally:
        server.should_exit = True
        thread.join(10)


def test_remote_options_are_validated() -> None:
    from grpo_core import ConfigError

    with pytest.raises(ConfigError, match="urls"):
        engine({"verifier": "remote", "options": {"urls": ["ftp://x"]}})
    with pytest.raises(ConfigError, match="urls"):
        engine({"verifier": "remote", "options": {}})


# -- the CLI -------------------------------------------------------------------------------------------
GRPO = Path(sys.executable).with_name("grpo")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_serve_starts_scores_and_stops_on_sigterm() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [str(GRPO), "serve", "--reward", "format=1.0", "--reward", "tag_count=0.5", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, health = get(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (
                    proc.stdout.read() if proc.stdout else ""
                )
                time.sleep(0.2)
        assert status == 200 and health["rewards"] == {"format": 1.0, "tag_count": 0.5}
        good = "<think>\nwhy\n</think>\n<answer>\n4\n</answer>"
        status, _, reply = post(f"http://127.0.0.1:{port}/get_reward", {"query": [good, "no tags"]})
        assert status == 200 and reply["extra_logs"]["format"] == [1.0, 0.0]
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output


def test_cli_serve_bad_config_exits_2_before_serving() -> None:
    proc = subprocess.run(
        [
            str(GRPO),
            "serve",
            "--reward",
            "format",
            "--option",
            "format.mode=bogus",
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 2
    assert "format.mode" in proc.stderr and "Traceback" not in proc.stderr
