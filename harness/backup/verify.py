"""The `backup` stage: dump the run's database, restore it into a fresh one, and prove both hold the same.

Data is compared per table (row count and order-independent checksum, alembic_version included),
the schema object by object (tables, columns, constraints, indexes with their HNSW parameters,
triggers, functions, views, sequence positions, extensions). Any difference fails the stage's gates.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from harness.backup import tools
from harness.backup.catalog import SchemaSnapshot, diff_schema, snapshot_schema
from harness.config import RunConfig
from harness.db import Database
from harness.db.base import scratch_database
from harness.gates import evaluate, not_evaluated
from harness.results import Results
from harness.results.backup import BackupSection, LogicalTimings, TableImage
from harness.verify.checksums import TableChecksum, table_checksum

T = TypeVar("T")


@dataclass(frozen=True)
class DatabaseImage:
    """What a database holds: every table's checksum and its schema snapshot."""

    tables: dict[str, TableChecksum]
    schema: SchemaSnapshot


def read_image(db: Database) -> DatabaseImage:
    """Checksum every table of every user schema (alembic_version too) and snapshot the schema."""
    with db.connect(autocommit=True) as conn:
        schema = snapshot_schema(conn)
        return DatabaseImage(read_tables(conn, schema), schema)


def read_tables(conn: psycopg.Connection[Any], schema: SchemaSnapshot) -> dict[str, TableChecksum]:
    """Checksum every table `schema` lists, on `conn` (inside its transaction's snapshot, if it has one)."""
    names = conn.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
                         "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
                         "AND format('%%I.%%I', n.nspname, c.relname) = ANY(%s) ORDER BY 1, 2",
                         (list(schema.objects["tables"]),)).fetchall()
    return {f"{nsp}.{rel}": table_checksum(conn, rel, nsp) for nsp, rel in names}


def diff_tables(expected: dict[str, TableChecksum], actual: dict[str, TableChecksum]) -> list[str]:
    """One line per table whose rows differ (count or checksum), or that exists on one side only."""
    lines = [f"{t}: missing from the restored database" for t in sorted(expected.keys() - actual.keys())]
    lines += [f"{t}: not in the original database" for t in sorted(actual.keys() - expected.keys())]
    for name in sorted(expected.keys() & actual.keys()):
        want, have = expected[name], actual[name]
        if want.rows != have.rows:
            lines.append(f"{name}: {want.rows} rows in the original, {have.rows} restored")
        elif want.checksum != have.checksum:
            lines.append(f"{name}: same {want.rows} rows but contents differ (checksum)")
    return lines


def _timed(timings: dict[str, float], key: str, fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    value = fn()
    timings[key] = round(time.perf_counter() - start, 3)
    return value


def verify_backup(cfg: RunConfig, db: Database, results: Results,
                  after_dump: Callable[[], None] | None = None) -> list[str]:
    """Dump, restore and compare; fill `results.backup` and its gates; return the differences found.

    `after_dump` runs between the dump and the comparison (tests change the original there).
    """
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="wardbench-backup-") as tmp, \
            scratch_database(db.server, f"wardbench_{cfg.run_id}_restore") as copy:
        path = Path(tmp) / "dump.custom"
        _timed(timings, "dump_s", lambda: tools.dump(db, path))
        dump_bytes = path.stat().st_size
        if after_dump is not None:
            after_dump()
        _timed(timings, "restore_s", lambda: tools.restore(copy, path))
        original = _timed(timings, "read_original_s", lambda: read_image(db))
        restored = _timed(timings, "read_restored_s", lambda: read_image(copy))
    table_diffs = diff_tables(original.tables, restored.tables)
    schema_diffs = diff_schema(original.schema, restored.schema)
    rows = sum(t.rows for t in original.tables.values())
    results.backup = replace(
        results.backup or BackupSection(),
        format="custom", compression=tools.DUMP_COMPRESSION, restore_jobs=tools.RESTORE_JOBS,
        dump_bytes=dump_bytes, timings_s=LogicalTimings(**timings), tables=len(original.tables), rows=rows,
        schema_objects={k: len(v) for k, v in original.schema.objects.items()},
        per_table={t: TableImage(rows=c.rows, checksum=c.checksum) for t, c in original.tables.items()},
        table_differences=table_diffs, schema_differences=schema_diffs)
    _add_gates(results, table_diffs, schema_diffs)
    if not rows:  # an empty database restores trivially: that proves nothing
        results.gates.append(not_evaluated("backup holds data", "backup", "the database has no rows to verify"))
    return table_diffs + schema_diffs


def _add_gates(results: Results, table_diffs: list[str], schema_diffs: list[str]) -> None:
    tables = evaluate("backup restores every table exactly", "backup", float(len(table_diffs)), 0.0,
                      "tables differing", "==")
    tables.reason = "; ".join(table_diffs[:5])
    schema = evaluate("backup restores the schema exactly", "backup", float(len(schema_diffs)), 0.0,
                      "objects differing", "==")
    schema.reason = "; ".join(schema_diffs[:5])
    results.gates += [tables, schema]

