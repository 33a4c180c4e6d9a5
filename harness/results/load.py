"""The `load` section: the mixed reader/writer run, its concurrency proof, writer impact and pgbench fidelity.

Every latency here is read from merged HdrHistograms (harness.load.histograms), in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import ConfigDict


class LoadModel(StrEnum):
    """How requests arrive: closed (each user waits a think time) or open (a fixed schedule, --rate)."""

    CLOSED = "closed"
    OPEN = "open"


@dataclass(frozen=True)
class Latency:
    """Percentiles of one histogram; all None when it holds no sample."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    samples: int
    """samples recorded (a corrected closed-model histogram adds the requests a stalled user would have sent)"""
    p50_ms: float | None
    """median latency"""
    p95_ms: float | None
    """95th percentile latency"""
    p99_ms: float | None
    """99th percentile latency"""
    max_ms: float | None
    """slowest request"""
    mean_ms: float | None
    """mean latency"""


@dataclass(frozen=True)
class LoadGroup:
    """Counts, rate and both latency views of a set of scenarios (a role, a kind or one scenario)."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    count: int
    """requests recorded in the measured window"""
    errors: int
    """requests that failed"""
    error_rate: float | None
    """errors / count; None when nothing was recorded"""
    qps: float
    """requests per second over the run's wall time"""
    corrected: Latency
    """latency from each request's intended start (coordinated omission corrected)"""
    uncorrected: Latency
    """latency from each request's send"""


@dataclass(frozen=True, kw_only=True)
class LoadScenario(LoadGroup):
    """One scenario of the run: our percentiles beside Locust's own rounded p95."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    name: str
    """scenario name"""
    kind: str
    """scenario kind: ward, vector or write"""
    role: str
    """reader or writer"""
    rows_per_request: float
    """rows returned or written per successful request"""
    error_kinds: dict[str, int]
    """failed requests per exception type"""
    locust_p95_ms: float | None = None
    """Locust's own p95 (about two significant digits), for comparison"""
    target_p95_ms: float | None = None
    """the scenario's p95 target"""


@dataclass(frozen=True)
class RunSummary:
    """The headline figures of one Locust run."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    count: int
    """requests recorded"""
    errors: int
    """requests that failed"""
    qps: float
    """requests per second"""
    wall_s: float
    """first intended start to last completion"""
    in_flight_mean: float
    """mean requests in flight (Little's law): above 1 only when different users' queries overlap"""
    users: int
    """users started over all processes"""
    processes: int
    """Locust processes whose measurements were merged"""
    wait_functions: list[str]
    """psycopg wait functions the processes used (a gevent-cooperative one is needed for concurrency)"""
    warmup_requests: int
    """requests run in the warm-up, not timed"""
    warmup_errors: int
    """warm-up requests that failed (they count toward the error rate)"""
    due: int
    """open model: requests the schedule asked for in the measured window"""
    sent_in_time: int
    """open model: requests sent before the run stopped"""
    achieved_ratio: float | None
    """sent_in_time / due; None when nothing was due (closed model)"""


@dataclass(frozen=True)
class TimelinePoint:
    """One wall-clock second of the run: completed requests, errors and corrected p95 per role."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    t_s: int
    """seconds since the run's first intended start"""
    readers_qps: int | None = None
    """reader requests completed in this second; None when no reader completed"""
    readers_errors: int | None = None
    """reader requests that failed in this second"""
    readers_p95_ms: float | None = None
    """readers' corrected p95 in this second"""
    writers_qps: int | None = None
    """writer requests completed in this second; None when no writer completed"""
    writers_errors: int | None = None
    """writer requests that failed in this second"""
    writers_p95_ms: float | None = None
    """writers' corrected p95 in this second"""


@dataclass(frozen=True)
class RoleProof:
    """One role's throughput with 1 user and with N users on the same queries, no think time."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    one_user: RunSummary
    """the run with one user"""
    many_users: RunSummary
    """the run with N users"""
    throughput_ratio: float | None
    """N users' qps / one user's (recorded, not gated: bounded by the cores client and server share)"""


@dataclass(frozen=True)
class ConcurrencyProof:
    """Real concurrency: with N users, queries of different users overlap in time."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    users: int
    """N, the users of the many-user runs"""
    duration_s: float
    """measured seconds of each proof run"""
    readers: RoleProof | None = None
    """the readers' proof; None when no read scenario ran"""
    writers: RoleProof | None = None
    """the writers' proof; None when no write scenario ran"""


@dataclass(frozen=True)
class WriterImpact:
    """What the writers cost the readers: readers' p95 with them (mixed run) and alone (same pacing)."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    readers: int
    """reader users"""
    writers: int
    """writer users in the mixed run"""
    readers_p95_alone_ms: float | None
    """readers' corrected p95 without the writers"""
    readers_p95_with_writers_ms: float | None
    """readers' corrected p95 in the mixed run"""
    ratio: float | None
    """with / alone"""


@dataclass(frozen=True)
class Distributed:
    """A mixed run driven as a Locust master for remote workers."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    expected_workers: int
    """workers the master waited for"""
    workers_reported: int
    """workers whose measurements arrived"""
    master_port: int
    """the master's TCP port"""


@dataclass(frozen=True)
class FidelityRound:
    """One Locust run and one pgbench run of the same statement, back to back."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    locust_qps: float
    """Locust's throughput"""
    locust_errors: int
    """Locust requests that failed"""
    pgbench_tps: float
    """pgbench's throughput"""
    pgbench_failed: int
    """pgbench transactions that failed"""
    pgbench_latency_avg_ms: float | None
    """pgbench's mean latency (it reports no percentiles)"""
    ratio: float | None
    """locust_qps / pgbench_tps"""


@dataclass(frozen=True)
class Fidelity:
    """The load generator's throughput against pgbench on one statement, median of alternating rounds."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    scenario: str
    """the scenario whose statement both ran"""
    clients: int
    """Locust users and pgbench clients"""
    duration_s: float
    """seconds of each run"""
    processes: int
    """Locust processes"""
    pgbench_threads: int
    """pgbench threads (as many as Locust has processes)"""
    statement_file: str
    """the literal statement both ran"""
    rounds: list[FidelityRound]
    """each round's pair of runs"""
    ratio: float | None
    """median of the rounds' ratios"""


@dataclass(frozen=True)
class LoadSection:
    """results.load: the mixed run and what was measured beside it."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    model: LoadModel
    """closed (think time) or open (fixed arrival rate)"""
    users: int
    """users of the mixed run"""
    writers: int
    """of which writers"""
    processes: int
    """local Locust processes"""
    duration_s: float
    """measured seconds (after the warm-up)"""
    think_time_s: float | None
    """closed model: mean seconds between a user's requests"""
    rate_asked_per_s: float | None
    """open model: total arrivals per second asked"""
    latency_from: str
    """what the corrected and uncorrected latencies are timed from"""
    summary: RunSummary
    """headline figures of the mixed run"""
    scenarios: list[LoadScenario]
    """one row per scenario"""
    roles: dict[str, LoadGroup]
    """per role: reader, writer"""
    kinds: dict[str, LoadGroup]
    """per kind: ward, vector, write"""
    timeline: list[TimelinePoint]
    """per wall-clock second"""
    locust_log: str
    """the mixed run's Locust log"""
    concurrency: ConcurrencyProof
    """1 user against N users, per role"""
    target_p95_ms: float | None = None
    """the tightest reader target (the line drawn on the over-time plot)"""
    distributed: Distributed | None = None
    """set when the mixed run used remote workers"""
    writer_impact: WriterImpact | None = None
    """set when writers ran beside the readers on this host"""
    fidelity: Fidelity | None = None
    """the load generator against pgbench; None when it could not be measured (see the gate)"""
