"""Per-verifier figures the engine reports: values, statuses, latency and cache use."""

from __future__ import annotations

import statistics
from collections import Counter
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


@dataclass
class VerifierMetrics:
    """Accumulates one verifier's results over one or more batches."""

    name: str
    count: int = 0
    values: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    cache_hits: int = 0

    def record(self, value: float | None, status: Status, latency_s: float | None, cached: bool) -> None:
        self.count += 1
        self.statuses[status.value] += 1
        if value is not None:
            self.values.append(value)
        if cached:
            self.cache_hits += 1
        elif latency_s is not None:
            self.latencies_s.append(latency_s)

    def merge(self, other: VerifierMetrics) -> None:
        self.count += other.count
        self.values.extend(other.values)
        self.statuses.update(other.statuses)
        self.latencies_s.extend(other.latencies_s)
        self.cache_hits += other.cache_hits

    def summary(self) -> dict[str, Any]:
        """Plain numbers, for tables, JSON and TRL's ``log_metric``."""
        values = self.values
        p50 = percentile(self.latencies_s, 50)
        p95 = percentile(self.latencies_s, 95)
        return {
            "count": self.count,
            "mean": statistics.fmean(values) if values else None,
            "std": statistics.pstdev(values) if len(values) > 1 else (0.0 if values else None),
            "status": {status.value: self.statuses.get(status.value, 0) for status in Status},
            "latency_p50_ms": None if p50 is None else p50 * 1000,
            "latency_p95_ms": None if p95 is None else p95 * 1000,
            "cache_hits": self.cache_hits,
            "cache_hit_rate": self.cache_hits / self.count if self.count else 0.0,
        }
