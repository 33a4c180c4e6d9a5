"""--under-load: reads run during each upgrade; the step reports their p95 against before, and lock waits."""

from __future__ import annotations

from pathlib import Path

from harness.db import Database
from harness.verify.chain import load_chain
from harness.verify.stairway import VerifyOptions, verify_chain

CHAINS = Path(__file__).resolve().parents[2] / "fixtures" / "chains"


def test_reads_blocked_by_an_exclusive_step_are_counted(fresh_db: Database) -> None:
    section = verify_chain(fresh_db, load_chain(CHAINS / "blocking_step" / "alembic.ini"),
                           VerifyOptions(rows_per_table=6, under_load=True, baseline_s=0.3))
    first, backfill = section.steps
    assert first.under_load is not None and first.under_load.reads_during == 0  # nothing to read at base
    load = backfill.under_load
    assert load is not None
    assert load.reads == ("items by key",)  # no wards, no vectors: primary-key reads
    assert load.reads_before > 10 and load.failed_reads == 0
    # the step holds ACCESS EXCLUSIVE on items for >= 0.6 s: reads queue behind it
    assert load.blocked_reads >= 1
    assert load.longest_lock_wait_ms is not None and load.longest_lock_wait_ms >= 300
    assert load.p95_during_ms is not None and load.p95_before_ms is not None
    assert load.p95_during_ms >= 300 and load.p95_during_ms > load.p95_before_ms
    assert backfill.locks["items"]["mode"] == "AccessExclusiveLock"
    assert (backfill.locks["items"]["held_ms"] or 0) >= 300
    assert backfill.verdict == "lossless"


def test_vector_reads_where_the_schema_has_vectors(fresh_db: Database) -> None:
    section = verify_chain(fresh_db, load_chain(CHAINS / "clean" / "alembic.ini"),
                           VerifyOptions(rows_per_table=4, under_load=True, baseline_s=0.2))
    load = section.steps[1].under_load
    assert load is not None and load.reads == ("vector k-NN documents.embedding",)
    assert load.reads_before > 5 and load.failed_reads == 0
