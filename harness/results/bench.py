"""The bench stage's records: one `ScenarioResult` per timed scenario, and the `bench` section beside them.

Field names are the keys results.json has carried since the stage was written, so a reader of the file and
a reader of the code see the same names. Per-scenario fidelity and recall figures stay flat on the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field

if TYPE_CHECKING:
    from harness.config import RunConfig

ScenarioKind = Literal["ward", "vector", "write"]
Millis = Annotated[float, Field(ge=0)]
_DOCS = ConfigDict(use_attribute_docstrings=True)


class ServerTimeSource(StrEnum):
    """Where a scenario's server-side time came from."""

    SERVER_LOG = "server log"
    EXPLAIN_ANALYZE = "explain analyze"


@dataclass(frozen=True)
class BenchOptions:
    """How much to measure; defaults suit the ci profile, a profile's [NAME.bench] table overrides them."""

    __pydantic_config__ = _DOCS

    rounds: int = 200
    """Timed rounds per scenario."""
    warmup_rounds: int = 20
    """Untimed rounds run first."""
    recall_queries: int = 50
    """Timed answers checked against an exact search (vector scenarios)."""
    explain_samples: int = 30
    """Parameter sets timed back to back with their server-side time (fidelity) and EXPLAINed."""
    large_table_rows: int = 10_000
    """A sequential scan over a table at least this big is reported."""
    prepare_threshold: int | None = None
    """psycopg's prepare_threshold on timed sessions; None never prepares (harness.bench.session)."""

    @classmethod
    def from_config(cls, cfg: RunConfig, **overrides: Any) -> BenchOptions:
        table = {k: v for k, v in cfg.profile_data.get("bench", {}).items() if k in cls.__dataclass_fields__}
        return cls(**{**table, **{k: v for k, v in overrides.items() if v is not None}})


@dataclass(frozen=True)
class SeqScan:
    """A sequential scan in the executed plan, with the scanned table's estimated size."""

    __pydantic_config__ = _DOCS

    table: str
    """The scanned table."""
    table_rows: int
    """Its row estimate (reltuples, or live tuples before the first ANALYZE)."""


@dataclass(frozen=True)
class PlanSummary:
    """What a reader checks in an EXPLAIN plan: node types, indexes, sequential scans."""

    __pydantic_config__ = _DOCS

    nodes: tuple[str, ...]
    """Node types in plan order, each once."""
    indexes: tuple[str, ...]
    """Indexes the plan reads, each once."""
    seq_scans: tuple[SeqScan, ...]
    """Sequential scans with table sizes."""
    large_seq_scans: tuple[str, ...]
    """Tables scanned sequentially that hold at least large_table_rows rows."""
    total_cost: float | None
    """The planner's total cost of the top node."""


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario as the bench stage measured it: latencies from raw timings, plan, fidelity, recall."""

    __pydantic_config__ = _DOCS

    name: str
    """Scenario name (with its variant, e.g. vector_search_ward.busy_ward)."""
    kind: ScenarioKind
    """Scenario kind: it chooses the p95 target and whether recall is measured."""
    target_ms: float
    """p95 target the scenario was judged by (its own, else the run's target for its kind)."""
    count: int = 0
    """Timed rounds recorded."""
    errors: int = 0
    """1 when the scenario failed, else 0."""
    error: str | None = None
    """The failure, one line."""
    selectivity: str | None = None
    """Variant label (busy_ward, quiet_ward, ...)."""
    source: str = ""
    """The scenario file."""
    settings: dict[str, str] = field(default_factory=dict)
    """Session settings the timed queries ran with."""
    p50_ms: Millis | None = None
    """Median latency (nearest rank)."""
    p95_ms: Millis | None = None
    """95th percentile latency (nearest rank)."""
    p99_ms: Millis | None = None
    """99th percentile latency (nearest rank)."""
    max_ms: Millis | None = None
    """Slowest round."""
    qps: Annotated[float, Field(ge=0)] | None = None
    """Serial queries per second: rounds / total timed seconds."""
    margin: float | None = None
    """Relative headroom of p95 below its target (the p95 gate's margin)."""
    samples_ms: tuple[Millis, ...] = ()
    """Raw per-round latencies in the order taken (at most 5,000), for `wardbench compare`."""
    plan: PlanSummary | None = None
    """The plan of the first timed parameter set."""
    plan_shapes: dict[str, int] | None = None
    """Plan shapes (indexes read, else scan types) chosen across the fidelity samples, with counts."""
    timed_statement_prepared: bool | None = None
    """Whether the timed statement ended up prepared server-side."""
    server_p50_ms: float | None = None
    """Median server-side time of the fidelity samples."""
    client_p50_ms: float | None = None
    """Median client time of the same queries."""
    overhead_p50_ms: float | None = None
    """Median client minus server time: the harness's share of a latency."""
    fidelity_samples: int | None = None
    """Queries timed for fidelity."""
    server_time_from: ServerTimeSource | None = None
    """Which server-side time the overhead was computed against."""
    roundtrip_floor_ms: float | None = None
    """Median client time of SELECT 1 on the same connection."""
    overhead_p50_vs_explain_ms: float | None = None
    """Median overhead against EXPLAIN ANALYZE time, where the server log was the primary measure."""
    blocks_p50: float | None = None
    """Median shared buffers (pages) one execution touched, hit or read (EXPLAIN ANALYZE BUFFERS over the
    fidelity samples): the query's work, which `capacity` extrapolates beside its latency."""
    k: int | None = None
    """Rows a vector scenario asks for."""
    rows_returned_min: int | None = None
    """Fewest rows a timed vector query returned."""
    rows_short_queries: int | None = None
    """Timed vector queries that returned fewer than k rows."""
    recall_at_10: float | None = None
    """Mean strict recall@10 against an exact search of the same queries."""
    recall_at_10_tie_tolerant: float | None = None
    """Mean recall@10 counting neighbours tied with the exact k-th as found."""
    recall_queries: int | None = None
    """Queries recall was measured on."""
    recall_min: float | None = None
    """Lowest strict recall of one query."""
    truth_rows_min: int | None = None
    """Fewest rows the exact search returned."""
    tie_tolerance: float | None = None
    """Distance within which a neighbour counts as tied."""
    truth_plan_nodes: tuple[str, ...] | None = None
    """Node types of the exact-search plan (no index may appear)."""
    recall_reason: str | None = None
    """Why recall was not measured."""


@dataclass(frozen=True)
class BenchFidelity:
    """Harness overhead over every scenario's fidelity samples against its criterion (recorded, not gated)."""

    __pydantic_config__ = _DOCS

    samples: int
    """Queries timed for fidelity, all scenarios; 0 when none (then nothing else is set)."""
    overhead_p50_ms: float | None = None
    """Median client minus server time."""
    server_p50_ms: float | None = None
    """Median server-side time."""
    overhead_target_ms: float | None = None
    """Criterion: 10 % of the server p50 or 0.2 ms, the larger."""
    within_target: bool | None = None
    """Whether the overhead p50 meets the criterion."""
    roundtrip_floor_p50_ms: float | None = None
    """Median SELECT 1 round trip."""
    server_time_from: tuple[ServerTimeSource, ...] = ()
    """Server-side time sources the scenarios used."""
    method: str = ""
    """How the overhead is measured."""


class PrewarmMethod(StrEnum):
    PG_PREWARM = "pg_prewarm"
    TID_RANGE_SCANS = "tid range scans"


@dataclass(frozen=True)
class Prewarm:
    """What was read into shared_buffers before anything was timed: the scenarios are measured in steady state,
    with the dataset cached as a server in service has it, not while a fresh copy is read from disk."""

    __pydantic_config__ = _DOCS

    method: PrewarmMethod
    """pg_prewarm (tables and indexes) where the server offers it, else TID range scans (tables only)"""
    relations: int
    """tables and indexes read"""
    mb: float
    """their size"""
    shared_buffers_mb: float
    """the server's shared_buffers: what exceeds it cannot all stay cached"""
    seconds: float
    """time spent reading"""
    note: str = ""
    """why the fallback was used"""


@dataclass(frozen=True)
class BenchSection:
    """How the bench stage measured: its options, pytest-benchmark's own JSON, the harness's fidelity."""

    __pydantic_config__ = _DOCS

    options: BenchOptions
    """Rounds, samples and preparation used."""
    pytest_benchmark_json: str
    """pytest-benchmark's JSON (raw per-round timings) in the run directory."""
    prepare_threshold: int | None
    """psycopg's prepare_threshold on timed sessions (None: never prepared)."""
    fidelity: BenchFidelity
    """Harness overhead against server-side time."""
    prewarm: Prewarm | None = None
    """What was cached before timing."""
