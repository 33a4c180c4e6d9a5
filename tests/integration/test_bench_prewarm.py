"""Prewarm before timing: pg_prewarm in a disposable database, TID range scans (and no extension created) in one
that is not the harness's to change."""

from __future__ import annotations

from dataclasses import replace

from harness.bench.prewarm import prewarm
from harness.db import Database
from harness.results.bench import PrewarmMethod


def _fill(db: Database) -> None:
    with db.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, body text)")
        conn.execute("INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g")


def _installed(db: Database) -> bool:
    with db.connect() as conn:
        return conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_prewarm'").fetchone() == (1,)


def test_a_disposable_database_gets_pg_prewarm_for_tables_and_indexes(fresh_db: Database) -> None:
    _fill(fresh_db)
    warm = prewarm(fresh_db)
    assert warm.method == PrewarmMethod.PG_PREWARM and warm.relations == 2 and warm.mb > 1 and not warm.note
    assert warm.shared_buffers_mb > 0 and _installed(fresh_db)


def test_a_database_not_ours_is_read_by_tid_range_scans_and_left_unchanged(fresh_db: Database) -> None:
    _fill(fresh_db)
    warm = prewarm(replace(fresh_db, disposable=False))
    assert warm.method == PrewarmMethod.TID_RANGE_SCANS and warm.relations == 1  # the table, not its index
    assert "not the harness's to change" in warm.note and not _installed(fresh_db)
