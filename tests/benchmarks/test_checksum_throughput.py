"""Checksum throughput against a plain sequential scan (SELECT count(*)) of the same tables, same run.

Tables shaped like the reference schema's biggest ones: posts (wide text), ward_results (narrow
integers) and post_embeddings (vector(384)). Each timing is the median of alternating rounds, so
both sides see the same cache and load; the assertion is on the ratio, never on wall-clock time.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import psycopg
import pytest
from psycopg import sql

from harness.db import Database
from harness.verify.checksums import checksum_query, database_checksums

ROWS, VECTOR_ROWS, ROUNDS = 200_000, 50_000, 7
TARGET_RATIO = 3.0

TABLES = {
    "posts": """CREATE TABLE posts AS SELECT g::bigint AS id, 1 + mod(g, 50) AS source_id, 1 + mod(g, 1000) AS ward_id,
        'Ward ' || g || ' council update — Zürich/Łódź' AS title,
        repeat('Résumé of the meeting about turnout and budgets. ', 1 + mod(g, 16)) AS body,
        (ARRAY['housing', 'transport', 'schools', 'health'])[1 + mod(g, 4)] AS topic,
        timestamptz '2024-01-01' + g * interval '37 seconds' AS published_at
        FROM generate_series(1, %(rows)s) g""",
    "ward_results": """CREATE TABLE ward_results AS SELECT g::bigint AS id, 1 + mod(g, 5) AS election_id,
        1 + mod(g, 1000) AS ward_id, mod(g, 7919) AS candidate_id, mod((g * 7), 5000) AS votes
        FROM generate_series(1, %(rows)s) g""",
    "post_embeddings": """CREATE TABLE post_embeddings AS SELECT g::bigint AS post_id,
        array_fill(mod(g, 997)::real / 997, ARRAY[384])::vector(384) AS embedding
        FROM generate_series(1, %(vector_rows)s) g""",
}


def _timed(conn: psycopg.Connection[Any], query: Any) -> float:
    start = time.perf_counter()
    conn.execute(query).fetchall()
    return time.perf_counter() - start


@pytest.fixture
def loaded(fresh_db: Database) -> Database:
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        for ddl in TABLES.values():
            conn.execute(ddl, {"rows": ROWS, "vector_rows": VECTOR_ROWS})
        for table in TABLES:  # every column is NOT NULL in the reference schema too
            columns = [r[0] for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0", (table,))]
            conn.execute(sql.SQL("ALTER TABLE {} {}").format(sql.Identifier(table), sql.SQL(", ").join(
                sql.SQL("ALTER COLUMN {} SET NOT NULL").format(sql.Identifier(c)) for c in columns)))
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
    return fresh_db


def test_checksums_within_3x_of_count_star(loaded: Database, benchmark: Any) -> None:
    per_table: dict[str, dict[str, float]] = {}
    with loaded.connect(autocommit=True) as conn:
        for table in TABLES:
            checksum = checksum_query(conn, table)
            count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            _timed(conn, checksum), _timed(conn, count)  # warm both
            sums, counts = [], []
            for _ in range(ROUNDS):  # alternate, so drift hits both sides alike
                sums.append(_timed(conn, checksum))
                counts.append(_timed(conn, count))
            per_table[table] = {"checksum_s": statistics.median(sums), "count_s": statistics.median(counts)}
        benchmark.pedantic(database_checksums, args=(conn, "public", list(TABLES)), rounds=3, iterations=1)
    total_checksum = sum(t["checksum_s"] for t in per_table.values())
    total_count = sum(t["count_s"] for t in per_table.values())
    ratio = total_checksum / total_count
    benchmark.extra_info.update({
        "rows": {"posts": ROWS, "ward_results": ROWS, "post_embeddings": VECTOR_ROWS},
        "per_table": {t: {**v, "ratio": round(v["checksum_s"] / v["count_s"], 2)} for t, v in per_table.items()},
        "checksum_s": round(total_checksum, 4), "count_s": round(total_count, 4), "ratio": round(ratio, 2),
        "target_ratio": TARGET_RATIO,
    })
    print(f"\nchecksum vs count(*): {benchmark.extra_info}")
    assert ratio <= TARGET_RATIO, benchmark.extra_info
