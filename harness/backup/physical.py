"""Physical backup and point-in-time recovery, proved: `pg_basebackup` (WAL streamed) while AI writers run,
`pg_verifybackup`, a restore into a second embedded server replaying archived WAL to a recovery target chosen
mid-load, then the restored database compared with the original *as of that target*.

The WAL archive is streamed by `pg_receivewal` through a replication slot, so the server under test needs no
restart or `archive_mode`. At the target the writers are paused between commits, the server's clock is read
as the recovery target, and a REPEATABLE READ snapshot opened in that same pause is checksummed later: it
holds exactly the commits older than the target. A logical dump would rebuild every index on restore; this
restores pages as they were, so it also shows how long recovery really takes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg

from harness.backup.catalog import SchemaSnapshot, diff_schema, snapshot_schema
from harness.backup.manifest import verify_manifest
from harness.backup.verify import diff_tables, read_tables
from harness.backup.writers import AiWriters, writer_targets
from harness.config import RunConfig
from harness.db import Database, redact_dsn
from harness.db.embedded import home_dir, scratch_server, server_user
from harness.errors import EnvironmentFailure
from harness.gates import evaluate, not_evaluated
from harness.results import Results
from harness.results.backup import (
    Amcheck,
    BackupSection,
    PhysicalBackup,
    PhysicalSkipped,
    PhysicalTable,
    PhysicalTimings,
)
from harness.verify.checksums import TableChecksum

WRITERS = 2
LOAD_AFTER_BACKUP_S = 2.0  # writers run this long after the backup ends before the target is chosen ...
LOAD_AFTER_TARGET_S = 2.0  # ... and this long after it, so replay must stop at the target, not at WAL's end
MIN_COMMITS_PER_PHASE = 20
PROMOTE_TIMEOUT_S = 600.0
# A hot standby refuses to replay WAL from a primary whose limits exceed its own: the restore copies them.
COPIED_LIMITS = ("max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
                 "max_locks_per_transaction")
GATE_NAMES = ("physical backup verified against its manifest", "physical restore equals the original at the target",
              "amcheck clean on the restored B-trees")


def verify_physical(cfg: RunConfig, db: Database, results: Results) -> list[str]:
    """Back up, restore to a target mid-load, compare; fill `results.backup.physical` and its gates.

    Returns the differences found at the target (empty when the restore is exact).
    """
    reason = _cannot_run(db)
    if reason:
        results.backup = replace(results.backup or BackupSection(), physical=PhysicalSkipped(reason))
        results.gates += [not_evaluated(name, "backup", reason) for name in GATE_NAMES]
        return []
    with tempfile.TemporaryDirectory(prefix="physical-", dir=home_dir()) as tmp:
        work = Path(tmp)
        _own(work)
        run = _backup_under_load(cfg, db, work)
        verifier, verified, detail = _verify_backup(db, work / "base")
        restore = _restore_and_compare(db, work, run)
    section = PhysicalBackup(
        restore_settings=run.limits,
        timings_s=PhysicalTimings(basebackup_s=run.basebackup_s, read_snapshot_s=run.expected.read_s,
                                  copy_s=restore.copy_s, read_restored_s=restore.read_restored_s),
        acknowledged_by_backup_end=run.acknowledged_by_backup_end, wal_segments=run.wal_segments,
        recovery_target_time=run.target, writers=WRITERS, acknowledged_before_target=len(run.before),
        acknowledged_after_target=len(run.after), backup_bytes=run.backup_bytes, verifier=verifier,
        pg_verifybackup=detail, recovery_s=restore.recovery_s, amcheck=restore.amcheck, per_table=restore.per_table,
        tables=restore.tables, rows=restore.rows, differences=restore.differences,
        found_before_target=restore.found_before, found_after_target=restore.found_after)
    results.backup = replace(results.backup or BackupSection(), physical=section)
    _add_gates(results, verified, detail, section.differences, section.amcheck)
    return section.differences


def _cannot_run(db: Database) -> str:
    """Why the physical check cannot run here ("" when it can)."""
    if db.server.backend != "embedded":
        return (f"the restore needs a second server of the same build: only the embedded backend provides one "
                f"(this run's server is {db.server.backend})")
    if not db.disposable:
        return "the AI writers write during the backup: needs the run's disposable database (drop --in-place)"
    try:
        with db.connect(autocommit=True) as conn:
            writer_targets(conn, 1)
    except LookupError as exc:
        return f"{exc}: run `wardbench generate` first or drop --in-place"
    return ""


@dataclass(frozen=True)
class _Snapshot:
    """The original as of the recovery target: tables, schema and sequence positions, and the time to read them."""

    tables: dict[str, TableChecksum]
    schema: SchemaSnapshot
    sequences: dict[str, int]
    read_s: float


@dataclass(frozen=True)
class _Run:
    """What happened during the backup under load: the target, what the snapshot held there, and the ids
    acknowledged before and after it."""

    target: str
    expected: _Snapshot
    before: list[int]
    after: list[int]
    limits: dict[str, str]
    basebackup_s: float
    acknowledged_by_backup_end: int
    wal_segments: int
    backup_bytes: int


@dataclass(frozen=True)
class _Restore:
    """What the restored server held, compared with the snapshot at the target."""

    copy_s: float
    read_restored_s: float
    recovery_s: float
    amcheck: Amcheck
    per_table: dict[str, PhysicalTable]
    tables: int
    rows: int
    differences: list[str]
    found_before: int
    found_after: int


def _backup_under_load(cfg: RunConfig, db: Database, work: Path) -> _Run:
    with db.connect(autocommit=True) as conn:
        pairs, dim = writer_targets(conn)
        limits = {str(k): str(v) for k, v in conn.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                                                          (list(COPIED_LIMITS),)).fetchall()}
    archive = work / "wal"
    archive.mkdir()
    _own(archive)
    writers = AiWriters(db.dsn, pairs, dim, WRITERS, cfg.seed)
    with _receiving_wal(db, archive, f"wardbench_{cfg.run_id}"[:63], work / "pg_receivewal.log") as switch:
        writers.start()
        try:
            if not writers.wait_for(1, 60):
                raise EnvironmentFailure(f"the AI writers could not write: {'; '.join(writers.errors)}")
            start = time.perf_counter()
            _run_tool([str(db.bin_dir / "pg_basebackup"), "-D", str(work / "base"), "--wal-method=stream",
                       "--checkpoint=fast", "--no-sync", "--no-password", "--label=wardbench",
                       "--manifest-checksums=SHA256"], db, "pg_basebackup")
            basebackup_s = round(time.perf_counter() - start, 3)
            by_backup_end = len(writers.acknowledged)
            _keep_writing(writers, LOAD_AFTER_BACKUP_S)
            writers.pause()
            target, expected, before = _snapshot_at_target(db, writers)
            _keep_writing(writers, LOAD_AFTER_TARGET_S)
        finally:
            writers.stop()
        after = writers.acknowledged[len(before):]
        if writers.errors:
            raise EnvironmentFailure(f"an AI writer failed during the backup: {writers.errors[0]}")
        wal_segments = switch()
    return _Run(target, expected, before, after, limits, basebackup_s, by_backup_end, wal_segments,
                backup_bytes=sum(f.stat().st_size for f in (work / "base").rglob("*") if f.is_file()))


def _keep_writing(writers: AiWriters, seconds: float) -> None:
    """Let the writers run `seconds` and at least MIN_COMMITS_PER_PHASE more commits."""
    goal = len(writers.acknowledged) + MIN_COMMITS_PER_PHASE
    time.sleep(seconds)
    if not writers.wait_for(goal, 120):
        raise EnvironmentFailure(f"the AI writers stalled: {'; '.join(writers.errors) or 'no commits for 120 s'}")


def _snapshot_at_target(db: Database, writers: AiWriters) -> tuple[str, _Snapshot, list[int]]:
    """With the writers paused between commits: read the target time, open the snapshot, resume, checksum it."""
    with db.connect() as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        try:
            # The snapshot is taken by this first statement, after every acknowledged commit, before any new one.
            row = conn.execute("SELECT clock_timestamp()::text").fetchone()
            before = writers.acknowledged
            positions = _sequence_positions(conn)  # not transactional: read while nothing writes
        finally:
            writers.resume()
        assert row is not None
        started = time.perf_counter()
        schema = snapshot_schema(conn)
        expected = _Snapshot(read_tables(conn, schema), schema, positions, round(time.perf_counter() - started, 3))
        conn.rollback()
    return str(row[0]), expected, before


@contextmanager
def _receiving_wal(db: Database, archive: Path, slot: str, log: Path) -> Iterator[Any]:
    """Stream WAL into `archive` through a new replication slot; yields a function that completes the
    current segment (pg_switch_wal), waits for it in the archive and returns how many segments it holds."""
    with db.connect(autocommit=True) as conn:
        conn.execute("SELECT pg_create_physical_replication_slot(%s, true)", (slot,))
    argv = [str(db.bin_dir / "pg_receivewal"), "-D", str(archive), f"--slot={slot}", "--no-loop", "--no-password"]
    try:
        with log.open("w") as err:
            proc = subprocess.Popen(argv, env={**os.environ, **db.libpq_env()}, stdout=err, stderr=err,
                                    user=server_user())
        try:
            _wait_until(lambda: any(archive.iterdir()) or proc.poll() is not None, 30)
            if proc.poll() is not None or not any(archive.iterdir()):
                raise EnvironmentFailure(f"pg_receivewal did not stream WAL: {_last_line(log)}")

            def switch() -> int:
                with db.connect(autocommit=True) as c:
                    name = c.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]  # type: ignore[index]
                if not _wait_until(lambda: (archive / name).exists() or proc.poll() is not None, 60) \
                        or not (archive / name).exists():
                    raise EnvironmentFailure(f"WAL segment {name} never reached the archive: {_last_line(log)}")
                return sum(1 for f in archive.iterdir() if not f.name.endswith(".partial"))

            yield switch
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        with db.connect(autocommit=True) as conn:
            _wait_until(lambda: not conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                                                 (slot,)).fetchone()[0], 15)  # type: ignore[index]
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))


def _verify_backup(db: Database, base: Path) -> tuple[str, bool, str]:
    """pg_verifybackup on `base`; where this build's binary cannot even print its version, the same checks
    by `manifest.verify_manifest`. Returns the verifier used, whether the backup verified, and its detail."""
    tool = str(db.bin_dir / "pg_verifybackup")
    try:
        probe = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
        broken = f"exit status {probe.returncode} on --version" if probe.returncode else ""
    except OSError as exc:
        broken = exc.strerror or type(exc).__name__
    if broken:
        verifier = f"wardbench manifest check (this build's pg_verifybackup does not run: {broken})"
        problems = verify_manifest(base, db.bin_dir)
        return verifier, not problems, "; ".join(problems[:5]) or "backup matches its manifest; WAL parsed"
    proc = subprocess.run([tool, str(base)], capture_output=True, text=True, check=False, user=server_user())
    out = (proc.stdout + proc.stderr).strip().splitlines()
    return "pg_verifybackup", proc.returncode == 0, out[-1] if out else f"exit status {proc.returncode}"


def _restore_and_compare(db: Database, work: Path, run: _Run) -> _Restore:
    timings: dict[str, float] = {}
    restore_cmd = f"cp {_quoted(work / 'wal')}/%f %p"

    def prepare(pgdata: Path) -> None:
        start = time.perf_counter()
        subprocess.run(["cp", "-a", str(work / "base"), str(pgdata)], check=True)
        (pgdata / "recovery.signal").touch()
        with (pgdata / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"\nrestore_command = {_conf(restore_cmd)}\nrecovery_target_time = {_conf(run.target)}\n"
                       "recovery_target_action = 'promote'\n")
        _own(pgdata / "recovery.signal")
        timings["copy_s"] = round(time.perf_counter() - start, 3)

    start = time.perf_counter()
    settings = dict(run.limits)
    with db.connect(autocommit=True) as conn:
        version = conn.info.server_version // 10000
    with scratch_server(version, settings, prepare=prepare) as restored:
        _wait_promoted(restored.admin_dsn, restored.log_file)
        recovery_s = round(time.perf_counter() - start, 3)
        with psycopg.connect(restored.handle().database_dsn(db.name), autocommit=True) as conn:
            started = time.perf_counter()
            schema = snapshot_schema(conn)
            tables = read_tables(conn, schema)
            read_restored_s = round(time.perf_counter() - started, 3)
            found_before, found_after = (_count_ids(conn, ids) for ids in (run.before, run.after))
            restored_at = _sequence_positions(conn)
            amcheck = _amcheck(conn)
    diffs = diff_tables(run.expected.tables, tables) + diff_schema(_without_positions(run.expected.schema),
                                                                   _without_positions(schema))
    diffs += [f"sequence {name} restored at {restored_at.get(name)}, behind {at} where the original stood at the "
              "target (the next insert would reuse an id)"
              for name, at in run.expected.sequences.items() if (restored_at.get(name) or 0) < at]
    if found_before != len(run.before):
        diffs.append(f"{len(run.before) - found_before} of {len(run.before)} writes acknowledged before the target "
                     "are missing from the restore")
    if found_after:
        diffs.append(f"{found_after} writes acknowledged after the target were restored (replay overshot it)")
    want = run.expected.tables
    per_table = {name: PhysicalTable(rows_at_target=want[name].rows, checksum_at_target=want[name].checksum,
                                     rows_restored=have.rows, checksum_restored=have.checksum)
                 for name, have in tables.items() if name in want}
    return _Restore(timings["copy_s"], read_restored_s, recovery_s, amcheck, per_table, len(tables),
                    sum(t.rows for t in tables.values()), diffs, found_before, found_after)


def _sequence_positions(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Each used sequence's last value (sequences are not transactional: no snapshot sees their past)."""
    return {str(name): int(value) for name, value in conn.execute(
        "SELECT format('%I.%I', schemaname, sequencename), last_value FROM pg_sequences "
        "WHERE last_value IS NOT NULL").fetchall()}


def _without_positions(schema: SchemaSnapshot) -> SchemaSnapshot:
    """`schema` without sequence positions: WAL logs a sequence up to 32 values ahead, so a restored one may
    stand further on than the original did at the target (never behind it, checked separately)."""
    objects = dict(schema.objects)
    objects["sequences"] = {k: v.rsplit(" last ", 1)[0] for k, v in objects.get("sequences", {}).items()}
    return SchemaSnapshot(objects)


def _wait_promoted(dsn: str, log: Path) -> None:
    """Until the restored server has replayed to the target and left recovery (promoted)."""
    deadline = time.monotonic() + PROMOTE_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:  # type: ignore[index]
                    return
        except psycopg.OperationalError:
            if not (log.parent / "postmaster.pid").exists():
                raise EnvironmentFailure(f"the restored server stopped during recovery: {_last_line(log)}") from None
        time.sleep(0.1)
    raise EnvironmentFailure(f"the restored server was not promoted within {PROMOTE_TIMEOUT_S:.0f} s: "
                             f"{_last_line(log)}")


def _count_ids(conn: psycopg.Connection[Any], ids: list[int]) -> int:
    row = conn.execute("SELECT count(*) FROM ai_reports WHERE id = ANY(%s)", (ids,)).fetchone()
    return int(row[0]) if row else 0


def _amcheck(conn: psycopg.Connection[Any]) -> Amcheck:
    """bt_index_check (heapallindexed) on every valid B-tree of the database, catalogs included."""
    if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'").fetchone() is None:
        return Amcheck(evaluated=False, reason="amcheck not available on this server")
    conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
    indexes = conn.execute(
        "SELECT c.oid, c.oid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_am am ON am.oid = c.relam WHERE am.amname = 'btree' AND i.indisvalid AND i.indisready "
        "AND c.relpersistence <> 't' ORDER BY 2").fetchall()
    failures = []
    for oid, name in indexes:
        try:
            conn.execute("SELECT bt_index_check(%s::oid::regclass, true)", (oid,))
        except psycopg.Error as exc:
            failures.append(f"{name}: {str(exc).strip().splitlines()[0]}")
    return Amcheck(evaluated=True, indexes_checked=len(indexes), failures=tuple(failures))


def _add_gates(results: Results, verified: bool, detail: str, diffs: list[str], check: Amcheck) -> None:
    backup = evaluate(GATE_NAMES[0], "backup", 0.0 if verified else 1.0, 0.0, "errors", "==")
    backup.reason = "" if verified else detail
    exact = evaluate(GATE_NAMES[1], "backup", float(len(diffs)), 0.0, "differences", "==")
    exact.reason = "; ".join(diffs[:5])
    if check.evaluated:
        amcheck = evaluate(GATE_NAMES[2], "backup", float(len(check.failures)), 0.0, "corrupt indexes", "==")
        amcheck.reason = "; ".join(check.failures[:5])
    else:
        amcheck = not_evaluated(GATE_NAMES[2], "backup", check.reason, 0.0, "corrupt indexes")
    results.gates += [backup, exact, amcheck]


def _run_tool(argv: list[str], db: Database, what: str) -> None:
    """Run a client tool as the server's user (it writes files the restored server will own)."""
    proc = subprocess.run(argv, env={**os.environ, **db.libpq_env()}, capture_output=True, text=True,
                          check=False, user=server_user())
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise EnvironmentFailure(f"{what} failed: {redact_dsn(lines[-1] if lines else str(proc.returncode))}")


def _own(path: Path) -> None:
    """Hand `path` to the server's user (when we are root the server runs as another user)."""
    user = server_user()
    if user is not None:
        shutil.chown(path, user, user)


def _wait_until(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _last_line(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return redact_dsn(lines[-1]) if lines else "no output"


def _quoted(path: Path) -> str:
    """`path` quoted for the shell that runs restore_command."""
    return "'" + str(path).replace("'", "'\\''") + "'"


def _conf(value: str) -> str:
    """`value` as a postgresql.conf string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
