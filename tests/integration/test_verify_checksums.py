"""Checksums: blind to row and column order, sensitive to every value (including vectors and NULLs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from harness.db import Database
from harness.verify.checksums import checksum_query, probe_vector, table_checksum, timed_checksums, vector_cast

DDL = """CREATE TABLE t (id int PRIMARY KEY, name text, alias text, amount numeric(12,2), seen date,
         at timestamptz, doc jsonb, tags text[], flag bool, e vector(3))"""
ROWS = """INSERT INTO t VALUES
    (1, 'Zürich', 'Z', 12.34, '2024-01-02', '2024-01-02 03:04:05.678+00', '{"a": 1}', '{x,y}', true, '[1,2,3]'),
    (2, 'Łódź', NULL, 0.50, NULL, NULL, NULL, NULL, NULL, NULL),
    (3, 'same', 'same', 7.00, '2020-02-29', '2020-02-29 00:00:00+00', '[]', '{}', false, '[0.5,-0.25,0]')"""


@pytest.fixture
def conn(fresh_db: Database) -> Iterator[psycopg.Connection[Any]]:
    with fresh_db.connect(autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS vector")
        c.execute(DDL)
        c.execute(ROWS)
        yield c


def _sum(conn: psycopg.Connection[Any]) -> tuple[int, str]:
    cs = table_checksum(conn, "t")
    return cs.rows, cs.checksum


def test_row_order_and_column_order_do_not_matter(conn: psycopg.Connection[Any]) -> None:
    before = _sum(conn)
    conn.execute("CREATE TABLE t2 AS SELECT * FROM t ORDER BY id DESC")
    conn.execute("DROP TABLE t")
    # the same columns in another order (what a downgrade that re-adds a column produces)
    conn.execute("CREATE TABLE t AS SELECT e, flag, tags, doc, at, seen, amount, alias, name, id "
                 "FROM t2 ORDER BY id DESC")
    assert _sum(conn) == before


@pytest.mark.parametrize("change", [
    "UPDATE t SET amount = 12.00 WHERE id = 1",                       # a lossy cast
    "UPDATE t SET name = 'Zurich' WHERE id = 1",                      # one character
    "UPDATE t SET alias = 'x' WHERE id = 2",                          # NULL -> value
    "UPDATE t SET alias = NULL WHERE id = 1",                         # value -> NULL
    "UPDATE t SET alias = name, name = alias WHERE id = 1",           # swapped within a row
    "UPDATE t SET name = CASE id WHEN 1 THEN 'Łódź' ELSE 'Zürich' END WHERE id IN (1, 2)",  # swapped across rows
    "UPDATE t SET at = at + interval '1 microsecond' WHERE id = 1",
    "UPDATE t SET doc = '{\"a\": 2}' WHERE id = 1",
    "UPDATE t SET tags = '{y,x}' WHERE id = 1",
    "UPDATE t SET flag = NOT flag WHERE id = 1",
    "UPDATE t SET seen = seen + 1 WHERE id = 1",
    "UPDATE t SET e = e::halfvec(3)::vector(3) + '[0.0001,0,0]' WHERE id = 1",  # a tiny vector change
    "UPDATE t SET e = '[1,2,3.0000002]' WHERE id = 1",                 # the last bit of one float (3 -> next float)
    "UPDATE t SET e = '[1,2,3]', alias = 'Z' WHERE id = 3",            # the same vector in two rows
    "UPDATE t SET e = CASE id WHEN 1 THEN '[0.5,-0.25,0]'::vector ELSE '[1,2,3]' END WHERE id IN (1, 3)",  # swapped
    "DELETE FROM t WHERE id = 2",
    "INSERT INTO t (id) VALUES (4)",
])
def test_every_change_shows(conn: psycopg.Connection[Any], change: str) -> None:
    before = _sum(conn)
    conn.execute(change)
    assert _sum(conn) != before


def test_identical_duplicates_are_counted(conn: psycopg.Connection[Any]) -> None:
    conn.execute("ALTER TABLE t DROP CONSTRAINT t_pkey")
    conn.execute("INSERT INTO t SELECT * FROM t WHERE id = 3")
    doubled = _sum(conn)
    conn.execute("DELETE FROM t WHERE ctid = (SELECT max(ctid) FROM t WHERE id = 3)")
    conn.execute("INSERT INTO t SELECT * FROM t WHERE id = 1")
    assert _sum(conn) != doubled and _sum(conn)[0] == doubled[0]


def test_other_pgvector_types_are_hashed_exactly(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE v (id int, h halfvec(3), s sparsevec(5), u vector)")
    conn.execute("INSERT INTO v VALUES (1, '[1,2,3]', '{1:1.5,4:2}/5', '[1,2]'), (2, '[0,0,1]', '{}/5', '[3]')")
    before = table_checksum(conn, "v")
    for change in ("UPDATE v SET h = '[1,2,3.002]' WHERE id = 1",       # the next halfvec value after 3
                   "UPDATE v SET s = '{1:1.5,4:2.0000002}/5' WHERE id = 1",
                   "UPDATE v SET u = '[1,2.0000002]' WHERE id = 1",      # a vector column of no fixed dimension
                   "UPDATE v SET u = '[1,2,0]' WHERE id = 1"):
        with conn.transaction(force_rollback=True):
            conn.execute(change)
            assert table_checksum(conn, "v") != before, change
    assert table_checksum(conn, "v") == before


def test_the_checksum_query_can_run_in_parallel_workers(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET debug_parallel_query = on")  # plans a Gather wherever the query is parallel safe
    plan = "\n".join(r[0] for r in conn.execute(sql.SQL("EXPLAIN ") + checksum_query(conn, "t")).fetchall())
    assert "Gather" in plan, plan


def test_timed_checksums_match_the_checksums(conn: psycopg.Connection[Any]) -> None:
    timed = timed_checksums(conn, ["t"], pairs=2)
    assert timed.checksums == {"t": table_checksum(conn, "t")}
    assert timed.checksum_s["t"] > 0 and timed.count_s["t"] > 0


def test_a_last_bit_change_no_projection_sees_shows(conn: psycopg.Connection[Any]) -> None:
    """384 floats of 0.5, then the first one 1 ulp up: a probe's inner product rounds the change away (the
    previous design compared that projection), the exact checksum does not."""
    conn.execute("CREATE TABLE w (id int, e vector(384))")
    conn.execute("INSERT INTO w SELECT g, array_fill(0.5::real, ARRAY[384])::vector FROM generate_series(1, 3) g")
    before = table_checksum(conn, "w")
    bumped = "('{0.50000006}'::real[] || array_fill(0.5::real, ARRAY[383]))::vector"
    probe = f"'{probe_vector(384)}'::vector"
    assert conn.execute(f"SELECT inner_product(e, {probe}) = inner_product({bumped}, {probe}) "
                        "FROM w LIMIT 1").fetchone() == (True,)
    conn.execute(f"UPDATE w SET e = {bumped} WHERE id = 2")
    assert table_checksum(conn, "w") != before


def test_the_cast_and_the_send_form_give_the_same_checksum(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE w (id int, e vector(5), f vector)")
    conn.execute("INSERT INTO w VALUES (1, '[1,-2.5,3e-38,-0,65504.5]', '[1]'), (2, '[0,0,0,0,1e-45]', NULL)")
    fast = table_checksum(conn, "w", cast=True)
    with vector_cast(conn, {"public"}) as made:
        assert made  # a superuser's session: the savepoint's cast is there...
    assert conn.execute("SELECT count(*) FROM pg_cast WHERE castsource = 'vector'::regtype "
                        "AND casttarget = 'bytea'::regtype").fetchone() == (0,)
    assert conn.execute(checksum_query(conn, "w")).fetchone() == (fast.rows, fast.checksum)  # ...and not needed
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION READ ONLY")  # where no cast can be made: the same checksum, slower
        with vector_cast(conn, {"public"}) as made:
            assert not made
        assert table_checksum(conn, "w", cast=True) == fast
    assert table_checksum(conn, "w") == fast  # outside a disposable database no cast is tried


def test_outside_a_disposable_database_a_checksum_writes_nothing(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE w (id int, e vector(3))")
    conn.execute("INSERT INTO w VALUES (1, '[1,2,3]')")
    assigned = "SELECT txid_current_if_assigned()"
    with conn.transaction(force_rollback=True):
        table_checksum(conn, "w")
        assert conn.execute(assigned).fetchone() == (None,)  # no transaction id was needed: nothing written
    with conn.transaction(force_rollback=True):
        table_checksum(conn, "w", cast=True)
        assert conn.execute(assigned).fetchone() != (None,)  # the disposable database's cast path does write


def test_the_cast_path_runs_in_parallel_workers(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE w AS SELECT g AS id, array_fill(g::real, ARRAY[8])::vector(8) AS e "
                 "FROM generate_series(1, 1000) g")
    conn.execute("SET debug_parallel_query = on")
    with vector_cast(conn, {"public"}) as made:
        plan = conn.execute(sql.SQL("EXPLAIN (ANALYZE, COSTS OFF) SELECT sum(length(e::bytea)) FROM w")).fetchall()
    assert made and any("Workers Launched: 1" in r[0] for r in plan), plan
