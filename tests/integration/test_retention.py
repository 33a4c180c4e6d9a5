"""purge_expired() removes exactly the expired rows and their dependants, nothing else (checksums of what
must remain, taken before the purge, equal the tables after it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from reference_rows import seed_rows, unit_vector

from harness import alembic_project
from harness.db import Database
from harness.verify.checksums import database_checksums, table_checksum

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
KEEP = {"posts": 730, "ai_reports": 1095, "audit_log": 2555}  # the policies 009 installs
TICK = timedelta(microseconds=1)


def _ages(n: int, span_days: int, keep_days: int) -> list[timedelta]:
    """n ages spread over span_days, plus the two boundary cases: exactly at the cutoff (kept) and 1 µs past."""
    ages = [timedelta(days=span_days * i / n, hours=i % 24) for i in range(n)]
    return ages + [timedelta(days=keep_days), timedelta(days=keep_days) + TICK]


def _load(conn: psycopg.Connection[Any], ids: dict[str, int]) -> dict[str, int]:
    """Rows of every age; returns how many of each table must expire, counted here in Python."""
    expired = {"posts": 0, "sentiment_scores": 0, "post_embeddings": 0, "ai_reports": 0, "audit_log": 0}
    for i, age in enumerate(_ages(300, 1500, KEEP["posts"])):
        row = conn.execute("INSERT INTO posts (source_id, ward_id, title, body, topic, published_at) "
                           "VALUES (%s, %s, %s, 'b', 't', %s) RETURNING id",
                           (ids["source"], ids["ward"], f"p{i}", AS_OF - age)).fetchone()
        assert row is not None
        old = age > timedelta(days=KEEP["posts"])
        expired["posts"] += old
        if i % 2 == 0:
            conn.execute("INSERT INTO sentiment_scores (post_id, score, model) VALUES (%s, %s, 'm')",
                         (row[0], (i % 200) / 100 - 1))
            expired["sentiment_scores"] += old
        if i % 3 == 0:
            conn.execute("INSERT INTO post_embeddings (post_id, embedding) VALUES (%s, %s)", (row[0], unit_vector(i)))
            expired["post_embeddings"] += old
    for i, age in enumerate(_ages(120, 2000, KEEP["ai_reports"])):
        conn.execute("INSERT INTO ai_reports (ward_id, ai_model_id, experiment_id, title, body, generated_at) "
                     "VALUES (%s, %s, %s, %s, 'b', %s)",
                     (ids["ward"], ids["ai_model"], ids["experiment"], f"r{i}", AS_OF - age))
        expired["ai_reports"] += age > timedelta(days=KEEP["ai_reports"])
    # Back-date the audit trail written so far (one row per audited insert) over ten years, boundaries included.
    audit_ids = [r[0] for r in conn.execute("SELECT id FROM audit_log ORDER BY id")]
    ages = _ages(len(audit_ids) - 2, 3650, KEEP["audit_log"])
    with conn.cursor() as cur:
        cur.executemany("UPDATE audit_log SET changed_at = %s WHERE id = %s",
                        [(AS_OF - age, audit_id) for audit_id, age in zip(audit_ids, ages, strict=True)])
    expired["audit_log"] = sum(age > timedelta(days=KEEP["audit_log"]) for age in ages)
    conn.commit()
    return expired


KEPT = {
    "posts": "SELECT * FROM posts WHERE published_at >= %(as_of)s - interval '730 days'",
    "sentiment_scores": "SELECT s.* FROM sentiment_scores s JOIN posts p ON p.id = s.post_id "
                        "WHERE p.published_at >= %(as_of)s - interval '730 days'",
    "post_embeddings": "SELECT e.* FROM post_embeddings e JOIN posts p ON p.id = e.post_id "
                       "WHERE p.published_at >= %(as_of)s - interval '730 days'",
    "post_embedding_bits": "SELECT b.* FROM post_embedding_bits b JOIN posts p ON p.id = b.post_id "
                           "WHERE p.published_at >= %(as_of)s - interval '730 days'",
    "ai_reports": "SELECT * FROM ai_reports WHERE generated_at >= %(as_of)s - interval '1095 days'",
    "audit_log": "SELECT * FROM audit_log WHERE changed_at >= %(as_of)s - interval '2555 days'",
}


def test_purge_removes_exactly_the_expired(fresh_db: Database) -> None:
    alembic_project.upgrade(fresh_db, "head")
    with fresh_db.connect() as conn:
        ids = seed_rows(conn)
        expired = _load(conn, ids)
        untouched = {t: c for t, c in database_checksums(conn).items() if t not in KEPT}
        conn.execute("CREATE SCHEMA expected")
        for table, query in KEPT.items():
            conn.execute(psycopg.sql.SQL("CREATE TABLE expected.{} AS ").format(psycopg.sql.Identifier(table))
                         + psycopg.sql.SQL(query), {"as_of": AS_OF})
        expired_reports = {r[0] for r in conn.execute(
            "SELECT id FROM ai_reports WHERE generated_at < %s - interval '1095 days'", (AS_OF,))}
        last_audit = conn.execute("SELECT max(id) FROM audit_log").fetchone()[0]  # type: ignore[index]
        conn.commit()

        purged = dict(conn.execute("SELECT * FROM purge_expired(%s)", (AS_OF,)).fetchall())
        conn.commit()

        assert purged == expired
        assert all(n > 0 for n in expired.values())
        for table in ("posts", "sentiment_scores", "post_embeddings", "post_embedding_bits", "ai_reports"):
            assert table_checksum(conn, table) == table_checksum(conn, table, "expected"), table
        # audit_log: the surviving old rows exactly, plus one DELETE row per purged report (the purge is audited).
        conn.execute("CREATE SCHEMA observed")
        conn.execute("CREATE TABLE observed.audit_log AS SELECT * FROM audit_log WHERE id <= %s", (last_audit,))
        assert table_checksum(conn, "audit_log", "observed") == table_checksum(conn, "audit_log", "expected")
        new = conn.execute("SELECT table_name, op, (old_row->>'id')::bigint FROM audit_log WHERE id > %s",
                           (last_audit,)).fetchall()
        assert {r[:2] for r in new} == {("ai_reports", "DELETE")} and {r[2] for r in new} == expired_reports
        assert len(new) == len(expired_reports)
        assert {t: c for t, c in database_checksums(conn, tables=list(untouched)).items()} == untouched

        again = dict(conn.execute("SELECT * FROM purge_expired(%s)", (AS_OF,)).fetchall())
    assert again == dict.fromkeys(expired, 0)


def test_purge_without_a_policy_keeps_that_table(fresh_db: Database) -> None:
    alembic_project.upgrade(fresh_db, "head")
    with fresh_db.connect() as conn:
        ids = seed_rows(conn)
        _load(conn, ids)
        conn.execute("DELETE FROM retention_policies WHERE table_name = 'posts'")
        before = database_checksums(conn, tables=["posts", "sentiment_scores", "post_embeddings"])
        purged = dict(conn.execute("SELECT * FROM purge_expired(%s)", (AS_OF,)).fetchall())
        after = database_checksums(conn, tables=["posts", "sentiment_scores", "post_embeddings"])
    assert (purged["posts"], purged["sentiment_scores"], purged["post_embeddings"]) == (0, 0, 0)
    assert purged["ai_reports"] > 0
    assert after == before
