"""The rehearsal at release scale (10^6 rows per table; WARDBENCH_REHEARSE_ROWS to change): bulk seeding against
the server's own INSERT … SELECT of the same rows, checksums against count(*), and the unsafe migration failing
the blocked-query gate at the default max_blocked_ms while its safe twin passes. Ratios only, never wall time."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, pool

from harness import alembic_project
from harness.db import Database
from harness.rehearse.seed_bulk import seed_tables
from harness.rehearse.stage import run_rehearsal, window
from harness.rehearse.step import RehearseOptions
from harness.results import Results
from harness.results.rehearsal import LiveRun
from harness.verify.chain import load_chain

pytestmark = pytest.mark.slow
ROWS = int(os.environ.get("WARDBENCH_REHEARSE_ROWS", "1000000"))
CHAINS = Path(__file__).resolve().parents[2] / "fixtures" / "chains"
NARROW = """CREATE TABLE wards (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO wards SELECT g, 'ward ' || g FROM generate_series(1, 1000) g;
CREATE TABLE items (id bigint PRIMARY KEY, ward_id int NOT NULL REFERENCES wards(id), score int NOT NULL,
                    created_at timestamptz NOT NULL)"""
PEER = """INSERT INTO items SELECT g, 1 + mod(g * 7919::bigint, 1000)::int, mod(g, 10000),
timestamptz '2019-01-01' + g * interval '1 s' FROM generate_series(1, %s) g"""


def test_bulk_seeding_keeps_up_with_insert_select(fresh_db: Database) -> None:
    with fresh_db.connect() as conn:
        conn.execute(NARROW)
        conn.commit()
        engine = create_engine(alembic_project.sqlalchemy_url(fresh_db.dsn), poolclass=pool.NullPool)
        try:
            report = seed_tables(conn, engine, ROWS)
        finally:
            engine.dispose()
        seeded_s = report.seconds["items"]
        conn.execute("TRUNCATE items")
        conn.commit()
        start = time.perf_counter()
        conn.execute(PEER, (ROWS,))
        conn.execute("ANALYZE items")
        conn.commit()
        peer_s = time.perf_counter() - start
    ratio = peer_s / seeded_s
    print(f"\nseeding {ROWS:,} rows (PK + FK): bulk COPY {ROWS / seeded_s:,.0f} rows/s, server INSERT…SELECT "
          f"{ROWS / peer_s:,.0f} rows/s: {ratio:.2f}x")
    assert report.rows["items"] == ROWS
    assert ratio >= 0.5  # the bulk path is at least half as fast as the server generating the rows itself


@pytest.mark.parametrize("chain", ["rehearse_unsafe", "rehearse_safe"])
def test_unsafe_fails_and_safe_passes_at_volume(fresh_db: Database, chain: str) -> None:
    loaded = load_chain(CHAINS / chain / "alembic.ini")
    results = Results(run_id="bench", command="migrate rehearse")
    options = RehearseOptions(rows=ROWS, baseline_s=5.0)
    section = run_rehearsal(fresh_db, results, loaded, window(loaded, None, False), options)
    step, down = section.steps  # the upgrade, then its downgrade
    live, timing = step.live, step.checksum_timing
    assert isinstance(live, LiveRun)
    print(f"\n{chain} at {ROWS:,} rows: step {step.duration_s:.1f} s, locks {step.locks}, longest wait "
          f"{live.longest_wait}, live p95 {live.before.p95_ms} -> {live.during.p95_ms} ms, "
          f"p99 during {live.during.p99_ms} ms, errors {live.during.errors}/{live.during.count}, "
          f"WAL {(step.wal_bytes or 0) / 2**20:.0f} MB; seeding {step.seeding.rows_per_s or 0:,} rows/s; checksum "
          f"{timing.checksum_s:.2f} s vs count(*) {timing.count_s:.2f} s = {timing.ratio_vs_count}x")
    for gate in results.gates:
        print(f"  {gate.verdict}: {gate.name} ({gate.observed}) {gate.reason}")
    assert step.loss.lossless is True and down.loss.lossless is True
    assert all(t.lossless for t in section.round_trips)
    blocked = next(g for g in results.gates if "longest live wait" in g.name)  # the upgrade's
    assert blocked.verdict == ("fail" if chain == "rehearse_unsafe" else "pass")
