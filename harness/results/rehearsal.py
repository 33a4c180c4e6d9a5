"""The `rehearsal` section: each revision of the window migrated both ways at volume under a live workload.

Written by harness.rehearse (stage, step, live, waits, seed_bulk); read by its render module, the report's
timeline figure and `compare`. Times inside a step (statements, lock holds, the live series) are seconds
from the step's start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from harness.results.bench import Prewarm
from harness.results.migrations import Shortfall

_CONFIG = ConfigDict(use_attribute_docstrings=True)
# "from" is a Python keyword: the field is `source`, its JSON key stays "from".
_ALIASED = ConfigDict(use_attribute_docstrings=True, serialize_by_alias=True, validate_by_alias=True,
                      validate_by_name=True)


class Direction(StrEnum):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"


class StepOutcome(StrEnum):
    """A step's verdict: its gates passed or failed, or the migration itself failed (and was rolled back)."""

    PASS = "pass"
    FAIL = "fail"
    UPGRADE_FAILED = "upgrade_failed"
    DOWNGRADE_FAILED = "downgrade_failed"


@dataclass(frozen=True)
class Seeding:
    """Bulk seeding of the empty tables before a step (nothing on the reference chain's prepared dataset)."""

    __pydantic_config__ = _CONFIG
    method: str
    """how the rows were written"""
    rows: dict[str, int] = field(default_factory=dict)
    """rows seeded per table"""
    seconds: dict[str, float] = field(default_factory=dict)
    """seconds each table's COPY took"""
    total_rows: int = 0
    """rows seeded in all tables"""
    total_s: float = 0.0
    """seconds all tables took"""
    rows_per_s: int | None = None
    """total_rows / total_s; null when nothing was seeded"""
    shortfalls: list[Shortfall] = field(default_factory=list)
    """tables that got fewer rows than asked"""


@dataclass(frozen=True)
class LiveStats:
    """Live requests in one window; latencies in ms from each request's intended start (open model)."""

    __pydantic_config__ = _CONFIG
    count: int
    """requests due in the window (and those in flight at its start)"""
    errors: int
    """requests that failed"""
    error_rate: float | None
    """errors / count; null when none was due"""
    p50_ms: float | None
    """median latency of the successful requests"""
    p95_ms: float | None
    """95th percentile latency"""
    p99_ms: float | None
    """99th percentile latency"""
    max_ms: float | None
    """slowest successful request"""


@dataclass(frozen=True)
class KindStats:
    __pydantic_config__ = _CONFIG
    before: LiveStats
    """the baseline before the step"""
    during: LiveStats
    """the step and the settle time after it"""


@dataclass(frozen=True)
class LongestWait:
    """The longest wait of any live request on a lock, and the statement it waited behind."""

    __pydantic_config__ = _CONFIG
    wait_ms: float
    """the request's time from its actual start (covers the wait), else the sampled span"""
    live_request: str | None
    """the live request's name; null when no sample matched the wait"""
    latency_ms: float | None
    """that request's latency from its intended start"""
    lock: str
    """the lock mode it waited for"""
    locktype: str
    """pg_locks.locktype (relation, transactionid, ...)"""
    table: str | None
    """the relation waited on; null for a non-relation lock"""
    blocked_by_pid: int | None
    """the blocking backend"""
    blocked_by_statement: str
    """the blocking backend's statement (up to 500 characters)"""


@dataclass(frozen=True)
class Series:
    """Live p95 per query kind per time bucket of intended starts: the report's timeline."""

    __pydantic_config__ = _CONFIG
    start_s: float
    """start of the first bucket (negative: before the step, in its baseline)"""
    bucket_s: float
    """width of each bucket"""
    stat: Literal["p95_ms"]
    """the statistic in each bucket"""
    kinds: dict[str, list[float | None]]
    """per query kind, one value per bucket; null for an empty bucket"""


@dataclass(frozen=True)
class LiveRun:
    """The live workload beside the step: the step's window against the baseline before it."""

    __pydantic_config__ = _CONFIG
    before: LiveStats
    """all requests in the baseline"""
    during: LiveStats
    """all requests during the step and its settle time"""
    kinds: dict[str, KindStats]
    """per query kind (ward/vector/write on the reference chain, read/insert otherwise)"""
    requests: list[str]
    """the request names the workload issued"""
    rate_per_s: float
    """live requests per second, all sessions together"""
    workers: int
    """live sessions"""
    during_s: float
    """length of the `during` window"""
    settle_s: float
    """seconds after the step counted as during it"""
    baseline_s: float
    """seconds of workload before the step"""
    errors_seen: dict[str, int]
    """error text -> occurrences"""
    blocked_requests: int
    """lock-wait episodes seen"""
    longest_wait: LongestWait | None
    """null when no live request waited on a lock"""
    wait_polls: int
    """polls of the wait sampler"""
    sampler_error: str | None
    """why the wait sampler stopped early, if it did"""
    rows_inserted: int
    """rows the live workload inserted (left out of the loss check)"""
    series: Series
    """live p95 per kind over time"""
    ran: Literal[True] = True
    """the live workload ran"""


@dataclass(frozen=True)
class LiveSkipped:
    __pydantic_config__ = _CONFIG
    detail: str
    """why no live workload ran"""
    ran: Literal[False] = False
    """the live workload did not run"""


@dataclass(frozen=True)
class Hold:
    """One stretch of polls that saw the lock held (a lock released and taken again is two)."""

    __pydantic_config__ = _CONFIG
    start_s: float
    """first poll that saw it, seconds from the step's start (it was taken at most one poll earlier)"""
    end_s: float
    """last poll that saw it (it was released before the next poll)"""


@dataclass(frozen=True)
class LockMode:
    """One lock mode on a table as the wait sampler saw the migration hold it."""

    __pydantic_config__ = _CONFIG
    held_ms: float
    """first to last sighting"""
    first_seen_during: str | None
    """the migration statement running when it was first seen (it or a quicker one before it took the lock)"""
    holds: list[Hold] = field(default_factory=list)
    """each hold, in order: the report draws them as bands on the step's timeline"""


@dataclass(frozen=True)
class LockHold:
    """Locks the step held on a table that existed before it."""

    __pydantic_config__ = _CONFIG
    mode: str
    """the strongest mode seen"""
    held_ms: float | None
    """span of any lock on the table (first to last sighting); null when only seen at commit"""
    modes: dict[str, LockMode] = field(default_factory=dict)
    """per mode, how long it was seen held"""


@dataclass(frozen=True)
class Statement:
    """One statement the migration sent, as its connection saw it."""

    __pydantic_config__ = _CONFIG
    statement: str
    """the SQL, whitespace folded, up to 500 characters"""
    start_s: float
    """when it started"""
    duration_s: float | None = None
    """null when it failed"""
    rows: int | None = None
    """rows affected, when the driver reports it"""


class StatementSource(StrEnum):
    PG_STAT_STATEMENTS = "pg_stat_statements"
    SERVER_LOG = "server log"


@dataclass(frozen=True)
class ServerStatement:
    """One statement shape the migration sent, as the server counted it over the step."""

    __pydantic_config__ = _CONFIG
    query: str
    """the statement (pg_stat_statements: with its constants as $n), whitespace folded, up to 500 characters"""
    calls: int
    """times it ran (a batched backfill is one shape with many calls)"""
    total_ms: float
    """server time of all calls (pg_stat_statements: execution; server log: parse + bind + execute)"""
    mean_ms: float
    """total_ms / calls"""
    rows: int | None
    """rows retrieved or affected (pg_stat_statements only)"""
    wal_bytes: int | None
    """WAL it generated (pg_stat_statements only)"""


@dataclass(frozen=True)
class ServerStatements:
    """The migration's statements from the server's side, and which source gave them."""

    __pydantic_config__ = _CONFIG
    source: StatementSource | None
    """pg_stat_statements where the server preloads it, else the server log; null when neither is available"""
    detail: str
    """how the source was read, or why there is none"""
    statements: list[ServerStatement]
    """in the order the migration first sent each shape"""


@dataclass(frozen=True)
class SizeChange:
    __pydantic_config__ = _CONFIG
    kind: Literal["table", "index"]
    """a table (with its TOAST) or an index"""
    before: int | None
    """bytes before; null when it did not exist"""
    after: int | None
    """bytes after; null when it is gone"""
    delta: int
    """after - before"""


@dataclass(frozen=True)
class Sizes:
    __pydantic_config__ = _CONFIG
    changed: dict[str, SizeChange]
    """tables and indexes whose size changed"""
    total_before: int
    """bytes of all tables and indexes before"""
    total_after: int
    """bytes of all tables and indexes after"""


@dataclass(frozen=True)
class Difference:
    __pydantic_config__ = _CONFIG
    table: str
    """the table that lost something"""
    reason: str
    """what was lost"""
    rows_before: int | None = None
    """rows before (when counted)"""
    rows_after: int | None = None
    """rows after (when counted)"""


@dataclass(frozen=True)
class Loss:
    """Every value that existed before the step, the live workload's rows left out, compared after it."""

    __pydantic_config__ = _CONFIG
    lossless: bool | None
    """null when the step failed and nothing was compared"""
    detail: str = ""
    """why nothing was compared"""
    tables: int = 0
    """tables compared"""
    rows_checked: int = 0
    """rows they held before"""
    live_rows_left_out: int = 0
    """rows the live workload inserted"""
    removed: list[str] = field(default_factory=list)
    """tables and columns a downgrade removed (its revision added them): not loss"""
    differences: list[Difference] = field(default_factory=list)
    """what was lost"""


@dataclass(frozen=True)
class ChecksumTiming:
    __pydantic_config__ = _CONFIG
    rows: int
    """rows checksummed before the step"""
    checksum_s: float
    """seconds the checksums took"""
    count_s: float
    """seconds a count(*) of the same tables took"""
    ratio_vs_count: float | None
    """checksum_s / count_s"""


@dataclass(frozen=True)
class Step:
    """One rehearsed step: a revision upgraded or downgraded under the live workload."""

    __pydantic_config__ = _ALIASED
    revision: str
    """the revision rehearsed"""
    source: Annotated[str, Field(alias="from")]
    """the revision the step starts at"""
    to: str
    """the revision it ends at"""
    name: str
    """the revision's docstring, first line"""
    direction: Direction
    """upgrade or downgrade"""
    verdict: StepOutcome
    """pass, fail (a gate failed), or the migration failed"""
    seeding: Seeding
    """rows seeded before the step"""
    duration_s: float
    """wall time of the migration command"""
    wal_bytes: int | None
    """WAL written during the step (what a replica replays)"""
    locks: dict[str, LockHold]
    """per table that existed before"""
    lock_polls: int
    """polls of the lock monitor"""
    statements: list[Statement]
    """the migration's statements in order"""
    live: LiveRun | LiveSkipped
    """the live workload beside the step"""
    loss: Loss
    """the zero-loss check"""
    checksum_timing: ChecksumTiming
    """the checksums before the step against count(*)"""
    rewritten: dict[str, int] = field(default_factory=dict)
    """tables whose storage was rewritten -> their rows now"""
    sizes: Sizes | None = None
    """size changes; null when the step failed"""
    error: str = ""
    """why the migration failed"""
    failure: dict[str, str] = field(default_factory=dict)
    """the failure's sqlstate, message, table, statement, revision ... (harness.verify.failures)"""
    server_statements: ServerStatements | None = None
    """the statements as the server counted them (`statements` are the client's view)"""


@dataclass(frozen=True)
class RoundTrip:
    """A revision's two steps (down then up, or up then down) brought back every value compared."""

    __pydantic_config__ = _CONFIG
    revision: str
    """the revision"""
    via: str
    """the revision the trip passed through"""
    at: str
    """the revision it started and ended at"""
    lossless: bool | None
    """every value compared is back"""
    tables: int
    """tables compared"""
    rows_checked: int
    """rows they held before"""
    live_rows_left_out: int
    """rows the live workload inserted in either step"""
    removed: list[str]
    """always empty here (kept from the loss check's shape)"""
    differences: list[Difference]
    """what did not come back"""
    not_compared: list[str]
    """tables the downgrade dropped whose rows the upgrade did not bring back (a derived table that came back whole
    is compared like the others)"""


@dataclass(frozen=True)
class Options:
    __pydantic_config__ = _CONFIG
    rows: int
    """rows seeded per empty table (any chain)"""
    seed: int
    """the random seed"""
    baseline_s: float
    """seconds of live workload before each step"""
    rate_per_s: float
    """live requests per second"""
    workers: int
    """live sessions"""
    write_share: float
    """share of live requests that write"""
    max_blocked_ms: float
    """target: longest live wait on a lock"""
    max_error_rate: float
    """target: live error rate"""
    p95_targets_ms: dict[str, float]
    """targets: live p95 per query kind during each step"""
    live_workload: Literal["scenarios", "keys"]
    """the load stage's scenarios (reference chain) or primary-key reads and inserts"""


@dataclass(frozen=True)
class ChecksumVsCount:
    """All steps' checksums against count(*) of the same tables in the same run (goal: at most 1.5x)."""

    __pydantic_config__ = _CONFIG
    rows: int
    """rows checksummed"""
    checksum_s: float
    """seconds"""
    count_s: float
    """seconds"""
    ratio: float | None
    """checksum_s / count_s"""


@dataclass(frozen=True)
class Rehearsal:
    """The rehearsal of a window of revisions (harness.rehearse.stage)."""

    __pydantic_config__ = _ALIASED
    chain: str
    """the chain's alembic.ini"""
    window: list[str]
    """the revisions rehearsed"""
    source: Annotated[str, Field(alias="from")]
    """the revision below the window"""
    dataset: Literal["prepared", "seeded"]
    """the generated dataset at head, or every table seeded in bulk"""
    order: str
    """in which order the steps ran"""
    options: Options
    """workload and targets"""
    steps: list[Step] = field(default_factory=list)
    """every step in the order it ran"""
    round_trips: list[RoundTrip] = field(default_factory=list)
    """one per revision whose two steps both ran"""
    error: str = ""
    """why the rehearsal could not run"""
    duration_s: float | None = None
    """wall time of the whole rehearsal; null when it could not run"""
    checksum_vs_count: ChecksumVsCount | None = None
    """checksum throughput; null when it could not run"""
    seeding_rows_per_s: int | None = None
    """bulk seeding rate over all steps; null when nothing was seeded"""
    prewarm: Prewarm | None = None
    """how the prepared dataset's copy was read into shared_buffers before the first step; null when seeded"""
