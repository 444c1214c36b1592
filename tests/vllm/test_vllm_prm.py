"""The ``prm`` verifier's served mode against a real vLLM pooling server on the CPU.

Tiny PRMs of two families (random weights, head_dim 32, a tokenizer trained here;
``grpo_reward_prm.tiny``) are saved to folders and served by ``vllm serve DIR --runner pooling
--dtype float32`` as a user would serve the real ones:

- ``qwen_prm`` (Qwen2.5-Math-PRM's shape, ``Qwen2ForTokenClassification`` with 2 labels): vLLM
  converts it to a token classifier by itself; ``/pooling`` answers one softmax row per token;
- ``math_shepherd`` (a causal LM): ``--convert classify`` with ``classifier_from_token: [+, -]``
  (the LM head's good/bad rows as a 2-label head) and a STEP pooler at the step tag; ``/pooling``
  answers one softmax([good, bad]) row per step.

What is checked:

- ``grpo score --reward prm`` in served mode gives the step scores that HF transformers computes
  from the same model's logits, written out by hand (float32 on both sides: tolerance 1e-4 on the
  per-step scores, which ``details`` rounds to 4 decimals, and 1e-5 on the reward);
- a server killed while a request is in flight gives status ``error`` (no value), never a 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(900)

QUESTION = "what is 12 + 7 ? give the final answer ."
STEPS = [
    "first add the units : 2 + 7 = 9 .",
    "then keep the tens : 10 .",
    "so 12 + 7 = 19 .",
    "the final answer is 19 .",
    "check : 19 - 7 = 12 , which is right .",
]
CORPUS = [QUESTION, *STEPS, "the numbers are 0 1 2 3 4 5 6 7 8 9 and the answer is wrong right"]
# float32 in vLLM and in HF: the two agree to ~1e-7 on this model; details round to 4 decimals.
STEP_TOL = 1e-4
REWARD_TOL = 1e-5
KINDS = ("qwen_prm", "math_shepherd")


def think(steps: list[str]) -> str:
    return "<think>" + "\n\n".join(steps) + "</think><answer>19</answer>"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_arguments(model: Path, kind: str) -> list[str]:
    """What a user passes to ``vllm serve`` for each family (plugins/prm/README.md)."""
    arguments = ["--runner", "pooling", "--dtype", "float32"]
    if kind == "math_shepherd":
        from transformers import PreTrainedTokenizerFast

        tag = PreTrainedTokenizerFast.from_pretrained(model).convert_tokens_to_ids("ки")
        overrides = {"classifier_from_token": ["+", "-"], "method": "no_post_processing"}
        pooler = {"task": "token_classify", "tok_pooling_type": "STEP", "step_tag_id": tag}
        arguments += ["--convert", "classify", "--hf-overrides", json.dumps(overrides)]
        arguments += ["--pooler-config", json.dumps(pooler)]
    return arguments


class PoolingServer:
    """``vllm serve DIR --runner pooling`` in its own process group, its output in a log file."""

    def __init__(self, model: Path, kind: str, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [
            str(Path(sys.executable).with_name("vllm")),
            "serve",
            str(model),
            *serve_arguments(model, kind),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_healthy(self, timeout: float = 400) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"vllm serve exited {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(1)
        self.stop()
        raise AssertionError(f"vllm serve not healthy after {timeout}s:\n{self.tail()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, signum: int) -> None:
        os.killpg(self.proc.pid, signum)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(timeout=40)
        with contextlib.suppress(ProcessLookupError):  # engine processes left in the group
            os.killpg(self.proc.pid, signal.SIGKILL)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


@pytest.fixture(scope="module")
def prm_dirs(tmp_path_factory) -> dict[str, Path]:
    from grpo_reward_prm.tiny import save_tiny_prm

    paths = {}
    for seed, kind in enumerate(KINDS, start=3):
        paths[kind] = tmp_path_factory.mktemp(kind)
        model, _ = save_tiny_prm(paths[kind], CORPUS, kind, seed=seed)
        head = model.config.hidden_size // model.config.num_attention_heads
        assert head >= 32 and not model.config.tie_word_embeddings  # what vLLM's CPU build needs
    return paths


@pytest.fixture(scope="module")
def pooling_server(prm_dirs, vllm_env, tmp_path_factory):
    """A running server per kind; a test that killed the previous one gets a fresh one."""
    logs = tmp_path_factory.mktemp("vllm-prm-logs")
    servers: dict[str, PoolingServer] = {}
    started: list[PoolingServer] = []

    def get(kind: str) -> PoolingServer:
        if kind not in servers or not servers[kind].alive():
            log = logs / f"vllm-{kind}-{len(started)}.log"
            servers[kind] = PoolingServer(prm_dirs[kind], kind, vllm_env, log)
            started.append(servers[kind])
            servers[kind].wait_healthy()
        return servers[kind]

    try:
        yield get
    finally:
        for server in started:
            server.stop()


def reference_step_scores(model_dir: Path, kind: str, question: str, steps: list[str]) -> list[float]:
    """Each family's recipe by hand in HF transformers, from the model's raw logits."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForTokenClassification, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(model_dir)
    if kind == "qwen_prm":
        # Qwen2.5-Math-PRM: the chat with <extra_0> after each step; P(label 1) at those tokens.
        from grpo_reward_prm.adapters import QWEN_SYSTEM_PROMPT

        text = (
            f"<|im_start|>system\n{QWEN_SYSTEM_PROMPT}<|im_end|>\n"
            f"<|im_start|>user\n{question}<|im_end|>\n"
            "<|im_start|>assistant\n" + "".join(s + "<extra_0>" for s in steps) + "<|im_end|>\n"
        )
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        marker, columns = tokenizer.convert_tokens_to_ids("<extra_0>"), [1]
        model = AutoModelForTokenClassification.from_pretrained(model_dir, dtype=torch.float32)
    else:
        # Math-Shepherd: "question step1 ки\nstep2 ки"; softmax over the "+" and "-" logits at ки.
        ids = tokenizer(f"{question} " + "\n".join(f"{s} ки" for s in steps))["input_ids"]
        marker = tokenizer.convert_tokens_to_ids("ки")
        columns = [tokenizer.convert_tokens_to_ids("+"), tokenizer.convert_tokens_to_ids("-")]
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    positions = [i for i, t in enumerate(ids) if t == marker]
    assert len(positions) == len(steps)
    with torch.inference_mode():
        logits = model.eval()(input_ids=torch.tensor([ids])).logits[0]
    if kind == "qwen_prm":
        return torch.softmax(logits[positions], dim=-1)[:, 1].tolist()
    return torch.softmax(logits[positions][:, columns], dim=-1)[:, 0].tolist()


@pytest.mark.parametrize("kind", KINDS)
def test_grpo_score_served_by_vllm_matches_the_model_logits(
    tmp_path, prm_dirs, pooling_server, vllm_env, kind
):
    server = pooling_server(kind)
    chains = [STEPS[:1], STEPS[1:3], STEPS[:4], STEPS[2:5], STEPS]
    rows = [{"prompt": QUESTION, "completion": think(chain)} for chain in chains]
    rows.append({"prompt": QUESTION, "completion": "19"})  # no reasoning: not applicable
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    options = {"model": prm_dirs[kind], "adapter": kind, "mode": "served", "url": server.url}
    options["request_size"] = 2
    command = [str(Path(sys.executable).with_name("grpo")), "score", "rows.jsonl", "--reward", "prm"]
    command += [arg for key, value in options.items() for arg in ("--option", f"prm.{key}={value}")]
    done = subprocess.run(
        [*command, "-o", "scored.jsonl"],
        cwd=tmp_path,
        env=vllm_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    scored = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines()]
    assert len(scored) == len(rows)
    distinct = set()
    for row, chain in zip(scored, chains):
        assert row["status"]["prm"] == "ok", row
        expected = reference_step_scores(prm_dirs[kind], kind, QUESTION, chain)
        assert row["details"]["prm"]["step_scores"] == pytest.approx(expected, abs=STEP_TOL)
        assert row["rewards"]["prm"] == pytest.approx(min(expected), abs=REWARD_TOL)
        distinct.update(round(s, 3) for s in expected)
    assert len(distinct) > len(STEPS)  # the scores differ by step and context: a real comparison
    assert scored[-1]["status"]["prm"] == "not_applicable" and scored[-1]["rewards"]["prm"] is None
    # 5 scored inputs, 2 per request: vLLM answered 3 requests (nothing came from elsewhere).
    assert server.tail().count('POST /pooling HTTP/1.1" 200') == 3, server.tail()


def test_vllm_killed_during_a_request_is_an_error_never_a_zero(prm_dirs, pooling_server):
    from grpo_reward_prm import PRMVerifier

    from grpo_core import Sample, Status

    server = pooling_server("qwen_prm")
    options = {"model": str(prm_dirs["qwen_prm"]), "mode": "served", "url": server.url}
    verifier = PRMVerifier({**options, "retries": 2, "request_timeout": 120})
    verifier.setup()
    samples = [Sample(prompt=QUESTION, completion=think(STEPS[: 1 + i])) for i in range(4)]

    async def scenario():
        before = await verifier.score_batch(samples[:2])
        # Freeze the server (it accepts the connection but cannot answer), send, then kill it:
        # the request is certainly in flight when the server dies.
        server.signal(signal.SIGSTOP)
        try:
            pending = asyncio.create_task(verifier.score_batch(samples[2:]))
            await asyncio.sleep(3)
            assert not pending.done(), "the frozen server answered"
        finally:
            server.signal(signal.SIGKILL)
        after = await asyncio.wait_for(pending, 100)
        return before, after

    before, after = asyncio.run(scenario())
    assert [r.status for r in before] == [Status.OK, Status.OK]
    assert [r.status for r in after] == [Status.ERROR, Status.ERROR]
    assert all(r.value is None for r in after)
    error = after[0].details["error"]
    assert "failed 3 time(s)" in error and "no answer within" not in error, error
    server.proc.wait(timeout=30)
