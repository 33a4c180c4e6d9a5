"""Checksum guarantees as properties over generated tables (ints, text, NULLs, vectors with any float32 bits):
row order never matters; one changed value, a pair of values swapped between rows, a duplicated or a missing
row always changes the checksum. Every example runs in a transaction that is rolled back."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.db import ServerHandle
from harness.verify import checksums
from harness.verify.checksums import table_checksum

EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
DIM = 4
COLUMNS = ("id", "name", "e")

Row = tuple[int, str | None, tuple[float, ...]]
floats32 = st.floats(width=32, allow_nan=False, allow_infinity=False)  # pgvector refuses NaN and infinity
names = st.none() | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=12)
rows = st.lists(st.tuples(st.integers(-(2**31), 2**31 - 1), names, st.tuples(*[floats32] * DIM)),
                min_size=2, max_size=8)


@pytest.fixture(scope="module")
def conn(pg_server: ServerHandle) -> Iterator[psycopg.Connection[Any]]:
    pg_server.create_database("checksum_properties")
    try:
        with psycopg.connect(pg_server.database_dsn("checksum_properties")) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS vector")
            c.commit()
            yield c
    finally:
        pg_server.drop_database("checksum_properties")


def _vector(values: tuple[float, ...]) -> str:
    return "[" + ",".join(repr(v) for v in values) + "]"  # repr is exact for a float32 held in a double


def _checksum(conn: psycopg.Connection[Any], table: list[Row]) -> tuple[int, str]:
    """(rows, checksum) of `table` loaded into a fresh heap table p (id int, name text, e vector(DIM))."""
    conn.execute("DROP TABLE IF EXISTS p")
    conn.execute(f"CREATE TABLE p (id int, name text, e vector({DIM}))")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO p VALUES (%s, %s, %s::vector)", [(i, n, _vector(e)) for i, n, e in table])
    cs = table_checksum(conn, "p", cast=True)
    return cs.rows, cs.checksum


def _bits(value: Any) -> Any:
    """Values compared as stored: floats by their float32 bits (so -0.0 and 0.0 differ, as on disk)."""
    if isinstance(value, tuple):
        return tuple(struct.pack(">f", v) for v in value)
    return value


@EXAMPLES
@given(table=rows, data=st.data())
def test_row_order_does_not_matter(conn: psycopg.Connection[Any], table: list[Row], data: st.DataObject) -> None:
    with conn.transaction(force_rollback=True):
        assert _checksum(conn, data.draw(st.permutations(table))) == _checksum(conn, table)


@EXAMPLES
@given(table=rows, data=st.data())
def test_one_changed_value_shows(conn: psycopg.Connection[Any], table: list[Row], data: st.DataObject) -> None:
    i, column = data.draw(st.integers(0, len(table) - 1)), data.draw(st.sampled_from(COLUMNS))
    row = list(table[i])
    if column == "id":
        row[0] = data.draw(st.integers(-(2**31), 2**31 - 1).filter(lambda v: v != table[i][0]))
    elif column == "name":
        row[1] = data.draw(names)
    else:  # one float of the vector, to any other float32 bit pattern
        j, old = data.draw(st.integers(0, DIM - 1)), table[i][2]
        new = data.draw(floats32.filter(lambda v: struct.pack(">f", v) != struct.pack(">f", old[j])))
        row[2] = old[:j] + (new,) + old[j + 1:]
    changed = [*table[:i], (row[0], row[1], row[2]), *table[i + 1:]]
    if _bits(changed[i][COLUMNS.index(column)]) == _bits(table[i][COLUMNS.index(column)]):
        return  # the drawn name equals the old one
    with conn.transaction(force_rollback=True):
        assert _checksum(conn, changed) != _checksum(conn, table)


@EXAMPLES
@given(table=rows, data=st.data())
def test_a_pair_swapped_between_rows_shows(conn: psycopg.Connection[Any], table: list[Row],
                                           data: st.DataObject) -> None:
    i, j = data.draw(st.lists(st.integers(0, len(table) - 1), min_size=2, max_size=2, unique=True))
    k = COLUMNS.index(data.draw(st.sampled_from(COLUMNS)))
    a, b = list(table[i]), list(table[j])
    a[k], b[k] = b[k], a[k]
    swapped = list(table)
    swapped[i], swapped[j] = (a[0], a[1], a[2]), (b[0], b[1], b[2])
    if sorted(map(_bits_row, swapped)) == sorted(map(_bits_row, table)):
        return  # the same multiset of rows: nothing to see (equal values, or two equal rows swapped back)
    with conn.transaction(force_rollback=True):
        assert _checksum(conn, swapped) != _checksum(conn, table)


@EXAMPLES
@given(table=rows, data=st.data())
def test_a_duplicated_or_missing_row_shows(conn: psycopg.Connection[Any], table: list[Row],
                                           data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(table) - 1))
    with conn.transaction(force_rollback=True):
        before = _checksum(conn, table)
        assert _checksum(conn, [*table, table[i]]) != before
        assert _checksum(conn, table[:i] + table[i + 1:]) != before
        others = [k for k, r in enumerate(table) if _bits_row(r) != _bits_row(table[i])]
        if others:  # one row duplicated and another dropped: the same row count, a different multiset
            other = data.draw(st.sampled_from(others))
            same_count = [*[r for k, r in enumerate(table) if k != other], table[i]]
            assert _checksum(conn, same_count) != before


def _bits_row(row: Row) -> tuple[Any, ...]:
    return (row[0], "" if row[1] is None else "t" + row[1], _bits(row[2]))


@EXAMPLES
@given(table=rows)
def test_every_path_to_a_vectors_bytes_gives_the_same_checksum(conn: psycopg.Connection[Any],
                                                                 table: list[Row]) -> None:
    """The cast (table_checksum in a superuser's session) and both rebuilds from the send form (what a session
    that cannot make the cast runs: reversal on 18, a regular expression on any version), on any float32 bits."""
    with conn.transaction(force_rollback=True):
        fast = _checksum(conn, table)
        plan = checksums._Plan.of(conn, "p", "public")
        for available in {plan.available, plan.available - {"reverse"}}:
            query = checksums._query(plan.cols, available, "p", "public", cast=False)
            assert conn.execute(query).fetchone() == fast
