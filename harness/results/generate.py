"""The `generate` section (how the dataset was loaded, and with --benchmark the loader against its peers) and
the `dataset` section (what the run's data is: profile, seed, scale, rows per table, digest, head revision)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import ConfigDict, JsonValue

from harness.results.backup import TableImage


class LoadMethod(StrEnum):
    """How the generator sent a table's rows."""

    WRITE_ROW = "write_row"
    BINARY_COPY = "numpy binary COPY"


class CopyMethod(StrEnum):
    """How a run's database was copied from a prepared dataset (CREATE DATABASE ... STRATEGY)."""

    CLONE = "clone"
    COPY = "copy"
    WAL_LOG = "wal_log"


@dataclass(frozen=True)
class LoadedTable:
    """One table as the generator loaded it."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    rows: int
    """rows written"""
    seconds: float
    """until the server acknowledged the COPY"""
    rows_per_s: int | None
    """rows / seconds"""
    columns: int
    """columns of the table"""
    method: LoadMethod
    """how the rows were sent"""


@dataclass(frozen=True)
class AuditLog:
    """The audit trigger's rows, checksummed without the columns the trigger fills from the clock and session."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    rows: int
    """rows the trigger wrote"""
    deterministic_checksum: str
    """checksum over the columns a seed determines"""
    note: str
    """which columns are left out, and why"""


@dataclass(frozen=True)
class PreparedOrigin:
    """The prepared dataset a run's database was copied from."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    name: str
    """dataset name"""
    database: str
    """the database holding it"""
    created_at: str
    """when it was kept (UTC)"""
    head_revision: str
    """the chain's revision it was built at"""
    generator_digest: str
    """hash of the generator sources and the profile's data keys it was built with"""
    copy_method: CopyMethod
    """how the copy was made"""
    copy_s: float
    """how long the copy took"""


@dataclass(frozen=True)
class PgbenchInit:
    """`pgbench -i` (client-side generate) in a scratch schema."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    scale: int
    """pgbench scale"""
    rows: int
    """rows it generates"""
    runs_s: list[float]
    """its generate step per run"""
    median_s: float
    """median of the runs"""
    rows_per_s: int | None
    """rows / median"""
    steps: str
    """the -I steps run"""


@dataclass(frozen=True)
class PgbenchFailed:
    """`pgbench -i` could not run here."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    error: str
    """why"""


@dataclass(frozen=True)
class NaiveInsert:
    """Faker per row, one INSERT per row (rolled back)."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    table: str
    """the table written"""
    rows: int
    """rows inserted"""
    seconds: float
    """time taken"""
    rows_per_s: int
    """rows / seconds"""


@dataclass(frozen=True)
class CopyRun:
    """One timed COPY."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    seconds: float
    """time taken"""
    rows_per_s: int
    """rows / seconds"""


@dataclass(frozen=True)
class VectorCopy:
    """The same vector rows by binary COPY and by text COPY, back to back."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    rows: int
    """vectors copied each way"""
    dim: int
    """their dimension"""
    binary: CopyRun
    """binary COPY (NumPy-encoded)"""
    text: CopyRun
    """text COPY"""
    binary_over_text: float
    """binary rows/s / text rows/s (gated)"""
    generate_rows_per_s: int | None = None
    """the vector table's rate during generate"""


@dataclass(frozen=True)
class NarrowUnconstrained:
    """The generator's encoder and COPY into a constraint-free copy of the narrow table (pgbench's terms)."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    shape_of: str
    """the table whose shape was copied"""
    rows: int
    """rows copied"""
    seconds: float
    """time taken"""
    rows_per_s: int
    """rows / seconds"""
    constraints: str
    """which constraints the copy kept"""


@dataclass(frozen=True)
class RatedRuns:
    """Repeated timed loads: their median rate and each run's seconds."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    rows_per_s: int | None
    """rows / median seconds"""
    runs_s: list[float]
    """each run"""


@dataclass(frozen=True)
class NarrowServerSide:
    """The narrow table loaded by the generator and by the server's INSERT ... SELECT, in alternation."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    table: str
    """the narrow table"""
    runs: int
    """pairs run"""
    rows: int
    """rows per load"""
    constraints: list[str]
    """the constraints both sides kept"""
    loader_copy: RatedRuns
    """the generator's encoder and binary COPY"""
    constrained: RatedRuns
    """the server's INSERT ... SELECT with the same constraints"""
    unconstrained: RatedRuns
    """the server's INSERT ... SELECT with none"""
    paired_ratios: list[float]
    """server seconds / loader seconds, per pair"""
    paired_ratio_median: float | None
    """their median (gated)"""


@dataclass(frozen=True)
class NarrowVsCeiling:
    """The narrow table's loader against the server's own INSERT ... SELECT, pgbench -i beside it."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    table: str
    """the narrow table"""
    rows_per_s: int | None
    """the loader's rate"""
    during_generate_rows_per_s: int | None
    """its rate during generate"""
    server_insert_select_rows_per_s: int | None
    """the server's own rate, same constraints"""
    ratio: float | None
    """paired median ratio (gated)"""
    paired_ratios: list[float] | None
    """each pair's ratio"""
    during_generate_ratio: float | None
    """rate during generate / the server's (reported, not gated)"""
    pgbench_rows_per_s: int | None
    """pgbench -i's rate"""
    pgbench_ratio: float | None
    """loader / pgbench -i"""
    pgbench_ratio_gated: bool
    """whether that ratio is gated (it is not)"""
    pgbench_ratio_why_not_gated: str
    """why not"""
    pgbench_error: str | None
    """why pgbench -i did not run, if it did not"""
    server_insert_select_vs_pgbench: float | None
    """the server's own rate / pgbench -i"""
    unconstrained_copy_vs_pgbench: float | None
    """unconstrained COPY / pgbench -i"""


@dataclass(frozen=True)
class VsNaive:
    """The generator against a naive Faker loop (reported, not gated)."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    table: str
    """the table compared"""
    ratio: float
    """generator rows/s / naive rows/s"""
    gated: bool
    """whether it is gated (it is not)"""
    why_not_gated: str
    """why not"""


@dataclass(frozen=True)
class GenerationFloor:
    """What generate cannot beat: a raw binary COPY of the same rows into bare tables, plus its vector index
    builds (HNSW graphs and IVFFlat lists: the work a faster loader cannot remove)."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    raw_copy_s: dict[str, float]
    """per table: binary COPY FROM of the table's own rows (read out beforehand, untimed) into a table with its
    columns only (no key, constraint, index or trigger), in a transaction rolled back"""
    raw_copy_total_s: float
    """their sum"""
    hnsw_build_s: float
    """the HNSW index builds of this generate run"""
    floor_s: float
    """raw_copy_total_s + hnsw_build_s + ivfflat_build_s"""
    generate_s: float
    """this generate run's total_s"""
    ratio: float
    """generate_s / floor_s (gated: generate_vs_floor)"""
    ivfflat_build_s: float = 0.0
    """the IVFFlat index builds of this generate run (0 in results written before they were counted)"""


@dataclass(frozen=True)
class GenerateBenchmark:
    """`generate --benchmark`: the loader against peers measured on the same server in the same run."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    per_table_rows_per_s: dict[str, int | None]
    """each table's rate during generate"""
    pgbench_init: PgbenchInit | PgbenchFailed
    """pgbench -i"""
    naive_faker_insert: NaiveInsert
    """a naive Faker loop"""
    vector_copy: VectorCopy
    """binary against text COPY of vectors"""
    narrow_unconstrained: NarrowUnconstrained
    """the loader into a constraint-free narrow table"""
    narrow_server_side: NarrowServerSide
    """loader and server, paired"""
    narrow_vs_ceiling: NarrowVsCeiling
    """the gated narrow-table ratio and what is reported beside it"""
    vs_naive: VsNaive
    """the generator against the naive loop"""
    floor: GenerationFloor | None = None
    """the whole generate against its floor"""


@dataclass(frozen=True)
class GenerateSection:
    """results.generate: how the dataset was loaded (or, from a prepared dataset, how it was when kept)."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    profile: dict[str, JsonValue]
    """the profile's scalar settings"""
    plan: dict[str, str | int | float]
    """row counts and shape knobs the generator planned"""
    seed: int
    """generator seed"""
    scale_factor: float
    """scale factor"""
    embedding_dim: int
    """dimension of the embedding column"""
    tables: dict[str, LoadedTable]
    """each table's load"""
    index_builds_s: dict[str, float]
    """each secondary index's build after the load"""
    index_build_total_s: float
    """their sum"""
    build_settings: dict[str, str]
    """settings in force while the indexes were built"""
    vacuum_analyze_s: float
    """VACUUM (ANALYZE) of every table"""
    total_s: float
    """the whole generation (recorded, never gated)"""
    load_s: float
    """the tables' loads summed"""
    checksums: dict[str, TableImage]
    """each table's rows and checksum"""
    dataset_digest: str
    """one digest of every table's rows and checksum: equal digests, identical datasets"""
    audit_log: AuditLog
    """the audit trigger's rows"""
    planned_rows: dict[str, int]
    """rows the plan asks for, per table"""
    benchmark: GenerateBenchmark | None = None
    """with --benchmark: the loader against its peers"""
    from_dataset: PreparedOrigin | None = None
    """set when the run's database is a copy of a prepared dataset (this section replays its generation)"""
    copy_rows: dict[str, int] | None = None
    """rows counted in that copy, per table"""


@dataclass(frozen=True)
class DatasetSection:
    """results.dataset: what the run's data is. Fields are None until the stage that knows them ran."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    head_revision: str | None = None
    """the chain's head the schema stage migrated to"""
    profile: str | None = None
    """profile the data was generated for"""
    seed: int | None = None
    """generator seed"""
    scale_factor: float | None = None
    """scale factor"""
    rows: dict[str, int] = field(default_factory=dict)
    """rows per table"""
    checksums: dict[str, TableImage] = field(default_factory=dict)
    """each table's rows and checksum"""
    dataset_digest: str | None = None
    """one digest of every table's rows and checksum"""
    embedding_dim: int | None = None
    """dimension of the embedding column"""
    prepared: PreparedOrigin | None = None
    """set when the data was copied from a prepared dataset"""
