"""Prepared datasets on a server: kept from a generate run, listed, copied for a run, served for Locust.

A dataset is a database `wardbench_ds_NAME` whose COMMENT holds its record (JSON). It is marked a template
that takes no connections, as template0 is: nobody writes to it by accident, and no session can block the
`CREATE DATABASE … TEMPLATE` that copies it. Copies use STRATEGY FILE_COPY (a checkpoint, then the files
copied whole; the default WAL_LOG copies block by block through shared buffers and writes every block to
WAL) and, on PostgreSQL 18, `file_copy_method = clone`: copy_file_range(), which a copy-on-write file system
(XFS, Btrfs, ZFS) turns into a clone and others into an in-kernel copy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from harness.datasets.record import DATABASE_PREFIX, DatasetCopy, DatasetRecord, Expected, check_fresh
from harness.db.base import Database, ServerHandle, dsn_with_database, redact_dsn
from harness.errors import UsageError

if TYPE_CHECKING:
    from harness.config import RunConfig

COMMENT_PREFIX = "wardbench dataset v1 "
SERVE_PREFIX = "wardbench_serve_"  # `db start --dataset NAME` serves a copy named wardbench_serve_NAME
METHODS = ("clone", "copy", "wal_log")


def _admin(admin_dsn: str) -> psycopg.Connection[Any]:
    return psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10)


def list_datasets(admin_dsn: str) -> list[DatasetRecord]:
    """Every dataset on the server, by name; databases with the prefix but no readable record are skipped."""
    with _admin(admin_dsn) as conn:
        rows = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                            "WHERE starts_with(datname, %s) ORDER BY datname", (DATABASE_PREFIX,)).fetchall()
    records = []
    for (comment,) in rows:
        if comment and comment.startswith(COMMENT_PREFIX):
            try:
                records.append(DatasetRecord.from_json(comment[len(COMMENT_PREFIX):]))
            except (ValueError, TypeError):
                continue
    return records


def describe(record: DatasetRecord) -> str:
    scale = f", scale {record.scale_factor:g}" if record.scale_factor != 1.0 else ""
    return f"{record.name} (profile {record.profile}, seed {record.seed}{scale}, built {record.created_at})"


def find(admin_dsn: str, name: str) -> DatasetRecord:
    """The record of dataset `name`; an unknown name is a UsageError listing the known ones."""
    known = list_datasets(admin_dsn)
    for record in known:
        if record.name == name:
            return record
    listing = "; ".join(describe(r) for r in known) if known else "none yet"
    raise UsageError(f"unknown dataset {name!r} on {redact_dsn(admin_dsn)} (known: {listing}): build it with "
                     f"`wardbench generate --profile PROFILE --keep-dataset {name}`")


def _wait_alone(conn: psycopg.Connection[Any], dbname: str, timeout_s: float = 10) -> None:
    """End every other session on `dbname` and wait until they are gone (RENAME and TEMPLATE need that)."""
    deadline = time.monotonic() + timeout_s
    while True:
        row = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,)).fetchone()
        if not row or row[0] == 0 or time.monotonic() > deadline:
            return
        time.sleep(0.1)


def drop(admin_dsn: str, name: str) -> bool:
    """Drop database `name` (a dataset's, a template: unmarked first); return whether it existed."""
    with _admin(admin_dsn) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            return False
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false ALLOW_CONNECTIONS true").format(ident))
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident))
    return True


def keep(db: Database, record: DatasetRecord) -> None:
    """Turn the run's database `db` into dataset `record.name` (replacing one of that name): renamed, its
    record written as its comment, then frozen (a template taking no connections)."""
    admin = db.server.admin_dsn
    aside = record.database + "_replaced"  # the dataset it replaces, kept until the new one has its name
    drop(admin, aside)
    with _admin(admin) as conn:
        _wait_alone(conn, db.name)
        target = sql.Identifier(record.database)
        replacing = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (record.database,)).fetchone()
        if replacing:
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(target, sql.Identifier(aside)))
        try:
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(db.name), target))
        except psycopg.Error:
            if replacing:
                conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(aside), target))
            raise
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            target, sql.Literal(COMMENT_PREFIX + record.to_json())))
        conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(target))
    drop(admin, aside)


def _server_major(conn: psycopg.Connection[Any]) -> int:
    return int(conn.info.server_version) // 10000


def _set_copy_method(conn: psycopg.Connection[Any], method: str) -> str:
    """Set file_copy_method for this session; a server built without clone support falls back to copy."""
    try:
        conn.execute("SELECT set_config('file_copy_method', %s, false)", (method,))
    except psycopg.errors.DatabaseError:
        if method == "copy":
            raise
        return _set_copy_method(conn, "copy")
    return method


def copy_database(admin_dsn: str, template: str, target: str, method: str = "clone") -> str:
    """CREATE DATABASE `target` TEMPLATE `template` by `method`; return the method used ("clone" falls back to
    "copy" where the server (before 18) or the file system cannot clone)."""
    if method not in METHODS:
        raise UsageError(f"unknown copy method {method!r}: choose {', '.join(METHODS)}")
    create = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY {}").format(
        sql.Identifier(target), sql.Identifier(template), sql.SQL("WAL_LOG" if method == "wal_log" else "FILE_COPY"))
    with _admin(admin_dsn) as conn:
        if method in ("clone", "copy") and _server_major(conn) < 18:
            method = "copy"  # file_copy_method is new in 18; FILE_COPY copies before it
        elif method in ("clone", "copy"):
            method = _set_copy_method(conn, method)
        try:
            conn.execute(create)
        except psycopg.errors.DatabaseError as exc:
            if method != "clone" or "clone" not in str(exc):  # "could not clone file …": the file system cannot
                raise
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(target)))
            method = _set_copy_method(conn, "copy")
            conn.execute(create)
    return method


def copy_dataset(server: ServerHandle, record: DatasetRecord, target: str, method: str = "clone") -> DatasetCopy:
    """A new database `target` holding dataset `record`, and how it was made."""
    started = time.perf_counter()
    used = copy_database(server.admin_dsn, record.database, target, method)
    return DatasetCopy(record, used, round(time.perf_counter() - started, 3))


@contextmanager
def dataset_copy(server: ServerHandle, record: DatasetRecord, target: str, keep_copy: bool = False
                 ) -> Iterator[Database]:
    """The run's disposable database `target`, a copy of `record`; dropped on exit unless `keep_copy`."""
    made = copy_dataset(server, record, target)
    try:
        yield Database(server.database_dsn(target), target, server, disposable=True, dataset=made)
    finally:
        if not keep_copy:
            server.drop_database(target)


@contextmanager
def run_copy(server: ServerHandle, cfg: RunConfig, dataset: str, target: str) -> Iterator[Database]:
    """The run's database `target` as a copy of `dataset`, refused (exit 2) when unknown or not what the run
    expects; dropped on exit unless --keep-database."""
    record = find(server.admin_dsn, dataset)
    dsn_flag = f" --dsn '{redact_dsn(cfg.dsn)}'" if cfg.backend == "dsn" and cfg.dsn else ""
    check_fresh(record, Expected.for_run(cfg), dsn_flag)
    with dataset_copy(server, record, target, keep_copy=cfg.keep_database) as db:
        yield db


def serve(server: ServerHandle, record: DatasetRecord) -> Database:
    """A fresh copy of `record` named wardbench_serve_NAME (replacing the previous one) for interactive use."""
    target = SERVE_PREFIX + record.name
    server.drop_database(target)
    made = copy_dataset(server, record, target)
    return Database(server.database_dsn(target), target, server, disposable=False, dataset=made)


@contextmanager
def opened(admin_dsn: str, record: DatasetRecord) -> Iterator[psycopg.Connection[Any]]:
    """A read-only session on the dataset itself (connections allowed only meanwhile): for its checksums."""
    ident = sql.Identifier(record.database)
    with _admin(admin_dsn) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(ident))
        try:
            dsn = dsn_with_database(admin_dsn, record.database)
            with psycopg.connect(dsn, options="-c default_transaction_read_only=on") as session:
                yield session
        finally:
            _wait_alone(conn, record.database)
            conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(ident))
