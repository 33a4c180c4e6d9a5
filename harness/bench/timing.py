"""Percentiles from raw per-round timings, and recall of a vector search against exact neighbours.

pytest-benchmark reports min/max/mean/median/stddev/iqr but no percentiles, so they are computed here
from every round's timing (nearest rank: each percentile is a latency that was actually observed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], pct: float) -> float:
    """The nearest-rank `pct` percentile (0 < pct <= 100): the smallest sample with >= pct % at or below it."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 < pct <= 100:
        raise ValueError(f"percentile {pct} outside (0, 100]")
    ordered = sorted(samples)
    rank = math.ceil(pct / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True)
class LatencySummary:
    """count, p50/p95/p99/max in milliseconds and serial QPS."""

    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    qps: float


def latency_summary_ms(samples_s: Sequence[float]) -> LatencySummary:
    """The summary of raw timings in seconds."""
    total = sum(samples_s)
    return LatencySummary(
        count=len(samples_s),
        p50_ms=percentile(samples_s, 50) * 1e3,
        p95_ms=percentile(samples_s, 95) * 1e3,
        p99_ms=percentile(samples_s, 99) * 1e3,
        max_ms=max(samples_s) * 1e3,
        qps=len(samples_s) / total if total > 0 else 0.0,
    )


def recall_at_k(found_ids: Sequence[object], true_ids: Sequence[object], k: int) -> float | None:
    """|found ∩ true top-k| / min(k, |true|); None when the exact answer is empty (nothing to recall)."""
    truth = set(true_ids[:k])
    if not truth:
        return None
    return len(truth & set(found_ids[:k])) / len(truth)


def tie_tolerant_recall(found_distances: Sequence[float], true_distances: Sequence[float], k: int,
                        tolerance: float) -> float | None:
    """Share of the k answers at least as close as the exact k-th neighbour (+ tolerance).

    A near-tied neighbour returned instead of the exact one is not an error of the index; strict recall
    counts it as a miss, this measure does not. Reported beside the strict recall, never instead of it.
    """
    expected = min(k, len(true_distances))
    if expected == 0:
        return None
    bound = sorted(true_distances)[expected - 1] + tolerance
    return min(expected, sum(1 for d in found_distances[:k] if d <= bound)) / expected
