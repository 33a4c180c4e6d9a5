"""Reflected seeding on a schema it never saw: every type, key and CHECK it can satisfy; the rest reported."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, pool

from harness.alembic_project import sqlalchemy_url
from harness.db import Database
from harness.verify.seed import Seeder, reflect

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TYPE mood AS ENUM ('calm', 'tense', 'ecstatic');
CREATE DOMAIN percent AS numeric(5,2) CHECK (VALUE >= 0 AND VALUE <= 100);
CREATE TABLE regions (id serial PRIMARY KEY, code varchar(5) NOT NULL UNIQUE,
    colour text NOT NULL CHECK (colour ~ '^#[0-9a-f]{6}$'));
CREATE TABLE places (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region_id int NOT NULL REFERENCES regions (id),
    parent_id bigint REFERENCES places (id),
    name text NOT NULL, short char(3), area numeric(10,3) NOT NULL CHECK (area > 0),
    share percent, founded date, seen_at timestamptz NOT NULL, attrs jsonb NOT NULL, raw json,
    tags text[] NOT NULL, scores int[], feeling mood NOT NULL, moods mood[], token uuid UNIQUE,
    active bool NOT NULL, blob bytea, embedding vector(4) NOT NULL, kind text NOT NULL
        CHECK (kind IN ('town', 'village')),
    upper_name text GENERATED ALWAYS AS (upper(name)) STORED,
    UNIQUE (region_id, id)
);
CREATE TABLE visits (place_id bigint, region_id int, visitors int NOT NULL CHECK (visitors >= 0),
    capacity int NOT NULL, CHECK (visitors <= capacity),
    FOREIGN KEY (region_id, place_id) REFERENCES places (region_id, id), PRIMARY KEY (place_id, region_id));
CREATE TABLE impossible (id int PRIMARY KEY, code text NOT NULL CHECK (md5(code) = 'never'));
"""


def _rows(db: Database, query: str) -> list[tuple[Any, ...]]:
    with db.connect() as conn:
        return conn.execute(query).fetchall()


def test_seeds_every_type_and_reports_what_it_cannot(fresh_db: Database) -> None:
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute(SCHEMA)
    engine = create_engine(sqlalchemy_url(fresh_db.dsn), poolclass=pool.NullPool)
    try:
        specs = reflect(engine)
    finally:
        engine.dispose()
    names = [s.name for s in specs]
    assert names.index("regions") < names.index("places") < names.index("visits")  # FK order
    with fresh_db.connect() as conn:
        report = Seeder(seed=7, rows_per_table=8).seed(conn, specs)
    assert report.inserted["regions"] == report.inserted["places"] == 8
    assert report.inserted["visits"] >= 6  # random (place, region) pairs can collide on the key
    assert report.inserted["impossible"] == 0
    (short,) = [s for s in report.shortfalls if s.table == "impossible"]
    assert "check constraint" in short.reason
    (row,) = _rows(fresh_db, """SELECT count(*) FILTER (WHERE area <> trunc(area)),
        count(*) FILTER (WHERE name ~ '[^[:ascii:]]'), count(DISTINCT length(name)),
        count(*) FILTER (WHERE vector_dims(embedding) = 4), count(*) FILTER (WHERE share IS NULL),
        count(*) FILTER (WHERE share IS NOT NULL), count(*) FILTER (WHERE jsonb_typeof(attrs) = 'object'),
        count(*) FROM places""")
    fractional, non_ascii, lengths, dims_ok, nulls, values, objects, total = row
    assert fractional == total and non_ascii > 0 and lengths > 2 and dims_ok == total
    assert nulls > 0 and values > 0 and objects == total
    (bad,) = _rows(fresh_db, "SELECT count(*) FROM visits v LEFT JOIN places p "
                             "ON p.id = v.place_id AND p.region_id = v.region_id WHERE p.id IS NULL")
    assert bad == (0,)


def test_edge_rows_are_the_same_for_every_seed(fresh_db: Database) -> None:
    """Rows 0 and 1 of every table are fixed: full lengths, full precision, NULLs, empties, both ends of time."""
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute(SCHEMA)
    engine = create_engine(sqlalchemy_url(fresh_db.dsn), poolclass=pool.NullPool)
    try:
        specs = [s for s in reflect(engine) if s.name in ("regions", "places")]
    finally:
        engine.dispose()
    seen = []
    for seed in (1, 2):
        with fresh_db.connect() as conn:
            Seeder(seed=seed, rows_per_table=4).seed(conn, specs)
            high, low = conn.execute(
                "SELECT id, length(short), area::text, founded, seen_at = '9999-12-31 23:59:59.999999+00', attrs, "
                "tags, share, raw IS NULL, scores, name FROM places ORDER BY id LIMIT 2").fetchall()
            code_lengths = conn.execute("SELECT DISTINCT length(code) FROM regions").fetchall()
            conn.execute("TRUNCATE places, regions CASCADE")
            conn.commit()
        assert high[0] > 2**31  # bigint identity key past what int4 holds, after a gap
        assert high[1] == 3 and high[2] == "8888888.888" and high[3].year == 9999 and high[4] is True
        assert "'" in high[10] and "\\" in high[10] and "東京" in high[10]
        assert low[3:6] == (None, False, {}) and low[6] == [] and low[7:10] == (None, True, None)
        assert (5,) in code_lengths  # varchar(5): a value of exactly five characters
        seen.append((high[1:], low[1:]))
    assert seen[0] == seen[1]
