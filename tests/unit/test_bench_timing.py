"""Percentiles from raw timings and recall measures, checked against hand-worked answers and numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.bench.timing import latency_summary_ms, percentile, recall_at_k, tie_tolerant_recall


def test_nearest_rank_percentiles_on_one_to_hundred() -> None:
    samples = [float(i) for i in range(100, 0, -1)]  # order of arrival must not matter
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 95) == 95.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 100) == 100.0


def test_percentile_of_a_few_samples_is_an_observed_value() -> None:
    # 10 samples: p95 is the 10th smallest (ceil(9.5)), never an interpolation between two rounds.
    samples = [1, 2, 3, 4, 5, 6, 7, 8, 9, 50]
    assert percentile(samples, 95) == 50
    assert percentile(samples, 50) == 5


@given(st.lists(st.floats(min_value=0, max_value=1e3, allow_nan=False), min_size=1, max_size=300),
       st.floats(min_value=0.5, max_value=100))
def test_percentile_matches_numpy_inverted_cdf(samples: list[float], pct: float) -> None:
    assert percentile(samples, pct) == pytest.approx(float(np.percentile(samples, pct, method="inverted_cdf")))


def test_bad_percentile_arguments_raise() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 0)


def test_latency_summary_converts_seconds_to_ms_and_qps() -> None:
    summary = latency_summary_ms([0.001] * 19 + [0.021])
    assert summary.count == 20
    assert summary.p50_ms == pytest.approx(1.0)
    assert summary.p95_ms == pytest.approx(1.0)
    assert summary.max_ms == pytest.approx(21.0)
    assert summary.qps == pytest.approx(20 / 0.04)


def test_recall_counts_the_true_top_k_found() -> None:
    assert recall_at_k([1, 2, 3, 4], [1, 2, 5, 6], 4) == 0.5
    assert recall_at_k([9, 8], [1, 2, 3], 3) == 0.0
    assert recall_at_k([1, 2, 3], [3, 2, 1], 3) == 1.0  # order inside the top k does not matter
    assert recall_at_k([1], [], 10) is None


def test_recall_with_fewer_true_neighbours_than_k_is_over_those() -> None:
    assert recall_at_k([1, 2], [1, 2], 10) == 1.0
    assert recall_at_k([1], [1, 2], 10) == 0.5  # a short answer is a miss


def test_tie_tolerant_recall_accepts_an_equally_close_substitute_only() -> None:
    truth = [0.10, 0.20, 0.30]
    assert tie_tolerant_recall([0.10, 0.20, 0.30 + 5e-5], truth, 3, 1e-4) == 1.0  # near tie: counted
    assert tie_tolerant_recall([0.10, 0.20, 0.31], truth, 3, 1e-4) == pytest.approx(2 / 3)  # farther: a miss
    assert tie_tolerant_recall([0.10], truth, 3, 1e-4) == pytest.approx(1 / 3)
    assert tie_tolerant_recall([], [], 3, 1e-4) is None
