"""HdrHistogram latency recording per scenario, encoded to strings so worker processes can be merged.

Values are microseconds; our percentiles keep 3 significant digits, unlike Locust's own (about 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: a stalled request is never dropped as out of range
SIGNIFICANT_FIGURES = 3


def new_histogram() -> HdrHistogram:
    """An empty microsecond histogram with the harness's range and precision."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def record_us(hist: HdrHistogram, value_us: float, expected_interval_us: float = 0) -> None:
    """Record one latency, clamped into range (hdrh silently drops out-of-range values otherwise).

    With `expected_interval_us` > 0 the closed-loop coordinated-omission correction is applied
    (HdrHistogram back-fills the samples a stalled user would have sent).
    """
    value = min(max(int(round(value_us)), LOWEST_US), HIGHEST_US)
    if expected_interval_us > 0:
        hist.record_corrected_value(value, int(expected_interval_us))
    else:
        hist.record_value(value)


def encode(hist: HdrHistogram) -> str:
    """The histogram as a compressed base64 string (HdrHistogram's standard wire format)."""
    data: bytes = hist.encode()
    return data.decode("ascii")


def decode(text: str) -> HdrHistogram:
    """A histogram from `encode`'s string."""
    return HdrHistogram.decode(text.encode("ascii"))


def merge_encoded(texts: list[str]) -> HdrHistogram:
    """One histogram holding every sample of the encoded ones (users and processes merged)."""
    merged = new_histogram()
    for text in texts:
        if text:
            merged.decode_and_add(text.encode("ascii"))
    return merged


class ScenarioPayload(TypedDict):
    """One scenario's counts and encoded histograms, as a load process hands them over."""

    kind: str
    count: int
    errors: int
    rows: int
    error_kinds: dict[str, int]
    corrected: str
    uncorrected: str


class SecondPayload(TypedDict):
    """One (second, kind) bucket, as a load process hands it over."""

    t: int
    kind: str
    count: int
    errors: int
    hist: str


class RecorderPayload(TypedDict):
    """What `LatencyRecorder.to_dict` hands over: the measured window and every histogram, encoded."""

    first_s: float | None
    last_s: float | None
    busy_s: float
    scenarios: dict[str, ScenarioPayload]
    seconds: list[SecondPayload]


class ProcessPayload(RecorderPayload):
    """One Locust process's results file (scenarios/locustfile's payload), merged by harness.load.summary."""

    pid: int
    wait_function: str
    started_s: float
    stopped_s: float
    users: int
    rate_per_s: float
    measure_from_s: float | None
    due: int
    sent_in_time: int
    warmup_requests: int
    warmup_errors: int


@dataclass
class ScenarioRecord:
    """One scenario's latencies in one process: from the intended start (corrected) and from the send."""

    kind: str
    corrected: HdrHistogram = field(default_factory=new_histogram)
    uncorrected: HdrHistogram = field(default_factory=new_histogram)
    count: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    rows: int = 0


@dataclass
class SecondBucket:
    """Requests completed in one wall-clock second, per kind, with their corrected latencies."""

    hist: HdrHistogram = field(default_factory=new_histogram)
    count: int = 0
    errors: int = 0


class LatencyRecorder:
    """Everything one load process measured; `to_dict` is what it hands to the merging CLI process."""

    def __init__(self) -> None:
        self.scenarios: dict[str, ScenarioRecord] = {}
        self.seconds: dict[tuple[int, str], SecondBucket] = {}
        self.first_s: float | None = None  # earliest intended start and latest end: the measured window
        self.last_s: float | None = None
        self.busy_s = 0.0  # summed uncorrected latencies: divided by wall time, the mean requests in flight

    def record(self, name: str, kind: str, intended_s: float, sent_s: float, done_s: float,
               error: str | None = None, rows: int = 0, expected_interval_s: float = 0.0) -> None:
        """Record one request: corrected from `intended_s`, uncorrected from `sent_s` (both to `done_s`)."""
        rec = self.scenarios.get(name)
        if rec is None:  # not setdefault: building a histogram per request would cost more than the query
            rec = self.scenarios[name] = ScenarioRecord(kind)
        rec.count += 1
        self.first_s = intended_s if self.first_s is None else min(self.first_s, intended_s)
        self.last_s = done_s if self.last_s is None else max(self.last_s, done_s)
        self.busy_s += done_s - sent_s
        corrected_us = (done_s - intended_s) * 1e6
        record_us(rec.corrected, corrected_us, expected_interval_s * 1e6)
        record_us(rec.uncorrected, (done_s - sent_s) * 1e6)
        bucket = self.seconds.get((int(done_s), kind))
        if bucket is None:
            bucket = self.seconds[(int(done_s), kind)] = SecondBucket()
        bucket.count += 1
        record_us(bucket.hist, corrected_us)
        if error is not None:
            rec.errors += 1
            bucket.errors += 1
            rec.error_kinds[error] = rec.error_kinds.get(error, 0) + 1
        else:
            rec.rows += rows

    def to_dict(self) -> RecorderPayload:
        """JSON-able form with encoded histograms."""
        return {
            "first_s": self.first_s,
            "last_s": self.last_s,
            "busy_s": self.busy_s,
            "scenarios": {name: ScenarioPayload(kind=r.kind, count=r.count, errors=r.errors, rows=r.rows,
                                                error_kinds=r.error_kinds, corrected=encode(r.corrected),
                                                uncorrected=encode(r.uncorrected))
                          for name, r in self.scenarios.items()},
            "seconds": [SecondPayload(t=t, kind=kind, count=b.count, errors=b.errors, hist=encode(b.hist))
                        for (t, kind), b in sorted(self.seconds.items())],
        }
