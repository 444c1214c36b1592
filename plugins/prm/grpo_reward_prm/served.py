"""Score on a pooling server with vLLM's ``/pooling`` request and response shape.

We tokenise here and send token ids, so the step positions and the length check are ours. The
server answers, per input, either one row per token (``token_classify`` on the whole sequence) or
one row per step (a STEP pooler); each row is a distribution over labels (or logits, by option).
Anything else is garbage and an error for the samples of that request, never a 0.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Sequence
from typing import Any

from grpo_reward_prm.adapters import Encoded

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class ServerError(RuntimeError):
    """The server could not be reached, failed, or answered something we cannot trust."""


class PoolingClient:
    """An ``httpx.AsyncClient`` per event loop, with timeout, retries and bounded concurrency."""

    def __init__(self, options: Any, good_index: int) -> None:
        self.options = options
        self.good_index = good_index
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None

    def _session(self) -> tuple[Any, asyncio.Semaphore]:
        import httpx

        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            headers = {}
            if self.options.api_key_env:
                headers["Authorization"] = f"Bearer {os.environ.get(self.options.api_key_env, '')}"
            limits = httpx.Limits(max_connections=self.options.concurrency)
            self._client = httpx.AsyncClient(
                timeout=self.options.request_timeout, headers=headers, limits=limits
            )
            self._loop = loop
            self._semaphore = asyncio.Semaphore(self.options.concurrency)
        assert self._semaphore is not None
        return self._client, self._semaphore

    async def score(self, encoded: Sequence[Encoded]) -> list[list[float] | ServerError]:
        """Step probabilities per input, or the error of the request that carried it."""
        size = self.options.request_size
        chunks = [list(encoded[i : i + size]) for i in range(0, len(encoded), size)]
        answers = await asyncio.gather(*(self._request(chunk) for chunk in chunks), return_exceptions=True)
        results: list[list[float] | ServerError] = []
        for chunk, answer in zip(chunks, answers):
            if isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer
                error = (
                    answer
                    if isinstance(answer, ServerError)
                    else ServerError(f"{type(answer).__name__}: {answer}")
                )
                results.extend([error] * len(chunk))
            else:
                results.extend(answer)
        return results

    async def _request(self, chunk: list[Encoded]) -> list[list[float] | ServerError]:
        import httpx

        client, semaphore = self._session()
        body = {
            "model": self.options.served_model or self.options.model,
            "input": [e.input_ids for e in chunk],
            "encoding_format": "float",
        }
        attempts = self.options.retries + 1
        last = "no attempt"
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(min(0.25 * 2 ** (attempt - 1), 4.0))
            async with semaphore:
                try:
                    response = await client.post(self.options.pooling_url, json=body)
                except httpx.TimeoutException:
                    last = f"no answer within {self.options.request_timeout:g} s"
                    continue
                except httpx.TransportError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                    continue
            if response.status_code in RETRY_STATUS:
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code != 200:
                raise ServerError(f"HTTP {response.status_code}: {response.text[:200]}")
            try:
                payload = response.json()
            except ValueError:
                raise ServerError(f"server returned garbage (not JSON): {response.text[:80]!r}") from None
            return self._parse(payload, chunk)
        raise ServerError(f"pooling server {self.options.pooling_url} failed {attempts} time(s): {last}")

    def _parse(self, payload: Any, chunk: list[Encoded]) -> list[list[float] | ServerError]:
        items = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(items, list) or len(items) != len(chunk):
            raise ServerError(f"server returned garbage: expected 'data' with {len(chunk)} items")
        ordered: list[Any] = [None] * len(chunk)
        for position, item in enumerate(items):
            index = item.get("index", position) if isinstance(item, dict) else None
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(chunk):
                raise ServerError("server returned garbage: an item without a valid 'index'")
            if ordered[index] is not None:
                raise ServerError(f"server returned garbage: index {index} twice")
            ordered[index] = item.get("data")
        results: list[list[float] | ServerError] = []
        for rows, encoded in zip(ordered, chunk):
            try:
                results.append(self._step_probabilities(rows, encoded))
            except ServerError as exc:
                results.append(exc)
        return results

    def _step_probabilities(self, rows: Any, encoded: Encoded) -> list[float]:
        steps, tokens = len(encoded.positions), len(encoded.input_ids)
        if not isinstance(rows, list) or len(rows) not in (steps, tokens):
            count = len(rows) if isinstance(rows, list) else type(rows).__name__
            raise ServerError(f"server returned garbage: {count} rows for {tokens} tokens / {steps} steps")
        picked = rows if len(rows) == steps else [rows[p] for p in encoded.positions]
        return [self._good_probability(row) for row in picked]

    def _good_probability(self, row: Any) -> float:
        if (
            not isinstance(row, list)
            or len(row) <= self.good_index
            or len(row) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
            or not all(math.isfinite(v) for v in row)
        ):
            raise ServerError(
                f"server returned garbage: a row of {str(row)[:60]}, expected finite label scores"
            )
        if self.options.served_output == "logits":
            top = max(row)
            weights = [math.exp(v - top) for v in row]
            return weights[self.good_index] / math.fsum(weights)
        if any(v < 0.0 or v > 1.0 for v in row) or abs(math.fsum(row) - 1.0) > 1e-3:
            raise ServerError(f"server returned garbage: {str(row)[:60]} is not a probability distribution")
        return float(row[self.good_index])

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
