"""Read the dataset's tables and indexes into shared_buffers before anything is timed.

A prepared dataset's fresh copy (or a just-generated database) is cold: at 10^6 posts the first pass over random
days or HNSW neighbourhoods read pages in, and p95 came out 3-4x the steady state (vector_search_all 33 ms cold,
9-10 ms warm; one-day windows 26 ms cold, 5 ms warm). A server in service holds its hot set in memory, so the
bench measures that state and says how it got there. pg_prewarm is used where the server offers it (the
extension is created only in a disposable database); otherwise each table is read through a TID range scan,
which, unlike a sequential scan of a large table, does not use a small ring buffer, and indexes warm up in the
warm-up rounds.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql

from harness.db import Database
from harness.results.bench import Prewarm, PrewarmMethod

RELATIONS = """
SELECT c.oid::regclass::text, c.relkind::text, pg_relation_size(c.oid) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm', 'i') AND c.relpersistence = 'p'
ORDER BY c.relkind = 'i', pg_relation_size(c.oid)
"""


def _has_prewarm(conn: psycopg.Connection[Any], disposable: bool) -> tuple[bool, str]:
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_prewarm'").fetchone():
        return True, ""
    if not conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_prewarm'").fetchone():
        return False, "the server does not offer pg_prewarm: tables read by TID range scans, indexes not"
    if not disposable:
        return False, "pg_prewarm is not installed and this database is not the harness's to change: tables " \
                      "read by TID range scans, indexes not"
    conn.execute("CREATE EXTENSION pg_prewarm")
    return True, ""


def prewarm(db: Database) -> Prewarm:
    """Cache every table and index of the public schema (tables first, then indexes, smallest first)."""
    t0 = time.perf_counter()
    with db.connect(autocommit=True) as conn:
        relations = [(str(r[0]), str(r[1]), int(r[2])) for r in conn.execute(RELATIONS).fetchall()]
        buffers = conn.execute("SELECT setting::bigint * current_setting('block_size')::bigint FROM pg_settings "
                               "WHERE name = 'shared_buffers'").fetchone()[0]  # type: ignore[index]
        extension, note = _has_prewarm(conn, db.disposable)
        if extension:
            for name, _, _ in relations:
                conn.execute("SELECT pg_prewarm(%s::regclass)", (name,))
            read = relations
        else:
            conn.execute("SET enable_seqscan = off")
            conn.execute("SET max_parallel_workers_per_gather = 0")
            read = [r for r in relations if r[1] != "i"]
            for name, _, _ in read:
                conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE ctid >= '(0,0)'::tid").format(
                    sql.SQL(name)))  # a regclass text: already quoted where it needs to be
    return Prewarm(method=PrewarmMethod.PG_PREWARM if extension else PrewarmMethod.TID_RANGE_SCANS,
                   relations=len(read), mb=round(sum(r[2] for r in read) / 2**20, 1),
                   shared_buffers_mb=round(int(buffers) / 2**20, 1), seconds=round(time.perf_counter() - t0, 2),
                   note=note)
