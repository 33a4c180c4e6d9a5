"""Which rows changed: a jsonb snapshot keyed by primary key, taken before a step and compared in SQL after.

Checksums say *that* a table changed; this says *which* rows and how. The snapshot lives in its own
schema of the disposable database, so neither the chain nor the checksums of `public` see it.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

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


def take_snapshot(conn: psycopg.Connection[Any], tables: list[str], schema: str = "public") -> None:
    """Copy every row of `tables` as (key jsonb, row jsonb) into the snapshot schema (replacing old copies)."""
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SNAPSHOT_SCHEMA)))
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SNAPSHOT_SCHEMA)))
    for table in tables:
        conn.execute(sql.SQL("CREATE TABLE {}.{} AS SELECT {} AS k, to_jsonb(t) AS v FROM {}.{} AS t").format(
            sql.Identifier(SNAPSHOT_SCHEMA), sql.Identifier(table), _key_expr(_key_columns(conn, schema, table)),
            sql.Identifier(schema), sql.Identifier(table)))
    conn.commit()


def drop_snapshot(conn: psycopg.Connection[Any]) -> None:
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SNAPSHOT_SCHEMA)))
    conn.commit()


def diff_table(conn: psycopg.Connection[Any], table: str, schema: str = "public",
               samples: int = 5) -> dict[str, Any]:
    """Rows of `table` that differ from its snapshot: counts by kind and a few keys with old/new values.

    Rows are matched by primary key; a table without one is compared as a multiset of whole rows.
    Values are compared as jsonb text, so 12.30 vs 12.3 and reordered columns are told apart correctly.
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
            "(SELECT * FROM d ORDER BY k::text LIMIT {n}) s) FROM d").format(
            now=now, snap=snap, n=sql.Literal(samples))
    else:
        query = sql.SQL(
            "WITH cur AS ({now}), gone AS (SELECT v FROM {snap} EXCEPT ALL SELECT v FROM cur), "
            "added AS (SELECT v FROM cur EXCEPT ALL SELECT v FROM {snap}) "
            "SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM added), 0, "
            "(SELECT coalesce(jsonb_agg(jsonb_build_array(v, v, NULL)), '[]') FROM "
            "(SELECT v FROM gone LIMIT {n}) s)").format(now=now, snap=snap, n=sql.Literal(samples))
    missing, added, changed, rows = conn.execute(query).fetchone()  # type: ignore[misc]
    return {"table": table, "key": keys or None, "rows_differing": int(missing) + int(added) + int(changed),
            "missing": int(missing), "added": int(added), "changed": int(changed),
            "samples": [_sample(k, old, new) for k, old, new in rows]}


def _sample(key: Any, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    """One differing row: its key and, for changed rows, only the columns whose values differ."""
    if old is None or new is None:
        return {"key": key, "old": old, "new": new}
    cols = sorted(set(old) | set(new))
    changed = [c for c in cols if old.get(c, "<absent>") != new.get(c, "<absent>")
               or type(old.get(c)) is not type(new.get(c))]
    return {"key": key, "old": {c: old.get(c, "<absent>") for c in changed},
            "new": {c: new.get(c, "<absent>") for c in changed}}
