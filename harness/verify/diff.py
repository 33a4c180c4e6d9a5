"""Which rows changed: a jsonb snapshot keyed by primary key, taken before a step and compared in SQL after.

Checksums say *that* a table changed; this says *which* rows and how. The snapshot lives in its own
schema of the disposable database, so neither the chain nor the checksums of `public` see it.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from pydantic import JsonValue

from harness.results.migrations import RowSample, VerifyDifference

SNAPSHOT_SCHEMA = "wardbench_verify_snapshot"


def _key_columns(conn: psycopg.Connection[Any], schema: str, table: str) -> list[str]:
    """The primary key's columns (in key order), or [] when the table has none."""
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i "
        "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos) ON true "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s) AND i.indisprimary ORDER BY k.pos",
        (schema, table)).fetchall()
    return [r[0] for r in rows]


def _key_expr(keys: list[str]) -> sql.Composable:
    if not keys:
        return sql.SQL("to_jsonb(t)")
    return sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(
        sql.SQL("{}, t.{}").format(sql.Literal(k), sql.Identifier(k)) for k in keys))


UPGRADED = "__after_upgrade"  # suffix of the copies taken after the upgrade


def take_snapshot(conn: psycopg.Connection[Any], tables: list[str], schema: str = "public",
                  suffix: str = "") -> None:
    """Copy every row of `tables` as (key jsonb, row jsonb) into the snapshot schema.

    Without a suffix the schema starts afresh (the copies from before a step); with one (UPGRADED) they are
    added next to those, to tell afterwards whether the upgrade or the downgrade changed a value."""
    if not suffix:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SNAPSHOT_SCHEMA)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SNAPSHOT_SCHEMA)))
    for table in tables:
        conn.execute(sql.SQL("CREATE TABLE {}.{} AS SELECT {} AS k, to_jsonb(t) AS v FROM {}.{} AS t").format(
            sql.Identifier(SNAPSHOT_SCHEMA), sql.Identifier(table + suffix),
            _key_expr(_key_columns(conn, schema, table)), sql.Identifier(schema), sql.Identifier(table)))
    conn.commit()


def column_changes(conn: psycopg.Connection[Any], table: str, other: str) -> dict[str, int] | None:
    """Rows per column whose value differs between the snapshot copies `table` and `other` (keyed tables only;
    None for a table without a primary key). A column absent from `other` counts its non-null values."""
    if conn.execute(sql.SQL("SELECT bool_and(k = v) FROM {}").format(
            sql.Identifier(SNAPSHOT_SCHEMA, table))).fetchone() in ((True,),):
        return None  # no key: k is the whole row
    rows = conn.execute(sql.SQL(
        "SELECT c, count(*) FROM {} o JOIN {} n ON n.k = o.k CROSS JOIN LATERAL jsonb_object_keys(o.v) c "
        "WHERE (o.v -> c)::text IS DISTINCT FROM (n.v -> c)::text AND (n.v ? c OR o.v -> c <> 'null') "
        "GROUP BY c").format(sql.Identifier(SNAPSHOT_SCHEMA, table), sql.Identifier(SNAPSHOT_SCHEMA, other))
    ).fetchall()
    return {str(c): int(n) for c, n in rows}


def drop_snapshot(conn: psycopg.Connection[Any]) -> None:
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SNAPSHOT_SCHEMA)))
    conn.commit()


def diff_table(conn: psycopg.Connection[Any], table: str, schema: str = "public",
               samples: int = 5) -> VerifyDifference:
    """Rows of `table` that differ from its snapshot: counts by kind and a few keys with old/new values.

    Rows are matched by primary key; a table without one is compared as a multiset of whole rows, where a
    row gone and a row added pair up as one changed row (99 changed rows are 99, not 99 missing + 99 added).
    Values are compared as jsonb text, so 12.30 vs 12.3 and reordered columns are told apart correctly.
    `columns` counts the changed rows per column (keyed tables only).
    """
    keys = _key_columns(conn, schema, table)
    snap = sql.Identifier(SNAPSHOT_SCHEMA, table)
    now = sql.SQL("SELECT {} AS k, to_jsonb(t) AS v FROM {}.{} AS t").format(
        _key_expr(keys), sql.Identifier(schema), sql.Identifier(table))
    if keys:
        query = sql.SQL(
            "WITH cur AS ({now}), d AS (SELECT coalesce(o.k, n.k) AS k, o.v AS old, n.v AS new "
            "FROM {snap} o FULL JOIN cur n ON o.k = n.k WHERE o.v::text IS DISTINCT FROM n.v::text) "
            "SELECT count(*) FILTER (WHERE new IS NULL), count(*) FILTER (WHERE old IS NULL), "
            "count(*) FILTER (WHERE old IS NOT NULL AND new IS NOT NULL), "
            "(SELECT coalesce(jsonb_agg(jsonb_build_array(k, old, new)), '[]') FROM "
            "(SELECT * FROM d ORDER BY k::text LIMIT {n}) s), "
            "(SELECT coalesce(jsonb_object_agg(c, n), '{{}}') FROM (SELECT c, count(*) AS n FROM d "
            "CROSS JOIN LATERAL jsonb_object_keys(d.old) c WHERE d.new IS NOT NULL "
            "AND (d.old -> c)::text IS DISTINCT FROM (d.new -> c)::text GROUP BY c) p) FROM d").format(
            now=now, snap=snap, n=sql.Literal(samples))
    else:
        query = sql.SQL(
            "WITH cur AS ({now}), gone AS (SELECT v FROM {snap} EXCEPT ALL SELECT v FROM cur), "
            "added AS (SELECT v FROM cur EXCEPT ALL SELECT v FROM {snap}), "
            "g AS (SELECT v, row_number() OVER (ORDER BY v::text) AS i FROM gone), "
            "a AS (SELECT v, row_number() OVER (ORDER BY v::text) AS i FROM added) "
            "SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM added), 0, "
            "(SELECT coalesce(jsonb_agg(jsonb_build_array(NULL, g.v, a.v)), '[]') FROM "
            "(SELECT * FROM g ORDER BY i LIMIT {n}) g LEFT JOIN a ON a.i = g.i), NULL").format(
            now=now, snap=snap, n=sql.Literal(samples))
    first, second, third, rows, columns = conn.execute(query).fetchone()  # type: ignore[misc]
    missing, added, changed = int(first), int(second), int(third)
    if not keys:  # multiset: a row gone and a row added pair up as one changed row
        changed = min(missing, added)
        missing, added = missing - changed, added - changed
    return VerifyDifference(table, missing + added + changed, missing, added, changed, tuple(keys) or None, columns,
                      tuple(_sample(k, old, new) for k, old, new in rows))


def _sample(key: JsonValue, old: dict[str, JsonValue] | None, new: dict[str, JsonValue] | None) -> RowSample:
    """One differing row: its key and, for changed rows, only the columns whose values differ."""
    if old is None or new is None:
        return RowSample(key, old, new)
    cols = sorted(set(old) | set(new))
    changed = [c for c in cols if old.get(c, "<absent>") != new.get(c, "<absent>")
               or type(old.get(c)) is not type(new.get(c))]
    return RowSample(key, {c: old.get(c, "<absent>") for c in changed}, {c: new.get(c, "<absent>") for c in changed})
