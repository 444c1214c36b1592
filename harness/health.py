"""Verifier failures during training, made loud: counted per batch, reported, and a stop rule.

The reward functions record every batch's error/timeout count and the first message of each kind;
:class:`harness.progress.ErrorsCallback` prints and logs them per logging step and stops the run
when a verifier's error+timeout share over the last ``window`` batches exceeds its limit (a run
whose rewards are mostly "no reward" is not training on what the config says).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from grpo_core.verifier import Score, Status

FAILED = (Status.ERROR, Status.TIMEOUT)
MESSAGE_MAX_CHARS = 300
MIN_BATCHES = 3


def failure_message(score: Score) -> str:
    details = dict(score.details)
    if score.status is Status.TIMEOUT:
        return f"timed out after {details.get('timeout_s', '?')} s"
    text = str(details.get("error") or details.get("reason") or details or "error")
    return text if len(text) <= MESSAGE_MAX_CHARS else text[: MESSAGE_MAX_CHARS - 1] + "…"


@dataclass
class _Period:
    """Counts since the last report."""

    count: int = 0
    errors: int = 0
    timeouts: int = 0
    first: dict[str, str] = field(default_factory=dict)  # status -> first message


class VerifierHealth:
    """Per-verifier failure counts: the current reporting period and a window of recent batches."""

    def __init__(self, limits: Mapping[str, float], window: int = 10) -> None:
        self.limits = dict(limits)
        self.window = window
        self._period = {name: _Period() for name in limits}
        self._recent: dict[str, deque[tuple[int, int]]] = {name: deque(maxlen=window) for name in limits}
        self.failure: str | None = None

    def record(self, name: str, scores: Iterable[Score]) -> None:
        period = self._period.setdefault(name, _Period())
        count = failed = 0
        for score in scores:
            count += 1
            if score.status in FAILED:
                failed += 1
                if score.status is Status.ERROR:
                    period.errors += 1
                else:
                    period.timeouts += 1
                period.first.setdefault(score.status.value, failure_message(score))
        period.count += count
        self._recent.setdefault(name, deque(maxlen=self.window)).append((failed, count))

    def report(self, step: int) -> list[dict[str, Any]]:
        """One entry per verifier that failed since the last report; starts a new period."""
        entries = []
        for name, period in self._period.items():
            if period.errors or period.timeouts:
                entries.append(
                    {
                        "step": step,
                        "verifier": name,
                        "samples": period.count,
                        "errors": period.errors,
                        "timeouts": period.timeouts,
                        "first_error": period.first.get(Status.ERROR.value),
                        "first_timeout": period.first.get(Status.TIMEOUT.value),
                    }
                )
            self._period[name] = _Period()
        return entries

    def failed_share(self, name: str) -> float:
        recent = self._recent.get(name) or ()
        total = sum(count for _, count in recent)
        return sum(failed for failed, _ in recent) / total if total else 0.0

    def check(self) -> str | None:
        """The stop message when a verifier's recent failure share exceeds its limit (sticky)."""
        if self.failure is None:
            for name, limit in self.limits.items():
                share = self.failed_share(name)
                batches = len(self._recent.get(name) or ())
                # judged on a few batches at least: one unlucky first batch does not stop a run
                if batches >= min(self.window, MIN_BATCHES) and share > limit:
                    self.failure = (
                        f"verifier {name!r} failed (error or timeout) on {share:.0%} of its samples over the "
                        f"last {batches} reward batch(es), above max_error_frac {limit:g}; the run was "
                        f"stopped (raise rewards[].max_error_frac or fix the verifier)"
                    )
                    break
        return self.failure
