"""The libpq-level timed path: same answers as psycopg, psycopg's preparation rule, real errors, and the
server-log durations it compares client time against."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest

from harness.bench import session, wire
from harness.bench.pytest_suite import ServerLog
from harness.db import Database

QUERY = ("SELECT g AS id, (%(v)s::vector <-> %(w)s::vector) / g AS distance, %(n)s::int AS n "
         "FROM generate_series(1, %(n)s) g")


@pytest.fixture
def conn(fresh_db: Database) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(fresh_db.dsn, autocommit=True) as c:
        c.execute("CREATE EXTENSION vector")
    with session.connect(fresh_db.dsn) as c:
        yield c


def test_encoded_execution_returns_what_psycopg_returns(conn: psycopg.Connection[Any]) -> None:
    rng = np.random.default_rng(0)
    params = {"v": rng.random(384, dtype=np.float32), "w": rng.random(384, dtype=np.float32), "n": 7}
    res = wire.Executor(conn).execute(wire.encode(conn, QUERY, params))
    expected = conn.execute(QUERY, params).fetchall()
    assert res.ntuples == len(expected) == 7 and expected[0][1] > 0
    assert [int(v or b"") for v in wire.column(res, "id")] == [r[0] for r in expected]
    assert [float(v or b"") for v in wire.column(res, "distance")] == [r[1] for r in expected]
    assert wire.column_names(res) == ["id", "distance", "n"]


def test_statements_are_prepared_after_the_threshold_like_psycopg(conn: psycopg.Connection[Any]) -> None:
    def prepared() -> int:
        row = conn.execute("SELECT count(*) FROM pg_prepared_statements", prepare=False).fetchone()
        return int(row[0]) if row else -1

    enc = wire.encode(conn, "SELECT %(n)s::int + 1 AS x", {"n": 1})
    never = wire.Executor(conn, prepare_threshold=None)
    for _ in range(10):
        never.execute(enc)
    assert prepared() == 0
    after_two = wire.Executor(conn, prepare_threshold=2)
    after_two.execute(enc)
    after_two.execute(enc)
    assert prepared() == 0
    res = after_two.execute(enc)
    assert prepared() == 1 and res.get_value(0, 0) == b"2"


def test_a_failing_query_raises_the_server_error(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.errors.UndefinedTable, match="no_such_table"):
        wire.Executor(conn).execute(wire.encode(conn, "SELECT * FROM no_such_table", {}))
    with pytest.raises(KeyError, match="n"):
        wire.encode(conn, "SELECT %(n)s", {})


def test_server_log_gives_one_duration_per_logged_run(conn: psycopg.Connection[Any], fresh_db: Database) -> None:
    assert fresh_db.server_log is not None and fresh_db.server_log.is_file()
    log = ServerLog.open(conn, fresh_db.server_log)
    assert log is not None
    ex = wire.Executor(conn)
    slow = wire.encode(conn, "SELECT pg_sleep(%(s)s) AS x", {"s": 0.02})
    fast = wire.encode(conn, "SELECT %(n)s::int AS x", {"n": 1})
    for enc in (slow, fast, slow):
        log.run(ex, enc)
        ex.execute(fast)  # not logged: only the runs in between count
    durations = log.durations(3)
    assert durations is not None and len(durations) == 3
    assert durations[0] >= 20 and durations[2] >= 20 and durations[1] < 20
    assert conn.execute("SHOW log_min_duration_statement").fetchone() == ("-1",)


def test_server_log_is_declined_without_superuser(fresh_db: Database) -> None:
    role = f"t_plain_{secrets.token_hex(3)}"
    with psycopg.connect(fresh_db.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        dsn = psycopg.conninfo.make_conninfo(fresh_db.dsn, user=role)
        with psycopg.connect(dsn, autocommit=True) as plain:
            assert fresh_db.server_log is not None
            assert ServerLog.open(plain, fresh_db.server_log) is None
    finally:
        with psycopg.connect(fresh_db.dsn, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")
