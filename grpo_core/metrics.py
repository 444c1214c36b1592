"""Per-verifier figures the engine reports: values, statuses, latency and cache use."""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from grpo_core.verifier import Status


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


#: Latencies kept for percentiles: the most recent ones, so a long training run stays bounded.
LATENCY_WINDOW = 8192


@dataclass
class VerifierMetrics:
    """Accumulates one verifier's results over one or more batches in bounded memory.

    Value mean and std are running figures (count, mean, sum of squared deviations, merged with
    Chan's formula), exact over the whole run; latency percentiles cover the last
    ``LATENCY_WINDOW`` scored samples. An engine lives for a whole training run: nothing here may
    grow with the number of samples.
    """

    name: str
    count: int = 0
    value_count: int = 0
    value_mean: float = 0.0
    value_m2: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    latencies_s: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    cache_hits: int = 0

    def _add_values(self, count: int, mean: float, m2: float) -> None:
        if count == 0:
            return
        total = self.value_count + count
        delta = mean - self.value_mean
        self.value_mean += delta * count / total
        self.value_m2 += m2 + delta * delta * self.value_count * count / total
        self.value_count = total

    def record(self, value: float | None, status: Status, latency_s: float | None, cached: bool) -> None:
        self.count += 1
        self.statuses[status.value] += 1
        if value is not None:
            self._add_values(1, value, 0.0)
        if cached:
            self.cache_hits += 1
        elif latency_s is not None:
            self.latencies_s.append(latency_s)

    def merge(self, other: VerifierMetrics) -> None:
        self.count += other.count
        self._add_values(other.value_count, other.value_mean, other.value_m2)
        self.statuses.update(other.statuses)
        self.latencies_s.extend(other.latencies_s)
        self.cache_hits += other.cache_hits

    def failure_fraction(self) -> float:
        """Share of samples whose verifier failed (``error`` or ``timeout``)."""
        if not self.count:
            return 0.0
        return (
            self.statuses.get(Status.ERROR.value, 0) + self.statuses.get(Status.TIMEOUT.value, 0)
        ) / self.count

    def summary(self) -> dict[str, Any]:
        """Plain numbers, for tables, JSON and TRL's ``log_metric``."""
        latencies = list(self.latencies_s)
        p50 = percentile(latencies, 50)
        p95 = percentile(latencies, 95)
        n = self.value_count
        return {
            "count": self.count,
            "mean": self.value_mean if n else None,
            "std": math.sqrt(max(0.0, self.value_m2 / n)) if n else None,
            "status": {status.value: self.statuses.get(status.value, 0) for status in Status},
            "error_fraction": self.failure_fraction(),
            "latency_p50_ms": None if p50 is None else p50 * 1000,
            "latency_p95_ms": None if p95 is None else p95 * 1000,
            "cache_hits": self.cache_hits,
            "cache_hit_rate": self.cache_hits / self.count if self.count else 0.0,
        }
