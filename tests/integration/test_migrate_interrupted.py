"""Ctrl-C during a migration's statement ends the run as interrupted: it is never recorded as the chain failing.

Seen at 10^6 rows: SIGINT during revision 014's backfill was recorded as `upgrade_failed` with SQLAlchemy's
PendingRollbackError, because the interrupt invalidates the connection and leaving the transaction then raises
an error that replaces the KeyboardInterrupt.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest
from alembic import command
from sqlalchemy import create_engine, pool

from harness import REPO_ROOT, alembic_project
from harness.db import Database
from harness.faults.migration import migrate
from harness.verify import migrate as verify_migrate

CHAIN = REPO_ROOT / "fixtures" / "chains" / "interrupted_batches" / "alembic.ini"
STALL_MARKER = "wardbench interrupted batches stall"


def _interrupt_when_stalled(db: Database, done: threading.Event) -> None:
    """Send this process SIGINT once the step sits in its stall (after its committed batches)."""
    with db.connect(autocommit=True) as conn:
        while not done.wait(0.05):
            row = conn.execute("SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s",
                               (f"%{STALL_MARKER}%",)).fetchone()
            if row is not None:
                os.kill(os.getpid(), signal.SIGINT)
                return


def test_ctrl_c_inside_a_statement_raises_keyboard_interrupt(fresh_db: Database) -> None:
    migrate(fresh_db, "001_create_tally", CHAIN)
    cfg = alembic_project.load_config(CHAIN)
    engine = create_engine(alembic_project.sqlalchemy_url(fresh_db.dsn), poolclass=pool.NullPool)
    done = threading.Event()
    sender = threading.Thread(target=_interrupt_when_stalled, args=(fresh_db, done), daemon=True)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    sender.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            ran = verify_migrate.run(fresh_db.dsn, engine, cfg, command.upgrade, "002_batched_backfill")
            pytest.fail(f"the interrupted step came back as a result, error {ran.error!r}")
    finally:
        done.set()
        sender.join(5)
        signal.signal(signal.SIGINT, previous)
        engine.dispose()
    assert alembic_project.current_revision(fresh_db) == "001_create_tally"
