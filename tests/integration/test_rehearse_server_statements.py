"""The migration's statements as the server counted them, and which source said so: the server log of the
migrating session on the embedded server as it starts by default, pg_stat_statements (with rows and WAL) when
the server preloads it; the live workload's statements are not among them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.db import Database, ServerHandle
from harness.db.embedded import scratch_server
from harness.rehearse.stage import run_rehearsal, window
from harness.rehearse.step import RehearseOptions
from harness.results import Results
from harness.results.rehearsal import LiveRun, ServerStatement, Step
from harness.verify.chain import load_chain

CHAIN = Path(__file__).resolve().parents[2] / "fixtures" / "chains" / "rehearse_unsafe" / "alembic.ini"
ROWS = 3000
OPTIONS = RehearseOptions(rows=ROWS, baseline_s=0.3, rate=40.0, workers=2, settle_s=0.2)


@pytest.fixture(scope="module")
def pgss_server(test_settings: dict[str, str]) -> Iterator[ServerHandle]:
    settings = {**test_settings, "shared_preload_libraries": "pg_stat_statements"}
    with scratch_server(18, settings, prefix="tests-") as server:
        yield server.handle()


def _upgrade(server: ServerHandle, name: str) -> Step:
    server.create_database(name)
    try:
        db = Database(server.database_dsn(name), name, server, disposable=True)
        loaded = load_chain(CHAIN)
        section = run_rehearsal(db, Results(run_id="t", command="migrate rehearse"), loaded,
                                window(loaded, None, False), OPTIONS)
    finally:
        server.drop_database(name)
    return section.steps[0]


def _backfill(step: Step) -> ServerStatement:
    assert step.server_statements is not None
    (update,) = [s for s in step.server_statements.statements if s.query.startswith("UPDATE posts SET word_count")]
    assert not [s for s in step.server_statements.statements if "pg_locks" in s.query or "RETURNING" in s.query]
    return update


def test_server_log_when_pg_stat_statements_is_not_loaded(pg_server: ServerHandle) -> None:
    step = _upgrade(pg_server, "t_stmts_log")
    assert step.server_statements is not None and step.server_statements.source == "server log"
    assert "not in shared_preload_libraries" in step.server_statements.detail
    update = _backfill(step)
    assert update.calls == 1 and update.total_ms > 0 and update.rows is None
    client = next(s for s in step.statements if s.statement.startswith("UPDATE posts"))
    assert update.total_ms <= (client.duration_s or 0) * 1000  # the server's part of the client's time


def test_pg_stat_statements_when_the_server_preloads_it(pgss_server: ServerHandle) -> None:
    step = _upgrade(pgss_server, "t_stmts_pgss")
    assert step.server_statements is not None and step.server_statements.source == "pg_stat_statements"
    update = _backfill(step)
    assert isinstance(step.live, LiveRun) and update.calls == 1 and (update.wal_bytes or 0) > 0
    assert ROWS <= (update.rows or 0) <= ROWS + step.live.rows_inserted  # every row, with the live ones before it
    assert "$" in update.query  # its constants normalised by pg_stat_statements
    index = [s for s in step.server_statements.statements if s.query.startswith("CREATE INDEX ix_posts_word_count")]
    assert len(index) == 1 and index[0].calls == 1
