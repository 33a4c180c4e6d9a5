"""Issue 11's findings on chains of our own: schema drift, direction-aware loss, keyless multisets, lock hazards."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.db import Database, ServerHandle
from harness.results.migrations import MigrationsSection, VerifyStep
from harness.verify.chain import load_chain
from harness.verify.stage import gates
from harness.verify.stairway import VerifyOptions, verify_chain

CHAINS = Path(__file__).resolve().parents[2] / "fixtures" / "chains"
Walk = Callable[..., MigrationsSection]


@pytest.fixture(scope="module")
def walk(pg_server: ServerHandle) -> Iterator[Walk]:
    """Each chain walked once per module and option set, in a database of its own (dropped at the end)."""
    sections: dict[tuple[str, bool], MigrationsSection] = {}
    created: list[str] = []

    def _walk(name: str, strict_locks: bool = False) -> MigrationsSection:
        if (name, strict_locks) not in sections:
            dbname = f"t_{name[:20]}_{secrets.token_hex(3)}"
            pg_server.create_database(dbname)
            created.append(dbname)
            db = Database(pg_server.database_dsn(dbname), dbname, pg_server, disposable=True)
            options = VerifyOptions(rows_per_table=5, strict_locks=strict_locks)
            sections[name, strict_locks] = verify_chain(db, load_chain(CHAINS / name / "alembic.ini"), options)
        return sections[name, strict_locks]

    yield _walk
    for dbname in created:
        pg_server.drop_database(dbname)


def _step(section: MigrationsSection, revision: str) -> VerifyStep:
    return next(s for s in section.steps if s.revision == revision)


def test_downgrade_losing_a_sequence_default_is_schema_drift(walk: Walk) -> None:
    step = _step(walk("sequence_default_lost"), "002")
    assert step.verdict == "schema_drift" and step.lossless is True
    (drift,) = [f for f in step.findings if f.kind == "schema_drift"]
    assert drift.object == "tickets.id" and drift.direction == "downgrade"
    assert "column tickets.id: default nextval('tickets_id_seq'::regclass) -> none" in drift.detail
    assert _step(walk("sequence_default_lost"), "001").verdict == "lossless"


def test_upgrade_dropping_a_table_is_the_upgrades_loss(walk: Walk) -> None:
    step = _step(walk("upgrade_drops_table"), "002")
    assert step.verdict == "lossy"
    (lost,) = [f for f in step.findings if f.kind == "lossy"]
    rows = step.seeding.inserted["apikey"]
    assert rows > 0
    assert (lost.direction, lost.object) == ("upgrade", "apikey")
    assert lost.detail == f"upgrade 002 drops table apikey ({rows} rows)"


def test_downgrade_forgetting_moved_values_is_the_downgrades_loss(walk: Walk) -> None:
    step = _step(walk("forgotten_rows"), "003")
    (lost,) = [f for f in step.findings if f.kind == "lossy"]
    assert (lost.direction, lost.object) == ("downgrade", "account_notes")
    assert lost.detail.startswith("downgrade 003 loses the values of the new table account_notes (")


def test_keyless_table_counts_a_changed_row_once(walk: Walk) -> None:
    step = _step(walk("keyless_rows_changed"), "002")
    (found,) = step.differences
    rows = step.seeding.inserted["readings"]
    assert found.key is None and rows > 0
    assert (found.changed, found.missing, found.added, found.rows_differing) == (rows, 0, 0, rows)
    sample = found.samples[0]
    assert sample.old is not None and sample.new is not None
    assert sample.old.keys() == sample.new.keys() == {"value"}


def test_index_on_a_populated_table_is_flagged_and_a_new_tables_is_not(walk: Walk) -> None:
    section = walk("index_on_populated_table")
    step = _step(section, "002")
    hazards = [f for f in step.findings if f.kind == "lock_hazard"]
    assert [(h.rule, h.table) for h in hazards] == [("create-index-not-concurrently", "events")]
    (hazard,) = hazards
    assert hazard.lock == "ShareLock" and hazard.severity == "warning"
    assert "ix_events_kind" in hazard.detail and "CONCURRENTLY" in (hazard.safe_pattern or "")
    assert "tags" not in hazard.detail
    assert step.verdict == "lossless"  # a warning by default
    assert section.summary.lock_hazards == 1
    assert section.lock_timeout.missing is True and section.lock_timeout.revisions == ("002",)
    assert any("no lock_timeout" in w for w in section.warnings)


def test_strict_locks_make_hazards_and_a_missing_lock_timeout_fail(walk: Walk) -> None:
    section = walk("index_on_populated_table", strict_locks=True)
    assert _step(section, "002").verdict == "lock_hazard"
    failing = {g.name for g in gates(section) if g.verdict != "pass"}
    assert failing == {"migration 001 -> 002 lossless and reversible", "migration sessions set lock_timeout"}


def test_every_row_of_an_hnsw_table_updated_is_flagged_and_a_plain_tables_is_not(walk: Walk) -> None:
    step = _step(walk("hnsw_table_backfilled"), "002")
    hazards = [f for f in step.findings if f.kind == "lock_hazard"]
    assert [(h.rule, h.table) for h in hazards] == [("update-reinserts-hnsw", "items")]
    (hazard,) = hazards
    assert "ix_items_embedding_hnsw" in hazard.detail and "5 rows" in hazard.detail, hazard.detail
    assert "INSERT ... SELECT" in (hazard.safe_pattern or "") and hazard.severity == "warning"
    assert step.verdict == "lossless"  # a warning by default


def test_an_update_of_some_rows_of_an_hnsw_table_is_not_flagged() -> None:
    from harness.verify.locks import _updated_rows, hazards

    index = {"index items.ix_items_embedding_hnsw": {"definition": "CREATE INDEX ix ON items USING hnsw (e)"}}
    statements = [("UPDATE items SET rank = 1 WHERE id = 1", 1), ("SELECT 1", 1)]
    assert _updated_rows(statements) == {"items": 1}
    assert hazards({"items": 5}, index, index, {}, {}, statements) == []
    assert [f.rule for f in hazards({"items": 1}, index, index, {}, {}, statements)] == ["update-reinserts-hnsw"]
