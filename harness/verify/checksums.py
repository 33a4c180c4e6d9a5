"""Per-table, order-independent checksums computed inside the database in one pass.

`hashtextextended(row::text, 0)` hashes every column's value (the row's text form); summing the
64-bit hashes as numeric makes the result independent of row order without sorting. The hash is
internal to PostgreSQL: compare checksums only between databases on the same major version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class TableChecksum:
    table: str
    rows: int
    checksum: str  # numeric as text: exact, and JSON-safe


def user_tables(conn: psycopg.Connection[Any], schema: str = "public",
                exclude: tuple[str, ...] = ("alembic_version",)) -> list[str]:
    """Ordinary tables in `schema`, sorted, without Alembic's bookkeeping table."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY 1", (schema,)).fetchall()
    return [r[0] for r in rows if r[0] not in exclude]


def table_checksum(conn: psycopg.Connection[Any], table: str, schema: str = "public") -> TableChecksum:
    query = sql.SQL("SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text "
                    "FROM {}.{} AS t").format(sql.Identifier(schema), sql.Identifier(table))
    rows, checksum = conn.execute(query).fetchone()  # type: ignore[misc]
    return TableChecksum(table, int(rows), str(checksum))


def database_checksums(conn: psycopg.Connection[Any], schema: str = "public",
                       tables: list[str] | None = None) -> dict[str, TableChecksum]:
    """Checksums of `tables` (default: every user table in `schema`), keyed by table name."""
    names = tables if tables is not None else user_tables(conn, schema)
    return {t: table_checksum(conn, t, schema) for t in names}
