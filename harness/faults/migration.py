"""Interrupt a migration step mid-transaction and prove the database stays at the previous revision, intact.

The fault chain (fixtures/chains/fault_slow_step) adds and backfills a column, zeroes the original
amounts, then stalls in pg_sleep. The fault lands during the stall, after the step has changed data:
with transactional DDL none of it may survive, and alembic_version must not move.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from alembic import command

from harness import REPO_ROOT, alembic_project
from harness.db import Database
from harness.errors import first_line
from harness.faults.outcome import FaultOutcome
from harness.verify.checksums import database_checksums

FAULT_CHAIN = REPO_ROOT / "fixtures" / "chains" / "fault_slow_step" / "alembic.ini"
BEFORE, SLOW_STEP = "001_create_ledger", "002_slow_backfill"
SEED_ROWS = 20_000
STALL_MARKER = "wardbench fault chain stall"


def migrate(db: Database, revision: str, ini: Path = FAULT_CHAIN,
            on_backend: Callable[[int], None] | None = None) -> None:
    """Upgrade `db` to `revision` on one connection; `on_backend` learns that connection's backend pid first."""
    cfg = alembic_project.load_config(ini)
    with alembic_project.connected(cfg, db) as conn:
        pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        conn.commit()
        if on_backend is not None:
            on_backend(pid)
        command.upgrade(cfg, revision)
        conn.commit()


def wait_until_stalled(db: Database, pid: int, timeout_s: float = 30) -> bool:
    """Whether backend `pid` reached the slow step's stall (its data changes already made) in time."""
    deadline = time.monotonic() + timeout_s
    with db.connect(autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT query FROM pg_stat_activity WHERE pid = %s AND state = 'active'",
                               (pid,)).fetchone()
            if row is not None and STALL_MARKER in str(row[0]):
                return True
            time.sleep(0.05)
    return False


def terminate_backend(db: Database, pid: int) -> str:
    """Kill the migrating backend from another connection; return how the fault is described."""
    with db.connect(autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return f"backend {pid} terminated with pg_terminate_backend from another connection"


def seed_ledger(db: Database) -> None:
    with db.connect(autocommit=True) as conn:
        conn.execute("INSERT INTO ledger (id, amount) SELECT g, (g %% 9973) / 7.0 FROM generate_series(1, %s) g",
                     (SEED_ROWS,))


def _state(db: Database) -> tuple[str | None, dict[str, tuple[int, str]], bool]:
    """Revision, per-table checksums and whether the slow step's column exists."""
    with db.connect(autocommit=True) as conn:
        sums = {t: (c.rows, c.checksum) for t, c in database_checksums(conn).items()}
        column = conn.execute("SELECT 1 FROM information_schema.columns WHERE table_name = 'ledger' "
                              "AND column_name = 'amount_pence'").fetchone() is not None
        return alembic_project.revision_of(conn), sums, column


def interrupted_migration(db: Database, kill: Callable[[Database, int], str] = terminate_backend,
                          after_kill: Callable[[], None] | None = None) -> FaultOutcome:
    """Run the fault chain's slow step in `db` (empty), kill it mid-transaction, and judge what is left.

    `kill(db, pid)` injects the fault and describes it; `after_kill` runs before the database is read
    again (a test that kills the whole server restarts it there).
    """
    start = time.perf_counter()
    migrate(db, BEFORE)
    seed_ledger(db)
    revision_before, sums_before, _ = _state(db)
    pids: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(db, SLOW_STEP, on_backend=pids.append)
        except BaseException as exc:  # noqa: BLE001 - the fault is expected to surface here
            errors.append(exc)

    worker = threading.Thread(target=run, name="fault-migration", daemon=True)
    worker.start()
    while not pids and worker.is_alive():
        time.sleep(0.01)
    if not pids or not wait_until_stalled(db, pids[0]):
        worker.join(1)
        return FaultOutcome("migration step interrupted", False, False,
                            f"the slow step never reached its stall; errors: {errors[:1]}")
    how = kill(db, pids[0])
    worker.join(60)
    if after_kill is not None:
        after_kill()
    revision_after, sums_after, column = _state(db)
    error = first_line(errors[0]) if errors else "none"
    survived = revision_after == revision_before and sums_after == sums_before and not column
    rows = sum(r for r, _ in sums_after.values())
    verdict = (f"database still at revision {revision_after}, column ledger.amount_pence absent, "
               f"{rows} rows in {len(sums_after)} table(s) unchanged (checksums equal)") if survived else (
               f"DAMAGED: revision {revision_before} -> {revision_after}, step column present: {column}, "
               f"checksums equal: {sums_after == sums_before}")
    message = (f"{how} while revision {SLOW_STEP} ran (after its ALTER and UPDATE); "
               f"the step failed with: {error[:160]}; {verdict}")
    return FaultOutcome("migration step interrupted", True, survived, message,
                        round(time.perf_counter() - start, 3))
