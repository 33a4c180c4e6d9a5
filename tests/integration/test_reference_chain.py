"""The reference chain against a real server: every revision's downgrade is exact, base->head->base leaves
nothing of ours, the HNSW indexes serve k-NN plans, 008 round-trips names exactly, and the audit trigger
writes one row per changed row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from reference_rows import DIM, seed_rows, snapshot, vector_text

from harness import alembic_project
from harness.bench.scenarios import load_scenarios
from harness.db import Database
from harness.verify.checksums import database_checksums

REVISIONS = sorted(p.name[:3] for p in (Path(__file__).resolve().parents[2] / "migrations" / "versions").glob(
    "[0-9][0-9][0-9]_*.py"))

def test_base_head_base_head(fresh_db: Database) -> None:
    empty = snapshot(fresh_db)
    alembic_project.upgrade(fresh_db, "head")
    assert alembic_project.current_revision(fresh_db) == alembic_project.head_revision() == REVISIONS[-1]
    at_head = snapshot(fresh_db)
    assert {r[0] for r in at_head["relations"] if r[1] == "r"} >= {"posts", "post_embeddings", "audit_log"}
    alembic_project.downgrade(fresh_db, "base")
    after = snapshot(fresh_db)
    assert after["relations"] == after["functions"] == after["triggers"] == after["types"] == []
    assert [r[0] for r in after["extensions"]] == ["plpgsql"]
    assert after == empty
    assert alembic_project.current_revision(fresh_db) is None
    with fresh_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (0,)
    alembic_project.upgrade(fresh_db, "head")
    assert snapshot(fresh_db) == at_head


def test_each_downgrade_is_exact(fresh_db: Database) -> None:
    """Up one revision and back down leaves the catalog exactly as it was, for every revision."""
    previous = "base"
    for revision in REVISIONS:
        before = snapshot(fresh_db)
        alembic_project.upgrade(fresh_db, revision)
        assert snapshot(fresh_db) != before, f"{revision} changed nothing"
        alembic_project.downgrade(fresh_db, previous)
        assert snapshot(fresh_db) == before, f"downgrade of {revision} is not exact"
        alembic_project.upgrade(fresh_db, revision)
        previous = revision


def test_004_keeps_a_vector_extension_it_did_not_create(fresh_db: Database) -> None:
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
    alembic_project.upgrade(fresh_db, "head")
    alembic_project.downgrade(fresh_db, "base")
    with fresh_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'vector'").fetchone() == (1,)


def _clustered(n: int, seed: int) -> np.ndarray[Any, Any]:
    """Unit vectors around 20 centres: a low intrinsic dimension, like real embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, DIM))
    v = centres[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, DIM))
    return v / np.linalg.norm(v, axis=1, keepdims=True)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("table", "key", "index", "order_by"), [
    ("post_embeddings", "post_id", "ix_post_embeddings_embedding_hnsw",
     "embedding::halfvec(384) <=> %s::halfvec(384)"),  # revision 013's expression index
    ("ai_reports", "id", "ix_ai_reports_embedding_hnsw", "embedding <=> %s::vector"),
])
def test_hnsw_serves_knn_order_by(fresh_db: Database, table: str, key: str, index: str, order_by: str) -> None:
    """With 2,000 clustered vectors analysed (no planner switches touched), k-NN uses the HNSW index."""
    n = 2000
    alembic_project.upgrade(fresh_db, "head")
    vectors = _clustered(n + 1, seed=7)
    with fresh_db.connect() as conn:
        ids = seed_rows(conn)
        if table == "post_embeddings":
            conn.execute("INSERT INTO posts (source_id, ward_id, title, body, topic, published_at) "
                         "SELECT %s, %s, 't' || g, 'b', 'x', now() FROM generate_series(1, %s) g",
                         (ids["source"], ids["ward"], n))
            with conn.cursor().copy("COPY post_embeddings (post_id, embedding) FROM STDIN") as copy:
                for post_id, v in zip(range(2, n + 2), vectors[:n], strict=True):
                    copy.write_row((post_id, vector_text(v)))
        else:
            with conn.cursor().copy("COPY ai_reports (ward_id, ai_model_id, title, body, embedding) "
                                    "FROM STDIN") as copy:
                for v in vectors[:n]:
                    copy.write_row((ids["ward"], ids["ai_model"], "r", "b", vector_text(v)))
        conn.execute(psycopg.sql.SQL("ANALYZE {}").format(psycopg.sql.Identifier(table)))
        conn.commit()
        query = psycopg.sql.SQL("SELECT {} FROM {} ORDER BY " + order_by + " LIMIT 10").format(
            psycopg.sql.Identifier(key), psycopg.sql.Identifier(table))
        probe = vector_text(vectors[n])
        plan = "\n".join(r[0] for r in conn.execute(psycopg.sql.SQL("EXPLAIN ") + query, (probe,)))
        rows = conn.execute(query, (probe,)).fetchall()
    assert index in plan, plan
    assert len(rows) == 10


TRICKY_NAMES = [
    "Ann", "Mary Ann Smith", " leading", "trailing ", "  two  leading and trailing  ", "a  b", " ", "  ", "",
    "Zoë Ó Briain", "李 小龍", "Łukasz Żółć", "tab\tinside", "nbsp\u00a0inside", "emoji 🙂 name",
    "combining e\u0301 accent", "new\nline here", "O'Neil-Smythe", "x", "ends with space\u3000ideographic",
]


def test_008_round_trips_names_exactly(fresh_db: Database) -> None:
    alembic_project.upgrade(fresh_db, "007")
    with fresh_db.connect() as conn:
        conn.execute("INSERT INTO constituencies (code, name, region) VALUES ('C1', 'c', 'r')")
        conn.execute("INSERT INTO wards (constituency_id, code, name, population, electorate, area_km2) "
                     "VALUES (1, 'W1', 'w', 1, 1, 1)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO candidates (ward_id, full_name) VALUES (1, %s)",
                            [(name,) for name in TRICKY_NAMES])
        conn.commit()
        before = database_checksums(conn)
    alembic_project.upgrade(fresh_db, "008")
    with fresh_db.connect() as conn:
        split = dict(conn.execute("SELECT id, (given_name, family_name) FROM candidates").fetchall())
        rebuilt = conn.execute("SELECT given_name || coalesce(' ' || family_name, '') FROM candidates "
                               "ORDER BY id").fetchall()
        at_008 = database_checksums(conn)
    assert [r[0] for r in rebuilt] == TRICKY_NAMES
    assert split[TRICKY_NAMES.index("Mary Ann Smith") + 1] == ("Mary Ann", "Smith")
    assert split[TRICKY_NAMES.index("Ann") + 1] == ("Ann", None)
    assert split[TRICKY_NAMES.index("trailing ") + 1] == ("trailing", "")
    alembic_project.downgrade(fresh_db, "007")
    with fresh_db.connect() as conn:
        assert database_checksums(conn) == before  # audit_log included: the transform is not audited
        names = [r[0] for r in conn.execute("SELECT full_name FROM candidates ORDER BY id")]
    assert names == TRICKY_NAMES
    alembic_project.upgrade(fresh_db, "008")
    with fresh_db.connect() as conn:
        assert database_checksums(conn) == at_008


def _audit_count(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM audit_log").fetchone()
    assert row is not None
    return int(row[0])


def test_audit_writes_one_row_per_changed_row(fresh_db: Database) -> None:
    alembic_project.upgrade(fresh_db, "head")
    with fresh_db.connect() as conn:
        ids = seed_rows(conn)  # one audited insert: the candidate
        conn.commit()
        start = _audit_count(conn)
        assert start == 1
        conn.execute("INSERT INTO candidates (ward_id, given_name, family_name) VALUES (%s, 'Alan', 'Turing'), "
                     "(%s, 'Edsger', 'Dijkstra')", (ids["ward"], ids["ward"]))
        conn.execute("INSERT INTO ward_results (election_id, ward_id, candidate_id, votes) "
                     "SELECT %s, ward_id, id, 100 FROM candidates", (ids["election"],))
        conn.execute("INSERT INTO ward_turnout (election_id, ward_id, registered, ballots_cast) "
                     "VALUES (%s, %s, 1000, 300)", (ids["election"], ids["ward"]))
        conn.execute("INSERT INTO ai_reports (ward_id, ai_model_id, title, body) VALUES (%s, %s, 't', 'b')",
                     (ids["ward"], ids["ai_model"]))
        conn.execute("UPDATE ward_results SET votes = votes + 1")                 # 3 rows
        conn.execute("UPDATE ward_turnout SET ballots_cast = 301")                # 1 row
        conn.execute("UPDATE ward_results SET votes = votes WHERE votes < 0")     # 0 rows
        conn.execute("DELETE FROM ward_results WHERE candidate_id <> %s", (ids["candidate"],))  # 2 rows
        conn.execute("DELETE FROM ai_reports")                                    # 1 row
        conn.commit()
        rows = conn.execute("SELECT table_name, op, count(*) FROM audit_log WHERE id > 1 "
                            "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
        assert rows == [("ai_reports", "DELETE", 1), ("ai_reports", "INSERT", 1), ("candidates", "INSERT", 2),
                        ("ward_results", "DELETE", 2), ("ward_results", "INSERT", 3), ("ward_results", "UPDATE", 3),
                        ("ward_turnout", "INSERT", 1), ("ward_turnout", "UPDATE", 1)]
        old, new = conn.execute("SELECT old_row, new_row FROM audit_log WHERE table_name = 'ward_turnout' "
                                "AND op = 'UPDATE'").fetchone()  # type: ignore[misc]
        assert (old["ballots_cast"], new["ballots_cast"]) == (300, 301)
        conn.execute("UPDATE ward_turnout SET ballots_cast = 0")
        conn.rollback()  # a rolled-back change leaves no audit row
        assert _audit_count(conn) == start + 14


def test_ward_filtered_search_ranks_the_wards_bits_then_re_ranks(fresh_db: Database) -> None:
    """A ward's k nearest posts, as the reference scenario asks for them, come from the ward's bits read from the
    covering B-tree alone (revision 016) and a full-precision re-rank, not an HNSW scan filtered after the fact
    (which returns too few rows): the plan says so, and the answers agree with a brute-force one."""
    n, wards, probes = 2000, 5, 10
    alembic_project.upgrade(fresh_db, "head")
    vectors = _clustered(n + probes, seed=11)
    [scenario] = [s for s in load_scenarios(kinds=("vector",)) if s.name == "vector_search_ward.busy_ward"]
    with fresh_db.connect() as conn:
        ids = seed_rows(conn)
        conn.execute("INSERT INTO wards (constituency_id, code, name, population, electorate, area_km2) "
                     "SELECT %s, 'X' || g, 'w', 1, 1, 1 FROM generate_series(1, %s) g", (ids["constituency"], wards))
        ward_ids = [r[0] for r in conn.execute("SELECT id FROM wards WHERE code LIKE 'X%%' ORDER BY id")]
        post_ward = [ward_ids[i % wards] for i in range(n)]
        with conn.cursor().copy("COPY posts (source_id, ward_id, title, body, topic, published_at) FROM STDIN") as cp:
            for w in post_ward:
                cp.write_row((ids["source"], w, "t", "b", "x", "2025-01-01"))
        post_ids = [r[0] for r in conn.execute("SELECT id FROM posts WHERE ward_id <> %s ORDER BY id", (ids["ward"],))]
        with conn.cursor().copy("COPY post_embeddings (post_id, embedding) FROM STDIN") as cp:
            for post_id, v in zip(post_ids, vectors[:n], strict=True):
                cp.write_row((post_id, vector_text(v)))
        conn.commit()
    with fresh_db.connect(autocommit=True) as conn:
        # The visibility map an index-only scan reads, as generate leaves it. The test server commits
        # asynchronously, and VACUUM marks no page all-visible while the commit's WAL is unflushed.
        conn.execute("CHECKPOINT")
        conn.execute("VACUUM ANALYZE post_embedding_bits")
        target = ward_ids[3]
        in_ward = [i for i in range(n) if post_ward[i] == target]
        stored = np.array([[float(x) for x in vector_text(vectors[i])[1:-1].split(",")] for i in in_ward])
        recalls = []
        for probe in vectors[n:]:
            params = {"query": vector_text(probe), "ward_id": target, "k": 10}
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + scenario.sql, params))
            rows = [r[0] for r in conn.execute(scenario.sql, params)]
            sent = np.array([float(x) for x in params["query"][1:-1].split(",")])
            distances = 1 - (stored @ sent) / (np.linalg.norm(stored, axis=1) * np.linalg.norm(sent))
            exact = [post_ids[in_ward[j]] for j in np.argsort(distances)[:10]]
            assert len(rows) == 10 and set(rows) <= {post_ids[i] for i in in_ward}
            recalls.append(len(set(rows) & set(exact)) / 10)
    assert "Index Only Scan using ix_post_embedding_bits_ward_id" in plan and "hnsw" not in plan, plan
    assert float(np.mean(recalls)) >= 0.95, recalls  # 200 candidates of the ward's 400


def test_011_swaps_the_rebuilt_hnsw_in_and_back_and_resumes_an_interrupted_build(fresh_db: Database) -> None:
    """After 011 the post embeddings' HNSW index has its old name, ef_construction 128 and is valid; the
    downgrade swaps ef_construction 64 back; a build left behind by an interrupted run is replaced."""

    def indexes(conn: psycopg.Connection[Any]) -> list[tuple[str, bool, list[str]]]:
        return [(r[0], r[1], r[2]) for r in conn.execute(
            "SELECT c.relname, x.indisvalid, c.reloptions FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
            "WHERE x.indrelid = 'post_embeddings'::regclass AND c.relname LIKE '%%hnsw%%' ORDER BY 1")]

    alembic_project.upgrade(fresh_db, "010")
    with fresh_db.connect(autocommit=True) as conn:
        seed_rows(conn)
        conn.execute("CREATE INDEX ix_post_embeddings_embedding_hnsw_rebuild ON post_embeddings (post_id)")
    alembic_project.upgrade(fresh_db, "011")
    with fresh_db.connect() as conn:
        assert indexes(conn) == [("ix_post_embeddings_embedding_hnsw", True, ["m=16", "ef_construction=128"])]
    alembic_project.downgrade(fresh_db, "010")
    with fresh_db.connect() as conn:
        assert indexes(conn) == [("ix_post_embeddings_embedding_hnsw", True, ["m=16", "ef_construction=64"])]


def test_013_indexes_halfvec_and_swaps_the_vector_index_back(fresh_db: Database) -> None:
    """After 013 the post embeddings' HNSW index keeps its name and is a valid halfvec expression index; the
    downgrade swaps revision 011's single-precision index (ef_construction 128) back."""

    def definition(conn: psycopg.Connection[Any]) -> list[tuple[str, bool]]:
        return [(r[0], r[1]) for r in conn.execute(
            "SELECT pg_get_indexdef(x.indexrelid), x.indisvalid FROM pg_index x JOIN pg_class c "
            "ON c.oid = x.indexrelid WHERE x.indrelid = 'post_embeddings'::regclass AND c.relname LIKE '%%hnsw%%'")]

    alembic_project.upgrade(fresh_db, "013")
    with fresh_db.connect() as conn:
        [(ddl, valid)] = definition(conn)
        assert valid and "ix_post_embeddings_embedding_hnsw ON public.post_embeddings USING hnsw " \
            "(((embedding)::halfvec(384)) halfvec_cosine_ops) WITH (m='16', ef_construction='64')" in ddl, ddl
    alembic_project.downgrade(fresh_db, "012")
    with fresh_db.connect() as conn:
        [(ddl, valid)] = definition(conn)
        assert valid and "(embedding vector_cosine_ops) WITH (m='16', ef_construction='128')" in ddl, ddl


def test_014_backfills_the_post_copies_and_triggers_keep_them(fresh_db: Database) -> None:
    """Rows written before 014 are backfilled; afterwards every way of writing keeps post_embeddings' ward,
    publication time and sentiment score equal to the post's and its score's: a new embedding (also in one
    statement with its post, as the load writer does), a post moved, a direct write of the copy (overridden),
    a score changed, removed or added, and a post deleted with its rows."""

    def drift(conn: psycopg.Connection[Any]) -> int:
        return int(conn.execute(  # type: ignore[index]
            "SELECT count(*) FROM post_embeddings e JOIN posts p ON p.id = e.post_id "
            "LEFT JOIN sentiment_scores s ON s.post_id = e.post_id WHERE e.ward_id IS DISTINCT FROM p.ward_id "
            "OR e.published_at IS DISTINCT FROM p.published_at OR e.sentiment_score IS DISTINCT FROM s.score"
        ).fetchone()[0])

    alembic_project.upgrade(fresh_db, "013")
    with fresh_db.connect(autocommit=True) as conn:
        ids = seed_rows(conn)
        conn.execute("INSERT INTO posts (source_id, ward_id, title, body, topic, published_at) SELECT %s, %s, 't', "
                     "'b', 'x', timestamptz '2025-01-01' + g * interval '1 hour' FROM generate_series(1, 50) g",
                     (ids["source"], ids["other_ward"]))
        conn.execute("INSERT INTO post_embeddings (post_id, embedding) SELECT id, %s FROM posts",
                     (vector_text(_clustered(1, 3)[0]),))
        conn.execute("INSERT INTO sentiment_scores (post_id, score, model) SELECT id, (id % 21 - 10) / 10.0, 'm' "
                     "FROM posts WHERE id % 3 <> 0")
    alembic_project.upgrade(fresh_db, "014")
    probe = vector_text(_clustered(1, 4)[0])
    with fresh_db.connect(autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM post_embeddings WHERE ward_id IS NULL").fetchone() == (0,)
        assert drift(conn) == 0
        conn.execute("WITH post AS (INSERT INTO posts (source_id, ward_id, title, body, topic, published_at) "
                     "VALUES (%s, %s, 't', 'b', 'x', now()) RETURNING id) "
                     "INSERT INTO post_embeddings (post_id, embedding) SELECT id, %s FROM post",
                     (ids["source"], ids["ward"], probe))
        conn.execute("UPDATE posts SET ward_id = %s, published_at = published_at - interval '1 day' "
                     "WHERE id IN (SELECT id FROM posts ORDER BY id LIMIT 5)", (ids["ward"],))
        conn.execute("UPDATE post_embeddings SET ward_id = %s, published_at = now(), sentiment_score = 5 "
                     "WHERE post_id = %s", (ids["other_ward"], ids["post"]))
        conn.execute("UPDATE sentiment_scores SET score = -score WHERE post_id % 2 = 0")
        conn.execute("DELETE FROM sentiment_scores WHERE post_id % 5 = 0")
        conn.execute("INSERT INTO sentiment_scores (post_id, score, model) SELECT id, 0.95, 'm' FROM posts "
                     "WHERE id NOT IN (SELECT post_id FROM sentiment_scores)")
        assert drift(conn) == 0
        assert conn.execute("SELECT count(*) FROM post_embeddings WHERE ward_id = %s",
                            (ids["ward"],)).fetchone() == (6,)  # the first 5 (the seeded one among them), 1 new
        conn.execute("DELETE FROM posts WHERE id IN (SELECT id FROM posts ORDER BY id DESC LIMIT 3)")  # cascades
        assert drift(conn) == 0 and conn.execute("SELECT count(*) FROM post_embeddings").fetchone() == (49,)


def test_015_audits_every_column_but_the_embedding_and_006_back(fresh_db: Database) -> None:
    """At 015 an audited ai_reports insert, update and delete record every column but the embedding (a row
    without one, the seeded candidate, is recorded whole); downgraded to 014 the embedding is recorded again."""
    alembic_project.upgrade(fresh_db, "015")
    embedding = vector_text(_clustered(1, 5)[0])

    def audited(conn: psycopg.Connection[Any]) -> list[tuple[str, Any, Any]]:
        start = conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO ai_reports (ward_id, ai_model_id, title, body, embedding) "
                     "VALUES (%s, %s, 't', 'b', %s)", (ids["ward"], ids["ai_model"], embedding))
        conn.execute("UPDATE ai_reports SET title = 'u' WHERE title = 't'")
        conn.execute("DELETE FROM ai_reports WHERE title = 'u'")
        return conn.execute("SELECT op, old_row, new_row FROM audit_log WHERE id > %s AND table_name = "
                            "'ai_reports' ORDER BY id", (start,)).fetchall()

    with fresh_db.connect(autocommit=True) as conn:
        ids = seed_rows(conn)
        rows = audited(conn)
        assert [op for op, _, _ in rows] == ["INSERT", "UPDATE", "DELETE"]
        for _, old, new in rows:
            for image in (old, new):
                assert image is None or ("embedding" not in image and image["body"] == "b"), image
        assert rows[1][1]["title"] == "t" and rows[1][2]["title"] == "u"
        result = conn.execute("SELECT new_row FROM audit_log WHERE table_name = 'candidates' "
                              "ORDER BY id DESC LIMIT 1").fetchone()
        assert result is not None and {"id", "party_id", "ward_id"} <= set(result[0]), result
    alembic_project.downgrade(fresh_db, "014")
    with fresh_db.connect(autocommit=True) as conn:
        rows = audited(conn)
        assert [op for op, _, _ in rows] == ["INSERT", "UPDATE", "DELETE"]
        assert "embedding" in rows[0][2] and "embedding" in rows[2][1]


def test_016_copies_the_bits_and_the_trigger_keeps_them(fresh_db: Database) -> None:
    """Rows written before 016 get their bits, ward and time in post_embedding_bits; afterwards a new embedding, a
    changed one, a post moved (through revision 014's copies), a direct write (overridden at the next write of
    the embedding row) and a deletion keep it equal to post_embeddings; the downgrade removes table, trigger and
    function."""
    drift = ("SELECT count(*) FROM post_embeddings e FULL JOIN post_embedding_bits b USING (post_id) "
             "WHERE b.bits IS DISTINCT FROM binary_quantize(e.embedding)::bit(384) "
             "OR (b.ward_id, b.published_at) IS DISTINCT FROM (e.ward_id, e.published_at)")
    vectors = [vector_text(v) for v in _clustered(60, 6)]
    alembic_project.upgrade(fresh_db, "015")
    with fresh_db.connect(autocommit=True) as conn:
        ids = seed_rows(conn)
        conn.execute("INSERT INTO posts (source_id, ward_id, title, body, topic, published_at) SELECT %s, %s, 't', "
                     "'b', 'x', timestamptz '2025-01-01' + g * interval '1 hour' FROM generate_series(1, 50) g",
                     (ids["source"], ids["other_ward"]))
        for (post_id,), v in zip(conn.execute("SELECT id FROM posts ORDER BY id").fetchall(), vectors, strict=False):
            conn.execute("INSERT INTO post_embeddings (post_id, embedding) VALUES (%s, %s)", (post_id, v))
    alembic_project.upgrade(fresh_db, "016")
    with fresh_db.connect(autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM post_embedding_bits").fetchone() == (51,)
        assert conn.execute(drift).fetchone() == (0,)
        conn.execute("WITH post AS (INSERT INTO posts (source_id, ward_id, title, body, topic, published_at) "
                     "VALUES (%s, %s, 't', 'b', 'x', now()) RETURNING id) "
                     "INSERT INTO post_embeddings (post_id, embedding) SELECT id, %s FROM post",
                     (ids["source"], ids["ward"], vectors[55]))
        conn.execute("UPDATE post_embeddings SET embedding = %s WHERE post_id = %s", (vectors[56], ids["post"]))
        conn.execute("UPDATE posts SET ward_id = %s, published_at = published_at - interval '1 day' "
                     "WHERE id IN (SELECT id FROM posts ORDER BY id LIMIT 5)", (ids["ward"],))
        conn.execute("UPDATE post_embedding_bits SET bits = (B'1' || repeat('0', 383)::bit(383))::bit(384) "
                     "WHERE post_id IN (SELECT post_id FROM post_embeddings ORDER BY post_id DESC LIMIT 3)")
        conn.execute("UPDATE post_embeddings SET embedding = embedding "
                     "WHERE post_id IN (SELECT post_id FROM post_embeddings ORDER BY post_id DESC LIMIT 3)")
        conn.execute("DELETE FROM posts WHERE id IN (SELECT id FROM posts ORDER BY id DESC LIMIT 2 OFFSET 4)")
        assert conn.execute(drift).fetchone() == (0,)
        assert conn.execute("SELECT count(*), count(DISTINCT bits) > 40 FROM post_embedding_bits").fetchone() \
            == (50, True)
    alembic_project.downgrade(fresh_db, "015")
    with fresh_db.connect() as conn:
        assert conn.execute("SELECT to_regclass('post_embedding_bits')").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'tr_post_embedding_bits'").fetchone() \
            == (0,)
        assert conn.execute("SELECT to_regprocedure('post_embedding_bits_from_embedding()')").fetchone() == (None,)
