"""backup verify: a dump restores exactly, and a change between dump and compare is caught and named."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backup import tools
from harness.backup.verify import verify_backup
from harness.config import RunConfig
from harness.db import Database, ServerHandle
from harness.results import Results

REPO = Path(__file__).resolve().parents[2]

# Every kind of object the comparison covers: FK, CHECK, unique, identity, sequence, vector + HNSW,
# a trigger and its function, a view, an enum; rows with NULLs, non-ASCII text and vectors.
SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TYPE mood AS ENUM ('calm', 'angry');
CREATE TABLE wards (id int PRIMARY KEY, code text UNIQUE NOT NULL, area numeric(10,3) CHECK (area > 0));
CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    ward_id int NOT NULL REFERENCES wards(id) ON DELETE CASCADE,
                    title text, mood mood, score real CHECK (score BETWEEN -1 AND 1),
                    embedding vector(8), changed_at timestamptz);
CREATE INDEX items_ward_idx ON items (ward_id);
CREATE INDEX items_embedding_idx ON items USING hnsw (embedding vector_cosine_ops) WITH (m = 8, ef_construction = 32);
CREATE SEQUENCE ticket_seq START 100;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.changed_at := '2024-01-01'; RETURN NEW; END $$;
CREATE TRIGGER items_touch BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION touch();
CREATE VIEW busy_wards AS SELECT ward_id, count(*) AS n FROM items GROUP BY ward_id;
INSERT INTO wards SELECT g, 'W' || g, g * 1.5 FROM generate_series(1, 50) g;
INSERT INTO items (ward_id, title, mood, score, embedding)
SELECT 1 + g % 50, CASE WHEN g % 7 = 0 THEN NULL ELSE 'Ŵard pöst ' || g END,
       (ARRAY['calm', 'angry'])[1 + g % 2]::mood, ((g % 200) - 100) / 100.0,
       ARRAY(SELECT sin(g * k) FROM generate_series(1, 8) k)::vector
FROM generate_series(1, 3000) g;
SELECT setval('ticket_seq', 321);
"""


def uri_database(server: ServerHandle, name: str) -> Database:
    """A Database addressed by a URI (what a user passes with --dsn)."""
    base = server.admin_dsn.rsplit("/", 1)[0]
    return Database(f"{base}/{name}", name, server, disposable=True)


@pytest.fixture
def loaded_db(fresh_db: Database) -> Iterator[Database]:
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute(SCHEMA)
    yield uri_database(fresh_db.server, fresh_db.name)


def _run(db: Database, after_dump: object = None) -> tuple[Results, list[str]]:
    results = Results(run_id="t", command="test")
    cfg = RunConfig(run_id=f"t{abs(hash(db.name)) % 10**8}")
    diffs = verify_backup(cfg, db, results, after_dump=after_dump)  # type: ignore[arg-type]
    return results, diffs


def test_restore_is_exact_and_every_part_is_timed(loaded_db: Database) -> None:
    results, diffs = _run(loaded_db)
    assert diffs == []
    assert results.verdict == "pass", [g for g in results.gates if g.verdict != "pass"]
    section = results.backup
    assert section is not None
    assert section is not None and section.timings_s is not None and section.timings_s.restore_s >= 0
    assert section.per_table is not None and section.dump_bytes is not None and section.schema_objects is not None
    assert section.rows == 3050 and section.per_table["public.items"].rows == 3000
    assert section.compression == 0 and section.dump_bytes > 0
    for kind in ("constraints", "indexes", "triggers", "functions", "views", "sequences", "types"):
        assert section.schema_objects[kind] > 0, kind


def test_a_row_deleted_between_dump_and_compare_fails_naming_the_table(loaded_db: Database) -> None:
    def delete_one() -> None:
        with loaded_db.connect(autocommit=True) as conn:
            conn.execute("DELETE FROM items WHERE id = 17")

    results, diffs = _run(loaded_db, delete_one)
    assert diffs == ["public.items: 2999 rows in the original, 3000 restored"]
    failed = [g for g in results.gates if g.verdict == "fail"]
    assert [g.name for g in failed] == ["backup restores every table exactly"]
    assert "public.items" in failed[0].reason and results.exit_code == 1


def test_a_value_changed_in_place_is_caught_by_the_checksum(loaded_db: Database) -> None:
    def change_vector() -> None:
        with loaded_db.connect(autocommit=True) as conn:
            conn.execute("ALTER TABLE items DISABLE TRIGGER items_touch")
            conn.execute("UPDATE items SET embedding = '[1,0,0,0,0,0,0,0]' WHERE id = 5")
            conn.execute("ALTER TABLE items ENABLE TRIGGER items_touch")

    results, diffs = _run(loaded_db, change_vector)
    assert diffs == ["public.items: same 3000 rows but contents differ (checksum)"]
    assert results.exit_code == 1


def test_schema_changes_are_named(loaded_db: Database) -> None:
    def alter_schema() -> None:
        with loaded_db.connect(autocommit=True) as conn:
            conn.execute("DROP INDEX items_embedding_idx")
            conn.execute("CREATE INDEX items_embedding_idx ON items USING hnsw (embedding vector_l2_ops)")
            conn.execute("ALTER TABLE wards DROP CONSTRAINT wards_area_check")
            conn.execute("SELECT nextval('ticket_seq')")

    results, diffs = _run(loaded_db, alter_schema)
    text = "\n".join(diffs)
    assert "indexes: public.items_embedding_idx differs" in text and "vector_cosine_ops" in text
    assert "constraints: wards.wards_area_check unexpected" in text
    assert "sequences: public.ticket_seq differs" in text
    assert [g.name for g in results.gates if g.verdict == "fail"] == ["backup restores the schema exactly"]


def test_no_password_or_dsn_in_the_client_argv(loaded_db: Database, tmp_path: Path) -> None:
    secret = Database(loaded_db.dsn.replace("postgres@", "postgres:pw-in-argv@"), loaded_db.name,
                      loaded_db.server, True)
    argv = tools.dump_command(secret, tmp_path / "d") + tools.restore_command(secret, tmp_path / "d")
    assert not any("pw-in-argv" in a or "127.0.0.1" in a for a in argv)
    assert secret.libpq_env()["PGPASSWORD"] == "pw-in-argv"


def test_cli_exits_0_on_an_intact_database(loaded_db: Database, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.run([str(REPO / ".venv/bin/wardbench"), "backup", "verify", "--dsn", loaded_db.dsn,
                           "--in-place", "--reports-dir", str(tmp_path), "--json", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["backup"]["per_table"]["public.items"]["rows"] == 3000 and data["verdict"] == "pass"
    assert data["selection"]["stages"] == ["backup"]  # the named database was only read
