"""Tiny PRMs of each adapter's shape (built once per session) and a real local pooling server."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from types import SimpleNamespace

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

KINDS = ("qwen_prm", "math_shepherd", "token_classification")

QUESTION = "what is 12 + 7 ? give the final answer ."
STEP_TEXTS = [
    "first add the units : 2 + 7 = 9 .",
    "then keep the tens : 10 .",
    "so 12 + 7 = 19 .",
    "the final answer is 19 .",
    "check : 19 - 7 = 12 , which is right .",
    "we are done .",
]
CORPUS = [QUESTION, *STEP_TEXTS, "the numbers are 0 1 2 3 4 5 6 7 8 9 and the answer is wrong right"]


def think(*steps: str, answer: str = "19") -> str:
    return "<think>" + "\n\n".join(steps) + f"</think><answer>{answer}</answer>"


@pytest.fixture
def corpus():
    """The texts the tiny tokenizers know: a question, reasoning steps, and a completion builder."""
    return SimpleNamespace(question=QUESTION, steps=STEP_TEXTS, think=think)


@pytest.fixture(scope="session")
def tiny_prms(tmp_path_factory):
    """{kind: model directory} for the three adapter shapes, random weights, local tokenizers."""
    from grpo_reward_prm.tiny import save_tiny_prm

    root = tmp_path_factory.mktemp("prms")
    paths = {}
    for seed, kind in enumerate(KINDS):
        save_tiny_prm(root / kind, CORPUS, kind, seed=seed)
        paths[kind] = str(root / kind)
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dead_url() -> str:
    """A URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


class PoolingBehaviour:
    """What the test server does next: ``normal``, ``slow`` (seconds), ``garbage`` (a body), ``fail``
    (HTTP errors before answering), ``per_step`` (STEP-pooler rows); it counts requests in flight."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.mode = "normal"
        self.delay = 0.0
        self.body: str | None = None
        self.failures = 0
        self.status = 503
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0


def make_pooling_app(model_dir: str, kind: str, behaviour: PoolingBehaviour):
    """A Starlette app that answers vLLM's ``POST /pooling`` by running the tiny model.

    Token-classification PRMs answer one softmax row per token (``token_classify``); the
    Math-Shepherd causal LM answers like vLLM's STEP pooler over a [good, bad] classify head
    (``classifier_from_token``, plugins/prm/README.md):
    one row per step-tag position. Written from vLLM's documented request/response shape.
    """
    import torch
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
    from transformers import AutoModelForCausalLM, AutoModelForTokenClassification, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(model_dir)
    if kind == "math_shepherd":
        model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        tag_id = tokenizer.convert_tokens_to_ids("ки")
        returned = [tokenizer.convert_tokens_to_ids("+"), tokenizer.convert_tokens_to_ids("-")]
    else:
        model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
    lock = threading.Lock()

    def rows_for(ids: list[int]) -> list[list[float]]:
        with lock, torch.inference_mode():
            logits = model(input_ids=torch.tensor([ids])).logits[0].float()
        if kind == "math_shepherd":
            picked = logits[[i for i, t in enumerate(ids) if t == tag_id]][:, returned]
            return torch.softmax(picked, dim=-1).tolist()
        return torch.softmax(logits, dim=-1).tolist()

    async def pooling(request: Request) -> Response:
        behaviour.requests += 1
        behaviour.in_flight += 1
        behaviour.max_in_flight = max(behaviour.max_in_flight, behaviour.in_flight)
        try:
            await asyncio.sleep(behaviour.delay if behaviour.mode == "slow" else 0.02)
            if behaviour.mode == "garbage":
                return Response(behaviour.body or "", media_type="application/json")
            if behaviour.failures > 0:
                behaviour.failures -= 1
                return JSONResponse({"error": "overloaded"}, status_code=behaviour.status)
            payload = json.loads(await request.body())
            inputs = payload["input"]
            if inputs and isinstance(inputs[0], int):
                inputs = [inputs]
            data = []
            for index, ids in enumerate(inputs):
                rows = await asyncio.to_thread(rows_for, ids)
                data.append({"index": index, "object": "pooling", "data": rows})
            tokens = sum(len(ids) for ids in inputs)
            return JSONResponse(
                {
                    "id": f"pool-{behaviour.requests}",
                    "object": "list",
                    "created": int(time.time()),
                    "model": payload.get("model"),
                    "data": data,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                }
            )
        finally:
            behaviour.in_flight -= 1

    return Starlette(routes=[Route("/pooling", pooling, methods=["POST"])])


class LocalServer:
    """uvicorn serving an ASGI app on a free port in a background thread."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LocalServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test pooling server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def pooling_servers(tiny_prms):
    """{kind: (url, behaviour)}: one running server per tiny PRM."""
    servers, out = [], {}
    try:
        for kind in KINDS:
            behaviour = PoolingBehaviour()
            server = LocalServer(make_pooling_app(tiny_prms[kind], kind, behaviour)).__enter__()
            servers.append(server)
            out[kind] = (server.url, behaviour)
        yield out
    finally:
        for server in servers:
            server.__exit__()
