"""The ``remote`` verifier: send rows to one or more ``grpo serve`` servers, so reward work can
leave the training node for CPU nodes.

Batches go round-robin over ``urls``; a connection failure, a timeout or a 5xx (503 = busy) is
retried on the next server, up to ``retries`` more times. When every try fails, each sample of the
batch is status ``error`` (never a 0): a dead reward server is visible in the run's metrics. A
reply that breaks the protocol (wrong row count, a value that is not a finite number) is an error
too. aiohttp is imported only when the first batch is sent.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field, PositiveFloat, field_validator

from grpo_core.hookspecs import hookimpl
from grpo_core.sample import Sample
from grpo_core.verifier import Isolation, Score, Status, Verifier, VerifierOptions


class RemoteOptions(VerifierOptions):
    urls: list[str] = Field(..., min_length=1, description="base URLs of `grpo serve` servers")
    reward: str | None = Field(None, description="one reward of the server's; default: its weighted sum")
    request_timeout_s: PositiveFloat = Field(30.0, description="seconds per HTTP request")
    retries: int = Field(2, ge=0, le=20, description="extra tries, each on the next server")
    batch_size: int = Field(256, ge=1, le=65536, description="rows per request")
    concurrency: int = Field(8, ge=1, le=1024, description="requests in flight")

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s):// URL")
        return [url.rstrip("/") for url in urls]


class RemoteError(Exception):
    """Every server failed this batch; the message lists why."""


class RemoteVerifier(Verifier):
    """Scores on `grpo serve` servers (round-robin, retries, timeouts)."""

    name: ClassVar[str] = "remote"
    isolation: ClassVar[Isolation] = Isolation.ASYNC
    default_timeout: ClassVar[float] = 120.0
    Options: ClassVar[type[VerifierOptions]] = RemoteOptions

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.max_batch_size = self.options.batch_size
        self.max_concurrency = self.options.concurrency
        self._next = itertools.cycle(range(len(self.options.urls)))
        self._sessions: dict[int, Any] = {}

    def _session(self) -> Any:
        """One client session per event loop (sessions are loop-bound)."""
        import aiohttp

        loop = asyncio.get_running_loop()
        session = self._sessions.get(id(loop))
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self.options.concurrency * 2)
            session = aiohttp.ClientSession(connector=connector)
            self._sessions = {id(loop): session}
        return session

    async def _post(self, rows: list[dict[str, Any]]) -> list[Any]:
        import aiohttp

        failures = []
        timeout = aiohttp.ClientTimeout(total=self.options.request_timeout_s)
        for _ in range(self.options.retries + 1):
            url = self.options.urls[next(self._next)]
            try:
                async with self._session().post(f"{url}/score", json={"rows": rows}, timeout=timeout) as resp:
                    text = await resp.text()
                    if resp.status >= 500:
                        failures.append(f"{url}: HTTP {resp.status} {text[:200]}")
                        continue
                    if resp.status != 200:  # our request is wrong: retrying elsewhere cannot help
                        raise RemoteError(f"{url}: HTTP {resp.status} {text[:500]}")
                    body = await resp.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                failures.append(f"{url}: {type(exc).__name__}: {exc}")
                continue
            scored = body.get("rows") if isinstance(body, dict) else None
            if not isinstance(scored, list) or len(scored) != len(rows):
                raise RemoteError(f"{url}: reply has no 'rows' list of {len(rows)} items")
            return scored
        raise RemoteError("; ".join(failures))

    def _row_score(self, row: Any) -> Score:
        if not isinstance(row, dict):
            return Score.error("remote reply row is not an object")
        want = self.options.reward
        statuses = row.get("status")
        if not isinstance(statuses, dict):
            return Score.error("remote reply row has no 'status' object")
        if want is None:
            value = row.get("reward")
            if value is None:
                kinds = set(statuses.values())
                status = next(
                    (s for s in (Status.ERROR, Status.TIMEOUT, Status.INVALID_INPUT) if s in kinds), None
                )
                status = status or Status.NOT_APPLICABLE
                return Score(None, status, {"remote_status": statuses})
            status = Status.OK
        else:
            rewards = row.get("rewards")
            if not isinstance(rewards, dict) or want not in rewards or want not in statuses:
                return Score.error(f"remote server has no reward {want!r}")
            value = rewards[want]
            try:
                status = Status(statuses[want])
            except ValueError:
                return Score.error(f"remote status {statuses[want]!r} is unknown")
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
        ):
            return Score.error(f"remote value {value!r} is not a finite number")
        if value is None and status is Status.OK:
            return Score.error("remote reply has status ok but no value")
        details = row.get("details")
        return Score(value, status, {"remote": details} if isinstance(details, dict) else {})

    async def score_batch(self, samples: Sequence[Sample]) -> list[Score]:
        scored = await self._post([dict(sample) for sample in samples])
        return [self._row_score(row) for row in scored]

    async def ascore(self, sample: Sample) -> Score:
        return (await self.score_batch([sample]))[0]

    async def aclose(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions = {}


@hookimpl
def register_verifiers(register: Any) -> None:
    register(RemoteVerifier)
