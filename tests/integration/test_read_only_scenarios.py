"""Read scenarios never write: a `kind = "ward"` scenario holding a DELETE is exit 2 naming it, and the
user's database (--in-place) is byte-for-byte what it was; read sessions are READ ONLY throughout."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from rich.console import Console

from harness import alembic_project
from harness.bench.session import connect
from harness.config import load_profile
from harness.datagen.loader import load_dataset
from harness.db import Database, ServerHandle
from harness.verify.checksums import database_checksums

REPO = Path(__file__).resolve().parents[2]
WARDBENCH = str(REPO / ".venv/bin/wardbench")
WRITES = {
    "delete": "DELETE FROM posts WHERE id = (SELECT min(id) FROM posts) RETURNING id",
    "two_statements": "SELECT 1; DELETE FROM posts WHERE id = (SELECT min(id) FROM posts)",
}


@pytest.fixture(scope="module")
def app_db(pg_server: ServerHandle) -> Iterator[Database]:
    """A second database with the application's schema and data: the user's, used with --in-place."""
    name = "users_app_db"
    pg_server.create_database(name)
    db = Database(pg_server.database_dsn(name), name, pg_server, disposable=False)
    try:
        alembic_project.upgrade(db, "head")
        load_dataset(db, load_profile("ci"), 0.01, seed=4, console=Console(file=io.StringIO()))
        yield db
    finally:
        pg_server.drop_database(name)


def _checksums(db: Database) -> dict[str, tuple[int, str]]:
    with psycopg.connect(db.dsn) as conn:
        return {t: (c.rows, c.checksum) for t, c in database_checksums(conn).items()}


def _scenario_dir(tmp_path: Path, sql: str) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "tidy_posts.toml").write_text(f'name = "tidy_posts"\nkind = "ward"\nsql = """{sql}"""\n')
    return folder


@pytest.mark.parametrize("command", ["bench", "load"])
@pytest.mark.parametrize("statement", sorted(WRITES))
def test_a_read_scenario_that_writes_is_exit_2_and_the_database_is_untouched(
        app_db: Database, tmp_path: Path, command: str, statement: str) -> None:
    before = _checksums(app_db)
    extra = ["--suite", "ward", "--rounds", "5"] if command == "bench" else ["--users", "2", "--writers", "0"]
    proc = subprocess.run([WARDBENCH, command, "--dsn", app_db.dsn, "--in-place", "--scenarios",
                           str(_scenario_dir(tmp_path, WRITES[statement])), "--reports-dir", str(tmp_path / "r"),
                           *extra], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("wardbench: error: scenario 'tidy_posts'"), error
    assert ("writes" if statement == "delete" else "several statements") in error
    assert _checksums(app_db) == before


def test_a_read_session_refuses_writes_whatever_the_statement(app_db: Database) -> None:
    before = _checksums(app_db)
    with connect(app_db.dsn, read_only=True) as conn:
        for sql in ("DELETE FROM posts WHERE id = (SELECT min(id) FROM posts)", "SELECT nextval('posts_id_seq')"):
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute(sql)
        conn.execute("SELECT pg_advisory_xact_lock_shared(1)")  # the connection-drop fault's probe still runs
    assert _checksums(app_db) == before
