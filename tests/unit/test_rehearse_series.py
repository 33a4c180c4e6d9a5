"""The compact live timeline a rehearsed step stores for the report: p95 per kind per bucket, from the step's start."""

from __future__ import annotations

from harness.rehearse.step import SERIES_LEAD_S, SERIES_MAX_BUCKETS, series
from harness.verify.underload import Sample


def _sample(name: str, intended: float, latency_s: float, ok: bool = True) -> Sample:
    return Sample(name, 1, intended, intended, intended + latency_s, ok)


def test_buckets_by_intended_start_relative_to_the_step() -> None:
    start = 100.0
    samples = [_sample("read posts", start - 0.05, 0.002),  # last baseline bucket
               _sample("read posts", start + 0.02, 1.5),  # due at the step's start, stalled 1.5 s behind a lock
               _sample("read posts", start + 0.03, 0.001),
               _sample("insert posts", start + 0.25, 0.004),
               _sample("insert posts", start + 0.26, 9.0, ok=False),  # failed: counted under errors, not here
               _sample("read posts", start - 60.0, 0.5)]  # long before: outside the kept lead
    out = series(samples, {}, start - 30.0, start, start + 0.4)
    assert out.bucket_s == 0.1 and out.start_s == -SERIES_LEAD_S
    lead = round(SERIES_LEAD_S / 0.1)
    read, insert = out.kinds["read"], out.kinds["insert"]
    assert len(read) == len(insert) == lead + 4
    assert read[lead - 1] == 2.0 and read[lead] == 1500.0  # p95 of the stalled one and a quick one
    assert insert[lead + 2] == 4.0 and insert[lead + 3] is None
    assert sum(v is not None for v in read) == 2  # the sample 60 s before is left out


def test_a_long_step_gets_wider_buckets_not_more() -> None:
    start = 0.0
    samples = [_sample("read t", t / 10, 0.001) for t in range(0, 6000)]
    out = series(samples, {"read t": "ward"}, -30.0, start, 600.0)
    assert out.start_s == -30.0  # the whole baseline: shorter than the step
    assert len(out.kinds["ward"]) <= SERIES_MAX_BUCKETS + 1 and out.bucket_s > 0.1
