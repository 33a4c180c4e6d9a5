"""Bulk seeding: every table of an arbitrary schema gets N rows through COPY, keys consistent, types honoured."""

from __future__ import annotations

from sqlalchemy import create_engine, pool

from harness import alembic_project
from harness.db import Database
from harness.rehearse.seed_bulk import seed_tables

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TYPE mood AS ENUM ('calm', 'angry', 'o''brien');
CREATE DOMAIN short_code AS text CHECK (VALUE ~ '^[A-Z]{2}[0-9]{1,4}$');
CREATE TABLE wards (id serial PRIMARY KEY, name text UNIQUE NOT NULL, code short_code, area numeric(8, 3));
CREATE TABLE posts (id bigint PRIMARY KEY, ward_id int NOT NULL REFERENCES wards(id), body text,
                    score numeric(5, 2) CHECK (score >= 0 AND score <= 100), created_at timestamptz NOT NULL,
                    tags text[], meta jsonb, feeling mood, embedding vector(8), reply_to bigint REFERENCES posts(id),
                    slug varchar(12) UNIQUE, uid uuid UNIQUE, flagged bool NOT NULL, weight float8 NOT NULL);
CREATE TABLE ward_links (a int NOT NULL REFERENCES wards(id), b int NOT NULL REFERENCES wards(id),
                         strength int4, PRIMARY KEY (a, b));
"""


def test_every_table_gets_its_rows_with_consistent_keys(fresh_db: Database) -> None:
    with fresh_db.connect() as conn:
        conn.execute(SCHEMA)
        conn.commit()
        engine = create_engine(alembic_project.sqlalchemy_url(fresh_db.dsn), poolclass=pool.NullPool)
        try:
            report = seed_tables(conn, engine, 3000, seed=7)
        finally:
            engine.dispose()
        assert report.shortfalls == []
        assert report.rows == {"wards": 3000, "posts": 3000, "ward_links": 3000}
        counts = conn.execute("SELECT (SELECT count(*) FROM wards), (SELECT count(*) FROM posts), "
                              "(SELECT count(DISTINCT ward_id) FROM posts), (SELECT count(*) FROM ward_links), "
                              "(SELECT count(*) FROM posts WHERE body IS NULL), "
                              "(SELECT count(DISTINCT feeling) FROM posts), "
                              "(SELECT count(*) FROM posts WHERE vector_dims(embedding) = 8)").fetchone()
        assert counts is not None
        wards, posts, distinct_wards, links, null_bodies, moods, vectors = counts
        assert (wards, posts, links, vectors) == (3000, 3000, 3000, 3000)
        assert distinct_wards > 1000  # spread over the parents, not one
        assert 0 < null_bodies < posts  # nullable columns get some NULLs
        assert moods == 3
        # the foreign keys hold (PostgreSQL checked them), and the serial's sequence moved past the rows
        assert conn.execute("SELECT nextval('wards_id_seq')").fetchone() == (3001,)


def test_only_empty_tables_are_seeded_again(fresh_db: Database) -> None:
    with fresh_db.connect() as conn:
        conn.execute("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY)")
        conn.execute("INSERT INTO a VALUES (1)")
        conn.commit()
        engine = create_engine(alembic_project.sqlalchemy_url(fresh_db.dsn), poolclass=pool.NullPool)
        try:
            report = seed_tables(conn, engine, 50)
        finally:
            engine.dispose()
        assert report.rows == {"b": 50}
        assert conn.execute("SELECT count(*) FROM a").fetchone() == (1,)
