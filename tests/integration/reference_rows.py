"""Catalog snapshots and minimal valid rows of the reference schema, shared by the schema and integrity tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg

from harness import alembic_project
from harness.db import Database, ServerHandle

DIM = 384

# Catalog queries describing everything of ours in `public`; objects owned by an extension are left out.
NOT_EXTENSION = ("NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')")
SNAPSHOT_QUERIES = {
    "relations": "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE n.nspname = 'public' AND " + NOT_EXTENSION.format(oid="c.oid"),
    "columns": "SELECT c.relname, a.attname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), "
               "format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid) "
               "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
               "JOIN pg_namespace n ON n.oid = c.relnamespace "
               "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
               "WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped",
    "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE connamespace = 'public'::regnamespace",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "triggers": "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal",
    "functions": "SELECT p.proname, pg_get_function_identity_arguments(p.oid), md5(p.prosrc) FROM pg_proc p "
                 "WHERE p.pronamespace = 'public'::regnamespace AND " + NOT_EXTENSION.format(oid="p.oid"),
    "types": "SELECT t.typname FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace "
             "AND t.typrelid = 0 AND t.typelem = 0 AND " + NOT_EXTENSION.format(oid="t.oid"),
    "extensions": "SELECT extname, obj_description(oid, 'pg_extension') FROM pg_extension",
}


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every object of ours by kind, sorted; Alembic's own alembic_version table is left out."""
    with db.connect() as conn:
        return {k: sorted((r for r in conn.execute(q) if not any("alembic_version" in str(v) for v in r)), key=repr)
                for k, q in SNAPSHOT_QUERIES.items()}


@contextmanager
def head_database(server: ServerHandle, prefix: str = "h") -> Iterator[Database]:
    """A database of its own migrated to head (for module-scoped fixtures), dropped after."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    server.create_database(name)
    db = Database(server.database_dsn(name), name, server, disposable=True)
    try:
        alembic_project.upgrade(db, "head")
        yield db
    finally:
        server.drop_database(name)


def vector_text(values: Any) -> str:
    """pgvector's text form of a sequence of floats."""
    return "[" + ",".join(f"{float(v):.6g}" for v in values) + "]"


def unit_vector(seed: int, dim: int = DIM) -> str:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=dim)
    return vector_text(v / np.linalg.norm(v))


def seed_rows(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """One valid row per table a test needs as a parent; returns their ids by table."""
    ids: dict[str, int] = {}

    def one(key: str, query: str, params: tuple[Any, ...]) -> None:
        row = conn.execute(query, params).fetchone()
        assert row is not None
        ids[key] = int(row[0])

    one("constituency", "INSERT INTO constituencies (code, name, region) VALUES (%s, %s, %s) RETURNING id",
        ("C01", "Central", "North"))
    one("ward", "INSERT INTO wards (constituency_id, code, name, population, electorate, area_km2) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id", (ids["constituency"], "W01", "Riverside", 12000, 9000, 4.5))
    one("other_ward", "INSERT INTO wards (constituency_id, code, name, population, electorate, area_km2) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id", (ids["constituency"], "W02", "Hillside", 8000, 6000, 3.1))
    one("party", "INSERT INTO parties (code, name, colour) VALUES (%s, %s, %s) RETURNING id",
        ("GRN", "Green", "#00AA44"))
    one("candidate", "INSERT INTO candidates (party_id, ward_id, given_name, family_name) "
        "VALUES (%s, %s, %s, %s) RETURNING id", (ids["party"], ids["ward"], "Ada", "Lovelace"))
    one("election", "INSERT INTO elections (name, election_date, kind) VALUES (%s, %s, %s) RETURNING id",
        ("Local 2024", "2024-05-02", "local"))
    one("source", "INSERT INTO content_sources (kind, name, url) VALUES (%s, %s, %s) RETURNING id",
        ("news", "Gazette", "https://gazette.example/"))
    one("post", "INSERT INTO posts (source_id, ward_id, title, body, topic, published_at) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (ids["source"], ids["ward"], "Bins", "Collections move to Tuesday", "services", "2025-01-10T09:00Z"))
    one("ai_model", "INSERT INTO ai_models (provider, name, version) VALUES (%s, %s, %s) RETURNING id",
        ("gemini", "gemini-pro", "1.5"))
    one("experiment", "INSERT INTO experiments (name, ai_model_id, config) VALUES (%s, %s, %s) RETURNING id",
        ("baseline", ids["ai_model"], '{"temperature": 0.2}'))
    return ids


def valid_rows(ids: dict[str, int]) -> dict[str, dict[str, Any]]:
    """One new valid row per table of the head schema, not colliding with `seed_rows`' rows."""
    return {
        "constituencies": {"code": "C99", "name": "Outer", "region": "South"},
        "wards": {"constituency_id": ids["constituency"], "code": "W99", "name": "Docklands", "population": 10,
                  "electorate": 8, "area_km2": 1.25},
        "parties": {"code": "P99", "name": "Civic", "colour": "#123abc"},
        "candidates": {"party_id": ids["party"], "ward_id": ids["ward"], "given_name": "Grace",
                       "family_name": "Hopper"},
        "elections": {"name": "General 2029", "election_date": "2029-05-03", "kind": "general"},
        "ward_results": {"election_id": ids["election"], "ward_id": ids["ward"], "candidate_id": ids["candidate"],
                         "votes": 10},
        "ward_turnout": {"election_id": ids["election"], "ward_id": ids["ward"], "registered": 100,
                         "ballots_cast": 60},
        "content_sources": {"kind": "blog", "name": "Notes", "url": "https://blog.example/"},
        "posts": {"source_id": ids["source"], "ward_id": ids["ward"], "title": "Park", "body": "New benches",
                  "topic": "parks", "published_at": "2025-02-01T10:00Z"},
        "sentiment_scores": {"post_id": ids["post"], "score": 0.5, "model": "sent-v1"},
        "post_embeddings": {"post_id": ids["post"], "embedding": unit_vector(1)},
        # Derived (revision 016): tests write the embedding row first and clear what its trigger copied.
        "post_embedding_bits": {"post_id": ids["post"], "ward_id": ids["ward"], "published_at": "2025-01-10T09:00Z",
                                "bits": "1" * 384},
        "ai_models": {"provider": "perplexity", "name": "sonar", "version": "2024-11"},
        "experiments": {"name": "prompt-v2", "ai_model_id": ids["ai_model"], "config": '{"k": 5}'},
        "ai_reports": {"ward_id": ids["ward"], "ai_model_id": ids["ai_model"], "experiment_id": ids["experiment"],
                       "title": "Ward brief", "body": "Summary", "generated_at": "2025-03-01T00:00Z",
                       "embedding": unit_vector(2)},
        "audit_log": {"table_name": "ward_results", "op": "INSERT", "old_row": None, "new_row": "{}"},
        # Every allowed table already has a policy; tests free the 'posts' slot before inserting this one.
        "retention_policies": {"table_name": "posts", "time_column": "published_at", "keep_days": 30,
                               "description": "short"},
    }


def insert_row(conn: psycopg.Connection[Any], table: str, row: dict[str, Any]) -> None:
    from psycopg import sql

    query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, row)),
        sql.SQL(", ").join(sql.Placeholder() * len(row)))
    conn.execute(query, tuple(row.values()))
