"""The stairway on golden chains: each planted problem is reported on its revision with its verdict, no false alarm."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.db import Database, ServerHandle
from harness.results.migrations import MigrationsSection
from harness.verify.chain import load_chain
from harness.verify.stairway import VerifyOptions, verify_chain

CHAINS = Path(__file__).resolve().parents[2] / "fixtures" / "chains"
OPTIONS = VerifyOptions(rows_per_table=6)


Walk = Callable[[str], MigrationsSection]


@pytest.fixture(scope="module")
def walk(pg_server: ServerHandle) -> Iterator[Walk]:
    """Each golden chain walked once per module, in a database of its own (dropped at the end)."""
    sections: dict[str, MigrationsSection] = {}
    created: list[str] = []

    def _walk(name: str) -> MigrationsSection:
        if name not in sections:
            dbname = f"t_{name}_{secrets.token_hex(3)}"
            pg_server.create_database(dbname)
            created.append(dbname)
            db = Database(pg_server.database_dsn(dbname), dbname, pg_server, disposable=True)
            sections[name] = verify_chain(db, load_chain(CHAINS / name / "alembic.ini"), OPTIONS)
        return sections[name]

    yield _walk
    for dbname in created:
        pg_server.drop_database(dbname)


def _verdicts(section: MigrationsSection) -> dict[str, str]:
    return {s.revision: s.verdict for s in section.steps}


def test_clean_chain_passes_with_no_false_alarm(walk: Walk) -> None:
    section = walk("clean")
    assert _verdicts(section) == {"001": "lossless", "002": "lossless", "003": "lossless"}
    assert section.round_trip.verdict == "pass"
    assert section.structure.findings == ()
    moved = section.steps[2]
    # the notes really went through the round trip: rows were there to lose
    assert moved.rows_checked > 0 and moved.empty_tables == ()
    # the downgrade re-adds accounts.note as the LAST column: checksums must not depend on column order
    assert moved.differences == ()


def test_lossy_type_change_is_reported_on_its_revision(walk: Walk) -> None:
    section = walk("lossy_type")
    assert _verdicts(section) == {"001": "lossless", "002": "lossy", "003": "lossless"}
    step = section.steps[1]
    assert step.lossless is False and step.reversible is True
    (found,) = step.differences
    assert found.table == "accounts" and found.changed == found.rows_differing == step.seeding.inserted["accounts"]
    sample = found.samples[0]
    assert sample.old is not None and sample.new is not None
    assert set(sample.old) == {"balance"}  # only the changed column is shown
    assert sample.old["balance"] != sample.new["balance"] == int(sample.new["balance"])  # type: ignore[arg-type]
    # ALTER COLUMN TYPE rewrites the table under an ACCESS EXCLUSIVE lock: both observed
    assert step.rewritten == {"accounts": step.seeding.inserted["accounts"]}
    assert step.locks["accounts"]["mode"] == "AccessExclusiveLock"


def test_downgrade_forgetting_moved_rows_is_reported(walk: Walk) -> None:
    section = walk("forgotten_rows")
    assert _verdicts(section) == {"001": "lossless", "002": "lossless", "003": "lossy"}
    (found,) = section.steps[2].differences
    assert found.table == "accounts" and found.changed > 0 and found.missing == 0
    assert all(s.new == {"note": None} and s.old and s.old["note"] for s in found.samples)


def test_irreversible_downgrade_is_its_own_verdict(walk: Walk) -> None:
    section = walk("irreversible")
    assert _verdicts(section) == {"001": "lossless", "002": "lossless", "003": "irreversible"}
    step = section.steps[2]
    assert step.reversible is False and "NotImplementedError" in step.detail
    assert section.round_trip.verdict == "irreversible"


@pytest.mark.parametrize("name", ["lossy_type", "clean"])
def test_gates_fail_only_where_data_is_lost(walk: Walk, name: str) -> None:
    from harness.verify.stage import gates

    verdicts = {g.name: g.verdict for g in gates(walk(name))}
    failing = {n for n, v in verdicts.items() if v != "pass"}
    assert failing == ({"migration 001 -> 002 lossless and reversible"} if name == "lossy_type" else set())


def test_reference_chain_passes(fresh_db: Database) -> None:
    chain = load_chain(None)
    section = verify_chain(fresh_db, chain, OPTIONS)
    assert chain.findings == []
    assert {s.verdict for s in section.steps} == {"lossless"}, [s.detail for s in section.steps]
    assert len(section.steps) == len(chain.revisions)
    assert section.round_trip.verdict == "pass"
    # every table that exists before a step was seeded (no vacuous round trip)
    assert all(s.empty_tables == () for s in section.steps)
    assert section.checksum_throughput.rows > 0


@pytest.mark.parametrize("seed", range(1, 7))
def test_varchar_narrowing_is_caught_for_every_seed(fresh_db: Database, seed: int) -> None:
    """The edge row holds a handle of the full 300 characters: the narrowing to 255 fails whatever the seed."""
    section = verify_chain(fresh_db, load_chain(CHAINS / "varchar_narrowed" / "alembic.ini"),
                           VerifyOptions(rows_per_table=3, seed=seed))
    step = section.steps[1]
    assert step.verdict == "fails_on_existing_data"
    found = step.findings[0]
    assert (found.table, found.column, found.object, found.sqlstate) == (
        "profiles", "handle", "profiles.handle", "22001")
    assert "on profiles.handle" in step.detail  # the terminal line names the column too


def test_a_custom_alembic_version_table_is_bookkeeping_not_data(fresh_db: Database) -> None:
    """asterisk's chains set version_table = alembic_version_config: it is neither seeded, checksummed nor drift."""
    import psycopg
    from sqlalchemy import create_engine, pool

    from harness import alembic_project
    from harness.verify import schema, seed
    from harness.verify.checksums import user_tables, version_tables

    with psycopg.connect(fresh_db.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE alembic_version_config (version_num varchar(32) PRIMARY KEY)")
        conn.execute("CREATE TABLE sippeers (id int PRIMARY KEY, version_num text)")  # data with a like-named column
        assert version_tables(conn) == ["alembic_version_config"]
        assert user_tables(conn) == ["sippeers"]
        assert not any("alembic_version_config" in key for key in schema.snapshot(conn))
    engine = create_engine(alembic_project.sqlalchemy_url(fresh_db.dsn), poolclass=pool.NullPool)
    try:
        assert [spec.name for spec in seed.reflect(engine)] == ["sippeers"]
    finally:
        engine.dispose()
