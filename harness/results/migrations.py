"""The migrations section: what `wardbench migrate verify` (and the gate's verify stage) found, step by step.

Step verdicts are declared once here (StepVerdict): the verifier sets them, the gates, the terminal, JUnit and
the report read them. Two leaf records stay dicts at runtime (TypedDict): what pg_locks said about a table and
what psycopg's diagnostics said about a failure, because the rehearsal copies them into its own records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, JsonValue
from typing_extensions import TypedDict

_CONFIG = ConfigDict(use_attribute_docstrings=True)


class StepVerdict(StrEnum):
    """What one stairway step concluded: the first unaccepted error finding's kind, or one of the four below."""

    LOSSLESS = "lossless"
    ACCEPTED = "accepted"
    NOT_RUN = "not_run"
    ERROR = "error"
    LOSSY = "lossy"
    SCHEMA_DRIFT = "schema_drift"
    LOCK_HAZARD = "lock_hazard"
    UPGRADE_FAILED = "upgrade_failed"
    FAILS_ON_EXISTING_DATA = "fails_on_existing_data"
    IRREVERSIBLE = "irreversible"
    DOWNGRADE_FAILED_ON_EMPTY = "downgrade_failed_on_empty"
    EMPTY_DOWNGRADE = "empty_downgrade"

    @property
    def passes(self) -> bool:
        """Its gate passes: nothing found, or only accepted findings."""
        return self in (StepVerdict.LOSSLESS, StepVerdict.ACCEPTED)

    @property
    def judged(self) -> bool:
        """Computed from findings; False when the step did not run or wardbench could not check it."""
        return self not in (StepVerdict.NOT_RUN, StepVerdict.ERROR)


class FindingKind(StrEnum):
    """What a finding is about; an error finding's kind becomes its step's verdict."""

    LOSSY = "lossy"
    SCHEMA_DRIFT = "schema_drift"
    LOCK_HAZARD = "lock_hazard"
    UPGRADE_FAILED = "upgrade_failed"
    FAILS_ON_EXISTING_DATA = "fails_on_existing_data"
    IRREVERSIBLE = "irreversible"
    DOWNGRADE_FAILED_ON_EMPTY = "downgrade_failed_on_empty"
    EMPTY_DOWNGRADE = "empty_downgrade"
    UNUSED_ACCEPTANCE = "unused_acceptance"  # always a warning: an acceptance that matched nothing


class WalkVerdict(StrEnum):
    """The plain walk (head, base, head on an empty database): error means the server lacks an extension."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"


class RoundTripVerdict(StrEnum):
    """head -> base -> head with data at head."""

    PASS = "pass"
    NOT_RUN = "not_run"
    IRREVERSIBLE = "irreversible"
    UPGRADE_FAILED = "upgrade_failed"
    SCHEMA_CHANGED = "schema_changed"


Severity = Literal["error", "warning"]
Direction = Literal["upgrade", "downgrade", "round_trip", "walk", ""]


class Lock(TypedDict):
    """A table's strongest lock during a migration command, and how long it was seen held."""

    mode: str
    held_ms: float | None  # None: only seen at commit (held for less than one poll interval)


class FailureInfo(TypedDict, total=False):
    """psycopg's diagnostics of a failed migration command, its statement and the revision it came through."""

    sqlstate: str
    message: str
    schema: str
    table: str
    column: str
    constraint: str
    datatype: str
    statement: str
    revision: str


@dataclass(frozen=True)
class Finding:
    """One thing the verifier found on a step; error findings decide the step's verdict unless accepted."""

    __pydantic_config__ = _CONFIG

    kind: FindingKind
    """what was found; an unaccepted error's kind is the step's verdict"""
    direction: Direction
    """which command caused it (round_trip when the data cannot tell)"""
    object: str
    """the table, table.column or constraint concerned ("" when none)"""
    detail: str
    """the finding in one sentence"""
    severity: Severity
    """errors fail the step's gate; warnings are reported only"""
    accepted: bool = False
    """acknowledged in [tool.wardbench.verify.accept]"""
    reason: str = ""
    """the acceptance's reason"""
    sqlstate: str | None = None
    """a failed command's SQLSTATE"""
    message: str | None = None
    """a failed command's primary error message"""
    schema: str | None = None
    """the schema PostgreSQL's error names"""
    table: str | None = None
    """the table the error or the lock hazard is on"""
    column: str | None = None
    """the column PostgreSQL's error (or the failed ALTER) names"""
    constraint: str | None = None
    """the constraint PostgreSQL's error names"""
    datatype: str | None = None
    """the data type PostgreSQL's error names"""
    statement: str | None = None
    """the failed statement (credentials redacted, at most 500 characters)"""
    rule: str | None = None
    """the lock hazard's rule, e.g. create-index-not-concurrently"""
    lock: str | None = None
    """the lock mode the hazard was observed under"""
    held_ms: float | None = None
    """how long that lock was seen held"""
    safe_pattern: str | None = None
    """how to do the same change without the hazard"""


@dataclass(frozen=True)
class Shortfall:
    """A table that got fewer seeded rows than asked."""

    __pydantic_config__ = _CONFIG

    table: str
    """the table"""
    wanted: int
    """rows asked for"""
    inserted: int
    """rows inserted"""
    reason: str
    """the last error of the inserts that failed"""


@dataclass(frozen=True)
class VerifySeeding:
    """Rows seeded per table before a step."""

    __pydantic_config__ = _CONFIG

    inserted: dict[str, int] = field(default_factory=dict)
    """rows inserted per table"""
    shortfalls: tuple[Shortfall, ...] = ()
    """tables that got fewer rows than asked"""


@dataclass(frozen=True)
class RowSample:
    """One differing row: its key and, for a changed row, only the columns whose values differ."""

    __pydantic_config__ = _CONFIG

    key: JsonValue
    """the primary key (as jsonb), None for a keyless table"""
    old: dict[str, JsonValue] | None
    """the row before the round trip (None: added)"""
    new: dict[str, JsonValue] | None
    """the row after it (None: missing)"""


@dataclass(frozen=True)
class VerifyDifference:
    """A table whose checksum or row count changed across a step's round trip, with its row-level diff."""

    __pydantic_config__ = _CONFIG

    table: str
    """the table"""
    rows_differing: int
    """missing + added + changed rows"""
    missing: int
    """rows gone after the round trip"""
    added: int
    """rows that were not there before"""
    changed: int
    """rows whose values differ"""
    key: tuple[str, ...] | None = None
    """the primary key columns (None: keyless, compared as a multiset)"""
    columns: dict[str, int] | None = None
    """rows differing per column (keyed tables only)"""
    samples: tuple[RowSample, ...] = ()
    """a few differing rows"""
    rows_before: int | None = None
    """rows before the step"""
    rows_after: int | None = None
    """rows after the round trip"""
    reason: str = ""
    """why the whole table differs (missing, or left behind by the downgrade)"""


@dataclass(frozen=True)
class SchemaDifference:
    """A catalog object missing, new or changed after a round trip."""

    __pydantic_config__ = _CONFIG

    kind: str
    """column, constraint, index, trigger, enum or extension"""
    object: str
    """its name, table.name for objects of a table"""
    change: str
    """what changed, in words"""
    before: dict[str, str] | None
    """its catalog fields before (None: it was not there)"""
    after: dict[str, str] | None
    """its catalog fields after (None: it is missing)"""


@dataclass(frozen=True)
class UnderLoad:
    """--under-load: reads beside the upgrade, p95 before against during, reads blocked on a lock."""

    __pydantic_config__ = _CONFIG

    reads_during: int = 0
    """reads intended during the step (or running across its start)"""
    reads_before: int = 0
    """successful reads before the step"""
    p95_before_ms: float | None = None
    """p95 latency before the step, from each read's intended start"""
    p95_during_ms: float | None = None
    """p95 latency during the step"""
    p95_ratio: float | None = None
    """during / before"""
    blocked_reads: int = 0
    """reads seen waiting on a lock"""
    longest_lock_wait_ms: float | None = None
    """the longest of those reads"""
    failed_reads: int = 0
    """reads that raised during the step"""
    reads: tuple[str, ...] = ()
    """the kinds of read issued"""
    errors: dict[str, int] = field(default_factory=dict)
    """read errors by read and first line"""
    detail: str = ""
    """why no reads ran"""


@dataclass(frozen=True)
class VerifyStep:
    """One stairway step: seed at `from`, checksum, upgrade to `revision`, downgrade, checksum, upgrade again."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True, serialize_by_alias=True, validate_by_name=True)

    revision: str
    """the revision upgraded to"""
    from_: Annotated[str, Field(alias="from")]
    """the revision it started from (base for the first)"""
    verdict: StepVerdict
    """what the step concluded"""
    name: str = ""
    """the revision's first docstring line (or file name)"""
    detail: str = ""
    """every finding in one line, or why the step did not run"""
    lossless: bool | None = None
    """the round trip kept every row (None: it did not get that far)"""
    reversible: bool | None = None
    """the downgrade ran (None: it did not get that far)"""
    findings: tuple[Finding, ...] = ()
    """what was found, errors and warnings"""
    direction: Literal["up+down"] = "up+down"
    """every step goes up and down"""
    duration_s: float | None = None
    """the upgrade's wall time"""
    downgrade_s: float | None = None
    """the downgrade's wall time"""
    reupgrade_s: float | None = None
    """the upgrade after the downgrade"""
    tables: int = 0
    """tables that existed before the step"""
    rows_checked: int = 0
    """rows in them"""
    seeding: VerifySeeding = field(default_factory=VerifySeeding)
    """rows seeded before the step"""
    empty_tables: tuple[str, ...] = ()
    """tables that had no rows before the step (their round trip proves less)"""
    locks: dict[str, Lock] = field(default_factory=dict)
    """the upgrade's locks per table"""
    lock_polls: int = 0
    """pg_locks polls during the upgrade"""
    lock_poll_interval_ms: float | None = None
    """the poll interval"""
    lock_timeout: str | None = None
    """the migrating session's lock_timeout at commit ("0": none)"""
    blocking_locks: tuple[str, ...] = ()
    """tables with rows the upgrade locked SHARE or stronger"""
    rewritten: dict[str, int] = field(default_factory=dict)
    """tables the upgrade rewrote, with their rows"""
    downgrade_locks: dict[str, Lock] = field(default_factory=dict)
    """the downgrade's locks per table"""
    under_load: UnderLoad | None = None
    """reads beside the upgrade (--under-load)"""
    differences: tuple[VerifyDifference, ...] = ()
    """tables that came back different"""
    schema_drift: tuple[SchemaDifference, ...] = ()
    """catalog objects that came back different"""
    upgrade_failure: FailureInfo | None = None
    """why the upgrade failed"""
    rows_checked_on_failure: int | None = None
    """rows present when the upgrade failed on data (it was then re-run on empty tables)"""
    failed_with_data_s: float | None = None
    """the failed upgrade's wall time with data"""


@dataclass(frozen=True)
class Structure:
    """The chain's structure (names, branches, missing downgrades), read from its files."""

    __pydantic_config__ = _CONFIG

    findings: tuple[str, ...]
    """problems of the chain's files"""
    ok: bool
    """no findings"""


@dataclass(frozen=True)
class PlainWalk:
    """head, base, head on an empty database, each timed; stops at the first failure."""

    __pydantic_config__ = _CONFIG

    verdict: WalkVerdict
    """pass, fail, or error (not evaluated: the server lacks an extension)"""
    detail: str = ""
    """what failed"""
    upgrade_s: float | None = None
    """upgrade head"""
    downgrade_s: float | None = None
    """downgrade base"""
    reupgrade_s: float | None = None
    """upgrade head again"""


@dataclass(frozen=True)
class VerifyRoundTrip:
    """head -> base -> head with data at head."""

    __pydantic_config__ = _CONFIG

    verdict: RoundTripVerdict
    """what it concluded"""
    detail: str = ""
    """why, or the tables left at base"""
    rows_at_head: int | None = None
    """rows seeded at head"""
    downgrade_s: float | None = None
    """head -> base"""
    upgrade_s: float | None = None
    """base -> head"""
    left_at_base: tuple[str, ...] = ()
    """tables still there at base"""
    schema_differences: tuple[str, ...] = ()
    """schema objects that differ after the round trip (at most 20)"""


@dataclass(frozen=True)
class LockTimeout:
    """Whether migrations that took blocking locks on tables with rows set lock_timeout."""

    __pydantic_config__ = _CONFIG

    missing: bool
    """some did not"""
    revisions: tuple[str, ...] = ()
    """the revisions that did not"""
    detail: str = ""
    """the warning, with the fix"""


@dataclass(frozen=True)
class Summary:
    """Steps per verdict, lock hazards and accepted findings."""

    __pydantic_config__ = _CONFIG

    lossless: int = 0
    """steps lossless"""
    accepted: int = 0
    """steps with only accepted error findings"""
    not_run: int = 0
    """steps not run"""
    error: int = 0
    """steps wardbench could not check"""
    lossy: int = 0
    """steps that lost data"""
    schema_drift: int = 0
    """steps whose downgrade left the schema different"""
    lock_hazard: int = 0
    """steps failed for a lock hazard (--strict-locks)"""
    upgrade_failed: int = 0
    """steps whose upgrade failed"""
    fails_on_existing_data: int = 0
    """steps whose upgrade failed only with rows present"""
    irreversible: int = 0
    """steps whose downgrade raised"""
    downgrade_failed_on_empty: int = 0
    """steps whose downgrade failed even on an empty database"""
    empty_downgrade: int = 0
    """steps whose downgrade does nothing"""
    lock_hazards: int = 0
    """lock hazard findings"""
    accepted_findings: int = 0
    """accepted findings"""


@dataclass(frozen=True)
class ChecksumThroughput:
    """Checksum time against a plain count(*) of the same (seeded) tables."""

    __pydantic_config__ = _CONFIG

    rows: int
    """rows checksummed"""
    checksum_s: float
    """time spent checksumming"""
    count_s: float
    """time spent counting the same tables"""
    ratio_vs_count: float | None
    """checksum_s / count_s"""
    note: str = ""
    """what the figure covers"""


@dataclass(frozen=True)
class VerifiedWith:
    """The options the chain was verified with."""

    __pydantic_config__ = _CONFIG

    under_load: bool
    """reads ran beside each upgrade"""
    rows_per_table: int
    """rows seeded per table per revision"""
    seed: int
    """the seeder's seed"""
    strict_locks: bool
    """lock hazards fail the gate"""


@dataclass(frozen=True)
class MigrationsSection:
    """The migration chain verified: structure, plain walk, every step, the round trip."""

    __pydantic_config__ = _CONFIG

    chain: str
    """the chain's alembic.ini"""
    head: str
    """its head revision"""
    revisions: tuple[str, ...]
    """its revisions, oldest first"""
    structure: Structure
    """the chain's files"""
    plain_walk: PlainWalk
    """head, base, head on an empty database"""
    steps: tuple[VerifyStep, ...]
    """one per revision"""
    round_trip: VerifyRoundTrip
    """head -> base -> head with data"""
    lock_timeout: LockTimeout
    """lock_timeout in the migration sessions"""
    summary: Summary
    """counts per verdict"""
    checksum_throughput: ChecksumThroughput
    """checksum cost against count(*)"""
    options: VerifiedWith
    """how it was verified"""
    warnings: tuple[str, ...] = ()
    """warnings beside the findings (stale acceptances, lock_timeout)"""
    duration_s: float = 0.0
    """the whole verification's wall time"""
