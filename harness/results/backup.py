"""The `backup` section: a logical dump restored and compared, and (release) a physical backup restored to a
point in time mid-load and compared with the original as of that moment."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ConfigDict


@dataclass(frozen=True)
class TableImage:
    """One table as the original held it: row count and order-independent checksum."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    rows: int
    """rows in the table"""
    checksum: str
    """order-independent checksum of its contents (numeric as text)"""


@dataclass(frozen=True)
class LogicalTimings:
    """How long each step of the logical check took, in seconds."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    dump_s: float
    """pg_dump"""
    restore_s: float
    """pg_restore into a fresh database"""
    read_original_s: float
    """checksumming and snapshotting the original"""
    read_restored_s: float
    """checksumming and snapshotting the restore"""


@dataclass(frozen=True)
class PhysicalTimings:
    """How long each step of the physical check took, in seconds."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    basebackup_s: float
    """pg_basebackup under load"""
    read_snapshot_s: float
    """checksumming the original as of the recovery target"""
    copy_s: float
    """copying the base backup into the restored server's data directory"""
    read_restored_s: float
    """checksumming the restored database"""


@dataclass(frozen=True)
class Amcheck:
    """bt_index_check (heapallindexed) over every valid B-tree of the restored database."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    evaluated: bool
    """False when amcheck is not available on the server"""
    reason: str = ""
    """why it was not evaluated"""
    indexes_checked: int = 0
    """B-tree indexes checked"""
    failures: tuple[str, ...] = ()
    """one line per corrupt index"""


@dataclass(frozen=True)
class PhysicalTable:
    """One table as the original held it at the recovery target, and as restored."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    rows_at_target: int
    """rows the original held at the target"""
    checksum_at_target: str
    """their checksum"""
    rows_restored: int
    """rows restored"""
    checksum_restored: str
    """their checksum"""


@dataclass(frozen=True)
class PhysicalSkipped:
    """The physical check could not run here; the reason is also each of its gates' reason."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    not_evaluated: str
    """why it could not run"""


@dataclass(frozen=True)
class PhysicalBackup:
    """pg_basebackup while AI writers ran, verified, restored to a target mid-load and compared."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    restore_settings: dict[str, str]
    """server limits the restored server copies (a hot standby refuses lower ones)"""
    timings_s: PhysicalTimings
    """how long each step took"""
    acknowledged_by_backup_end: int
    """writer commits acknowledged when pg_basebackup finished"""
    wal_segments: int
    """WAL segments in the streamed archive"""
    recovery_target_time: str
    """the server clock at the target (the writers paused between commits)"""
    writers: int
    """AI writers running"""
    acknowledged_before_target: int
    """commits acknowledged before the target (all must be restored)"""
    acknowledged_after_target: int
    """commits acknowledged after it (none may be restored)"""
    backup_bytes: int
    """size of the base backup"""
    verifier: str
    """pg_verifybackup, or the harness's own manifest check where this build's binary cannot run"""
    pg_verifybackup: str
    """the verifier's last line (or the problems it found)"""
    recovery_s: float
    """from starting the restored server to its promotion at the target"""
    amcheck: Amcheck
    """B-tree check on the restored database"""
    per_table: dict[str, PhysicalTable]
    """each table at the target and restored"""
    tables: int
    """tables restored"""
    rows: int
    """rows restored"""
    differences: list[str]
    """one line per difference found at the target (empty: exact)"""
    found_before_target: int
    """commits acknowledged before the target found in the restore"""
    found_after_target: int
    """commits acknowledged after the target found in the restore (replay overshot)"""


@dataclass(frozen=True)
class BackupSection:
    """results.backup: the logical check's figures (None when only the physical kind ran) and the physical one's."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    format: str | None = None
    """pg_dump format"""
    compression: int | None = None
    """pg_dump compression level (0: none)"""
    restore_jobs: int | None = None
    """pg_restore parallel jobs"""
    dump_bytes: int | None = None
    """size of the dump"""
    timings_s: LogicalTimings | None = None
    """how long each step took"""
    tables: int | None = None
    """tables in the original"""
    rows: int | None = None
    """rows in the original"""
    schema_objects: dict[str, int] | None = None
    """schema objects compared, per kind"""
    per_table: dict[str, TableImage] | None = None
    """each table's rows and checksum in the original"""
    table_differences: list[str] | None = None
    """one line per table restored differently"""
    schema_differences: list[str] | None = None
    """one line per schema object restored differently"""
    physical: PhysicalBackup | PhysicalSkipped | None = None
    """the physical backup and point-in-time recovery check, when the profile asks for it"""
