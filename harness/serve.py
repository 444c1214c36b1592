"""``grpo serve``: verifiers over HTTP (Starlette on uvicorn), for OpenRLHF, verl and CPU nodes.

uvicorn runs on httptools and uvloop (the ``serve`` extra installs them; without them it falls back
to h11 and asyncio). Chosen by measurement against Hypercorn and Granian for this same app:
``benchmarks/serve_stacks.py``, figures in ``benchmarks/RESULTS.md``.

Endpoints:

- ``POST /get_reward``: OpenRLHF's remote reward protocol. Body ``{"query": [...], "prompts": [...],
  "labels": [...]}`` (each query is the prompt followed by the response; the label goes to the
  ``label_column``) -> ``{"rewards": [...], "scores": [...], "extra_logs": {reward: [...]}}``. A row
  whose verifiers gave no value (error, timeout, not applicable) gets ``null``, never a silent 0;
  ``--on-error`` / ``--on-timeout`` choose a value instead.
- ``POST /score``: ``{"rows": [scoring rows]}`` -> ``{"rows": [rows with rewards, reward, status,
  details]}`` (the ``grpo score`` format).
- ``GET /health``, ``GET /metrics`` (per-verifier engine figures and the server's counters).

Back-pressure: at most ``max_concurrency`` batches score at once and ``max_queue`` wait; beyond that
a request is refused at once with 503 and ``Retry-After`` (the client retries elsewhere). Bodies
over ``max_body_bytes`` get 413, more than ``max_rows`` rows 413, malformed JSON 400 and a wrong
shape 422, each with ``{"error": "..."}`` naming the field.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import signal
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from grpo_core.engine import Engine


@dataclass(frozen=True)
class ServeLimits:
    """What one server accepts; the defaults suit a trainer's batch of a few thousand rows."""

    max_concurrency: int = 8
    max_queue: int = 256
    max_body_bytes: int = 64 * 1024 * 1024
    max_rows: int = 65536
    label_column: str = "answer"


class HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, dict(headers or {})


@dataclass
class ServerStats:
    requests: int = 0
    rows: int = 0
    rejected_busy: int = 0
    client_errors: int = 0
    in_flight: int = 0
    waiting: int = 0
    started: float = field(default_factory=time.time)
    latencies: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        recent = sorted(self.latencies[-4096:])
        p = (
            (lambda q: recent[min(len(recent) - 1, int(q * len(recent)))] * 1000)
            if recent
            else (lambda q: None)
        )
        return {
            "requests": self.requests,
            "rows": self.rows,
            "rejected_busy": self.rejected_busy,
            "client_errors": self.client_errors,
            "in_flight": self.in_flight,
            "waiting": self.waiting,
            "uptime_s": round(time.time() - self.started, 3),
            "latency_p50_ms": p(0.5),
            "latency_p95_ms": p(0.95),
        }


class RewardServer:
    """The engine behind the HTTP endpoints, with the admission control."""

    def __init__(self, engine: Engine, limits: ServeLimits | None = None) -> None:
        self.engine = engine
        self.limits = limits or ServeLimits()
        self.stats = ServerStats()
        self._slots: asyncio.Semaphore | None = None

    # -- admission ---------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limits.max_concurrency)
        if self._slots.locked() and self.stats.waiting >= self.limits.max_queue:
            self.stats.rejected_busy += 1
            raise HTTPError(
                503, "server busy: all scoring slots and the queue are full", {"Retry-After": "1"}
            )
        self.stats.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.stats.waiting -= 1
        self.stats.in_flight += 1
        try:
            yield
        finally:
            self.stats.in_flight -= 1
            self._slots.release()

    async def read_json(self, request: Request) -> Any:
        declared = request.headers.get("content-length")
        limit = self.limits.max_body_bytes
        if declared is not None:
            if not declared.isdigit():
                raise HTTPError(400, "Content-Length is not a number")
            if int(declared) > limit:
                raise HTTPError(413, f"body of {declared} bytes exceeds the limit of {limit} bytes")
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPError(413, f"body exceeds the limit of {limit} bytes")
                chunks.append(chunk)
        except ClientDisconnect:
            raise HTTPError(400, "client disconnected before sending the whole body") from None
        try:
            return json.loads(b"".join(chunks))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HTTPError(400, f"body is not valid JSON: {exc}") from None

    def check_rows(self, count: int) -> None:
        if count > self.limits.max_rows:
            raise HTTPError(413, f"{count} rows exceed the limit of {self.limits.max_rows} per request")

    # -- endpoints -----------------------------------------------------------------------------
    async def get_reward(self, body: Any) -> dict[str, Any]:
        """OpenRLHF's protocol: queries are prompt + response; labels go to ``label_column``."""
        if not isinstance(body, dict):
            raise HTTPError(422, "body must be a JSON object with 'query' (and 'prompts', 'labels')")
        queries = _string_list(body, "query", required=True)
        self.check_rows(len(queries))
        prompts = _string_list(body, "prompts", required=False, length=len(queries))
        labels = body.get("labels")
        if labels is not None and (not isinstance(labels, list) or len(labels) != len(queries)):
            raise HTTPError(422, f"'labels' must be a list of {len(queries)} values, one per query")
        rows = []
        for i, query in enumerate(queries):
            prompt = prompts[i] if prompts is not None else ""
            completion = query[len(prompt) :] if prompt and query.startswith(prompt) else query
            row: dict[str, Any] = {"prompt": prompt, "completion": completion}
            if labels is not None and labels[i] is not None:
                row[self.limits.label_column] = labels[i]
            rows.append(row)
        result = await self._score(rows)
        rewards = result.rewards
        return {
            "rewards": rewards,
            "scores": rewards,
            "extra_logs": {name: result.values(name) for name in self.engine.names},
        }

    async def score_rows(self, body: Any) -> dict[str, Any]:
        rows = body.get("rows") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise HTTPError(422, "body must be a JSON object with 'rows': a list of scoring rows")
        self.check_rows(len(rows))
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise HTTPError(422, f"rows[{i}] is a {type(row).__name__}; expected an object")
            if "completion" not in row:
                raise HTTPError(422, f"rows[{i}] has no 'completion'")
        result = await self._score(rows)
        return {"rows": [{**row, **result.row_fields(i)} for i, row in enumerate(rows)]}

    async def _score(self, rows: list[dict[str, Any]]) -> Any:
        async with self.slot():
            result = await self.engine.score_async(rows)
        self.stats.rows += len(rows)
        return result

    def metrics(self) -> dict[str, Any]:
        return {
            "server": self.stats.as_dict(),
            "limits": self.limits.__dict__,
            "verifiers": {name: m.summary() for name, m in self.engine.metrics.items()},
        }


def _string_list(
    body: dict[str, Any], key: str, *, required: bool, length: int | None = None
) -> list[str] | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise HTTPError(422, f"'{key}' must be a list of strings")
    if length is not None and len(value) != length:
        raise HTTPError(422, f"'{key}' has {len(value)} items; 'query' has {length}")
    return value


def _json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    text = json.dumps(payload, allow_nan=False, default=_jsonable)
    return Response(text, status_code=status, media_type="application/json", headers=dict(headers or {}))


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def build_app(server: RewardServer) -> Starlette:
    """The ASGI app; the engine's lifetime is the caller's (see :func:`serve`)."""

    def endpoint(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            started = time.perf_counter()
            server.stats.requests += 1
            try:
                payload = await handler(await server.read_json(request))
            except HTTPError as exc:
                if exc.status < 500:
                    server.stats.client_errors += 1
                return _json_response({"error": exc.message}, exc.status, exc.headers)
            server.stats.latencies.append(time.perf_counter() - started)
            if len(server.stats.latencies) > 8192:
                del server.stats.latencies[:4096]
            return _json_response(payload)

        return run

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "rewards": server.engine.weights})

    async def metrics(request: Request) -> Response:
        return _json_response(server.metrics())

    routes = [
        Route("/get_reward", endpoint(server.get_reward), methods=["POST"]),
        Route("/score", endpoint(server.score_rows), methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def serve(
    engine: Engine,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    limits: ServeLimits | None = None,
    graceful_s: float = 30.0,
    log_level: str = "info",
) -> None:
    """Run until SIGINT/SIGTERM: stop accepting, let in-flight batches finish (up to
    ``graceful_s``), then close the engine's workers."""
    import uvicorn

    app = build_app(RewardServer(engine, limits))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=graceful_s,
        access_log=False,
        limit_concurrency=None,
    )

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            """Shut down gracefully on SIGINT/SIGTERM, then exit 0 (not re-raised as uvicorn does):
            a drained server stopping is the normal end for a supervisor."""
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    try:
        Server(config).run()
    finally:
        engine.close()


class BackgroundServer:
    """A server on a free loopback port in a background thread (tests, benchmarks, notebooks)."""

    def __init__(self, engine: Engine, limits: ServeLimits | None = None, graceful_s: float = 30.0) -> None:
        self.app_server = RewardServer(engine, limits)
        self.graceful_s = graceful_s
        self.url = ""

    def __enter__(self) -> BackgroundServer:
        import socket
        import threading

        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            build_app(self.app_server),
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=self.graceful_s,
            backlog=4096,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the reward server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Graceful: stop accepting, finish in-flight requests, return when the server is down."""
        self.server.should_exit = True
        self._thread.join(timeout=self.graceful_s + 10)

    def __exit__(self, *exc: object) -> None:
        self.stop()
